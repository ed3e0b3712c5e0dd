#!/usr/bin/env bash
# Soak with accounting (issue 11): mixed decisions over /v1/decide, /validate and /openstack in
# turn at CONNECTIONS (32), for DURATION, with the registry file rewritten every 2 s (the server
# reloads it, --registry-watch-secs 1). Then: decision-log lines against answers, 5xx count, and
# the server's RSS before and after. Loopback only, bounded by DURATION.
#
#   apt-get install -y wrk curl
#   tests/bench/soak.sh                       # CONNECTIONS=32 DURATION=150s
SERVE_ARGS="--registry-watch-secs 1" source "$(dirname "$0")/server.sh"
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-150s}
export REVIEW=${REVIEW:-tests/kubernetes/deployment-allow.json}
python3 - "$work" <<'PY'
import json, sys, urllib.parse
work = sys.argv[1]
api = {
    "principal": {"type": "Cloud::Tenant", "id": "shop-example"},
    "action": "provision_workload",
    "resource": {"uid": {"type": "Cloud::Workload", "id": "w"},
                 "attrs": {"region": {"type": "Cloud::Region", "id": "cn-north-1"}, "purpose": "website",
                           "owner": {"type": "Cloud::Tenant", "id": "shop-example"},
                           "privileged": False, "host_access": False}, "parents": []},
}
open(work + "/api.json", "w").write(json.dumps(api))
form = urllib.parse.urlencode({
    "rule": json.dumps("os_compute_api:servers:create"),
    "target": json.dumps({"project_id": "shop-example", "availability_zone": "nova", "id": "vm-1"}),
    "credentials": json.dumps({"project_id": "shop-example", "roles": ["member"]}),
})
open(work + "/openstack.form", "w").write(form)
PY
wrk -t2 -c"$CONNECTIONS" -d5s -s tests/bench/soak.lua "$url" > /dev/null
before_rss=$(rss)
before_lines=$(log_lines)
# Registry reloads during the run: the same entities, written anew (a new generation each time).
(
  end=$(( $(date +%s) + ${DURATION%s} ))
  while [ "$(date +%s)" -lt "$end" ]; do
    sleep 2
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); json.dump(d, open(sys.argv[1]+'.new','w'), indent=(int(__import__('time').time())%2) or None)" "$work/registry.json"
    mv "$work/registry.json.new" "$work/registry.json"
  done
) &
reloader=$!
# RSS every 30 s: growth shows as a climb, not as one step at the start.
( for _ in $(seq 1 $(( ${DURATION%s} / 30 ))); do sleep 30; printf '%s ' "$(rss)"; done > "$work/rss.samples" ) &
sampler=$!
echo "== soak: $CONNECTIONS connections, $DURATION, three front ends in turn, registry rewritten every 2 s"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s tests/bench/soak.lua "$url" | tee "$work/soak.out" | grep answered
wait "$reloader" || true
wait "$sampler" || true
sleep 1
after_lines=$(log_lines)
answered=$(grep -o 'answered [0-9]*' "$work/soak.out" | awk '{print $2}')
echo "decision-log lines during the run: $(( after_lines - before_lines )); answers counted by wrk: $answered (wrk stops with up to $CONNECTIONS requests in flight)"
echo "registry reloads: $(grep -c 'registry reloaded' "$work/serve.log" || true)"
echo "RSS before: $before_rss; every 30 s: $(cat "$work/rss.samples"); after: $(rss)"
