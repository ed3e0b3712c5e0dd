#!/usr/bin/env bash
# Abuse under load (issue 11, item 2): legitimate admission reviews (the Deployment review,
# allowed) at LEGIT connections, alone, then with ATTACKERS connections posting ~1 MB requests
# (a 100,000-element set in `context`) to /v1/decide. Loopback only, bounded by DURATION.
# Goal: zero legitimate failures (an answer that is not `allowed: true`), p99 within 2x.
#
#   apt-get install -y wrk curl
#   tests/bench/abuse.sh                      # LEGIT=8 ATTACKERS=80 DURATION=20s
source "$(dirname "$0")/server.sh"
LEGIT=${LEGIT:-8}
ATTACKERS=${ATTACKERS:-80}
DURATION=${DURATION:-20s}
export REVIEW=${REVIEW:-tests/kubernetes/deployment-allow.json}
export ATTACK=$work/attack.json
python3 - "$ATTACK" <<'PY'
import json, sys
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
PY
echo "attack body: $(wc -c < "$ATTACK") bytes; legitimate: $REVIEW, $LEGIT connections; $DURATION each"

wrk -t1 -c"$LEGIT" -d3s -s tests/bench/legit.lua "$url/validate" > /dev/null
echo "== legitimate reviews alone"
wrk -t1 -c"$LEGIT" -d"$DURATION" -s tests/bench/legit.lua "$url/validate" | grep answered
echo "== legitimate reviews with $ATTACKERS attackers on /v1/decide"
wrk -t1 -c"$ATTACKERS" -d"$DURATION" --timeout 10s -s tests/bench/attack.lua "$url/v1/decide" > "$work/attack.out" &
attack=$!
sleep 1
wrk -t1 -c"$LEGIT" -d"$DURATION" -s tests/bench/legit.lua "$url/validate" | grep answered
wait "$attack"
echo "attackers: $(grep answered "$work/attack.out")"
echo "server RSS after: $(rss)"
