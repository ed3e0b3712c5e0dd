#!/usr/bin/env bash
# Abuse under load (issue 11, item 2; issue 18, items 1, 2 and 6): legitimate traffic from
# 127.0.0.1 — admission reviews (the Deployment review, allowed) at LEGIT connections and oslo.policy
# checks (a compliant project, `True`) at 2 — alone, then while an attacker on 127.0.0.2 (another
# peer, as an attacking pod and the API server differ) runs, in turn:
#   idle:  IDLE TCP sockets that never send a byte (no TLS handshake), reopened when closed;
#   slow:  SLOW TLS connections trickling the bodies of /openstack and /v1/decide requests;
#   large: LARGE connections posting ~1.4 MB requests (a 100,000-element set in `context`) to
#          /v1/decide as fast as they can;
#   all:   the three at once;
#   trickle: TRICKLE TLS connections from 8 addresses (127.0.0.2-127.0.0.9, each within its share
#          of 64) trickling the bodies of /validate requests, a byte a second (together they can
#          hold every connection; no per-peer body rate applies to admission).
# PHASES chooses the attacked phases (default: idle slow large all trickle); the unattacked
# phase runs before and after them.
# Loopback only, every phase bounded by DURATION and every attack by its connection count.
# Goal: zero legitimate failures (a review not `allowed: true`, a check not `True`, a socket
# error), admission p99 within 2x of the unattacked p99.
#
#   apt-get install -y wrk curl python3
#   tests/bench/abuse.sh        # LEGIT=8 IDLE=512 SLOW=40 LARGE=80 TRICKLE=512 DURATION=20s
source "$(dirname "$0")/server.sh"
LEGIT=${LEGIT:-8}
IDLE=${IDLE:-512}
SLOW=${SLOW:-40}
LARGE=${LARGE:-80}
TRICKLE=${TRICKLE:-512}
PHASES=${PHASES:-idle slow large all trickle}
DURATION=${DURATION:-20s}
export REVIEW=${REVIEW:-tests/kubernetes/deployment-allow.json}
ATTACK=$work/attack.json
python3 - "$ATTACK" "$work" <<'PY'
import json, sys, urllib.parse
request = {
    "principal": {"type": "Cloud::Tenant", "id": "shop-example"},
    "action": "provision_workload",
    "resource": {"uid": {"type": "Cloud::Workload", "id": "w"},
                 "attrs": {"region": {"type": "Cloud::Region", "id": "cn-north-1"}, "purpose": "website",
                           "owner": {"type": "Cloud::Tenant", "id": "shop-example"},
                           "privileged": False, "host_access": False}, "parents": []},
    "context": {"tags": ["tag-%06d" % i for i in range(100000)]},
}
open(sys.argv[1], "w").write(json.dumps(request))
form = urllib.parse.urlencode({
    "rule": json.dumps("os_compute_api:servers:create"),
    "target": json.dumps({"project_id": "shop-example", "availability_zone": "nova", "id": "vm-1"}),
    "credentials": json.dumps({"project_id": "shop-example", "roles": ["member"]}),
})
open(sys.argv[2] + "/openstack.form", "w").write(form)
PY
echo "large body: $(wc -c < "$ATTACK") bytes; legitimate: $REVIEW at $LEGIT connections, oslo.policy checks at 2; $DURATION each"
secs=${DURATION%s}

# Legitimate traffic for one phase, the wrk runs at once, their summary lines: reviews on kept-alive
# connections, reviews each on a new connection (as an API server opening connections as its load
# grows: a refused connection is a failed review), oslo.policy checks.
legit() {
  wrk -t1 -c2 -d"$DURATION" -s tests/bench/legit-openstack.lua "$url/openstack" > "$work/openstack.out" &
  local openstack=$!
  wrk -t1 -c2 -d"$DURATION" -H "Connection: close" -s tests/bench/legit.lua "$url/validate" > "$work/new.out" &
  local new=$!
  wrk -t1 -c"$LEGIT" -d"$DURATION" -s tests/bench/legit.lua "$url/validate" | grep answered | sed 's/^/  admission: /'
  wait "$openstack" "$new"
  grep answered "$work/new.out" | sed 's/^/  admission, new connections: /'
  grep answered "$work/openstack.out" | sed 's/^/  openstack: /'
}

# One phase: the attacks named, started 1 s before the legitimate traffic and stopping with it.
phase() {
  echo "== $1 (load $(cut -d' ' -f1-3 /proc/loadavg))"
  shift
  local pids=()
  for attack in "$@"; do
    case $attack in
      idle) python3 tests/bench/attack.py idle "$PORT" "$IDLE" $((secs + 2)) > "$work/idle.out" & ;;
      slow) python3 tests/bench/attack.py slow "$PORT" "$SLOW" $((secs + 2)) > "$work/slow.out" & ;;
      large) python3 tests/bench/attack.py large "$PORT" "$LARGE" $((secs + 2)) "$ATTACK" > "$work/large.out" & ;;
      trickle) python3 tests/bench/attack.py trickle "$PORT" "$TRICKLE" $((secs + 2)) 8 > "$work/trickle.out" & ;;
    esac
    pids+=($!)
  done
  [ $# -gt 0 ] && sleep 1
  legit
  for pid in "${pids[@]}"; do wait "$pid"; done
  for attack in "$@"; do sed 's/^/  attacker /' "$work/$attack.out"; done
  echo "  server log: $(grep -c '"WARN"' "$work/serve.log" || true) WARN lines so far; RSS $(rss)"
  # What the WARN lines said, by their first words.
  grep '"WARN"' "$work/serve.log" | sed -E 's/.*"message":"([^0-9(:]{1,60}).*/\1/' | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /' || true
}

wrk -t1 -c"$LEGIT" -d3s -s tests/bench/legit.lua "$url/validate" > /dev/null
phase "legitimate traffic alone"
for p in $PHASES; do
  case $p in
    idle) phase "with idle sockets" idle ;;
    slow) phase "with trickled bodies" slow ;;
    large) phase "with large bodies" large ;;
    all) phase "with all three" idle slow large ;;
    trickle) phase "with /validate bodies trickled from 8 addresses" trickle ;;
    *) echo "unknown phase \`$p\`: idle, slow, large, all or trickle" >&2; exit 2 ;;
  esac
done
phase "legitimate traffic alone, after" 
