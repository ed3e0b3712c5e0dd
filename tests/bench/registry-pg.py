"""Drives two `yungui serve` processes over one registry database (see registry-pg.sh).

    registry-pg.py PG_URL PORT_A PORT_B PID_A PID_B

1. Propagation: ROUNDS times, a tenant both servers have decided (so cached) loses its real-name
   verification in one UPDATE (through a psql kept open); both servers are polled until each
   denies it; the time from sending the UPDATE to the later of the two is recorded (p50, p99,
   max). It includes psql's parse and commit and the polling interval (~1 ms).
2. RSS: the servers' resident memory after deciding DISTINCT tenants never seen (more than the
   cache holds), at steps: bounded by the cache, not by the table.
"""

import http.client
import json
import os
import subprocess
import sys
import threading
import time

url, port_a, port_b, pid_a, pid_b = sys.argv[1:6]
ROUNDS = int(os.environ.get("ROUNDS", "100"))
DISTINCT = int(os.environ.get("DISTINCT", "60000"))
TENANTS = int(os.environ.get("TENANTS", "10000000"))


def request(tenant):
    return json.dumps({
        "principal": {"type": "Cloud::Tenant", "id": tenant},
        "action": "provision_workload",
        "resource": {"uid": {"type": "Cloud::Workload", "id": "web-1"},
                     "attrs": {"region": {"type": "Cloud::Region", "id": "cn-north-1"},
                               "purpose": "website",
                               "owner": {"type": "Cloud::Tenant", "id": tenant},
                               "privileged": False, "host_access": False},
                     "parents": []},
        "context": {}})


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)

    def decide(self, tenant):
        self.conn.request("POST", "/v1/decide", body=request(tenant),
                          headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        return json.loads(r.read())["decision"]


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


a, b = Client(port_a), Client(port_b)
psql = subprocess.Popen(["psql", "-X", "-q", url], stdin=subprocess.PIPE, text=True)
lat = []
for i in range(ROUNDS):
    tenant = f"t{(i * 99991 + 5) % TENANTS}"
    assert a.decide(tenant) == "allow" and b.decide(tenant) == "allow", tenant
    t0 = time.perf_counter()
    psql.stdin.write(
        "UPDATE yungui_registry SET entity = jsonb_set(entity, '{attrs,real_name_verified}', 'false') "
        f"WHERE uid_type = 'Cloud::Tenant' AND uid_id = '{tenant}';\n")
    psql.stdin.flush()
    done = {}
    while len(done) < 2:
        for name, c in (("a", a), ("b", b)):
            if name not in done and c.decide(tenant) == "deny":
                done[name] = time.perf_counter() - t0
        if time.perf_counter() - t0 > 10:
            raise SystemExit(f"round {i}: not in force on both after 10 s: {done}")
    lat.append(max(done.values()))
    # Back as it was, for a later run.
    psql.stdin.write(
        "UPDATE yungui_registry SET entity = jsonb_set(entity, '{attrs,real_name_verified}', 'true') "
        f"WHERE uid_type = 'Cloud::Tenant' AND uid_id = '{tenant}';\n")
    psql.stdin.flush()
psql.stdin.close()
psql.wait()
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1e3
if lat:
    print(f"update in force on both servers ({ROUNDS} rounds): p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1] * 1e3:.1f} ms")

print(f"RSS before the sweep: a {rss(pid_a):.0f} MiB, b {rss(pid_b):.0f} MiB")
lock = threading.Lock()
counter = [0]


def sweep(worker, n_workers, start, stop):
    c = Client(port_a)
    for k in range(start + worker, stop, n_workers):
        c.decide(f"t{(k * 7919 + 11) % TENANTS}")


STEPS = int(os.environ.get("STEPS", "3"))
step = DISTINCT // STEPS
for s in range(STEPS):
    threads = [threading.Thread(target=sweep, args=(w, 4, s * step, (s + 1) * step)) for w in range(4)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"after {(s + 1) * step} distinct tenants on a ({(time.perf_counter() - t0):.0f} s): RSS a {rss(pid_a):.0f} MiB")
