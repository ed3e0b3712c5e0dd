#!/usr/bin/env bash
# A component swap under a steady load (issue 9): legitimate admission reviews (the Deployment
# review, allowed) at CONNECTIONS connections for DURATION, first with no swap, then while the
# component file is replaced every few seconds (alternating the shipped policies and an edited
# copy with tests/edit/edit-probe.cedar). Every answer must be `allowed: true`; the p99 of the two
# runs side by side. Loopback only, bounded by DURATION.
#
#   apt-get install -y wrk curl
#   tests/bench/swap.sh                      # CONNECTIONS=16 DURATION=20s SWAPS=4
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cargo build --release -p yungui --quiet
bin=${CARGO_TARGET_DIR:-target}/release/yungui
components=$(mktemp -d)
cp -r policies "$components/edited"
cp tests/edit/edit-probe.cedar "$components/edited/"
"$bin" build --policies policies -o "$components/shipped.wasm" > /dev/null
"$bin" build --policies "$components/edited" -o "$components/edited.wasm" > /dev/null
cp "$components/shipped.wasm" "$components/policies.wasm"
export SERVE_ARGS="--plugin $components/policies.wasm --plugin-watch-secs 1"
source tests/bench/server.sh
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-20}
SWAPS=${SWAPS:-4}
export REVIEW=${REVIEW:-tests/kubernetes/deployment-allow.json}
wrk -t1 -c"$CONNECTIONS" -d3s -s tests/bench/legit.lua "$url/validate" > /dev/null
echo "== no swap: $CONNECTIONS connections, ${DURATION}s"
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s tests/bench/legit.lua "$url/validate" | grep -E "answered|99%"
echo "== $SWAPS swaps during the run"
(
  for i in $(seq 1 "$SWAPS"); do
    sleep $(( DURATION / (SWAPS + 1) ))
    if [ $(( i % 2 )) -eq 1 ]; then next=edited; else next=shipped; fi
    cp "$components/$next.wasm" "$components/policies.wasm.new"
    mv "$components/policies.wasm.new" "$components/policies.wasm"
  done
) &
swapper=$!
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s tests/bench/legit.lua "$url/validate" | grep -E "answered|99%"
wait "$swapper"
echo "component loads: $(curl -sf --cacert "$WORK/ca.crt" "$url/metrics" | grep '^yungui_component_loads_total')"
echo "in force: $(curl -sf --cacert "$WORK/ca.crt" "$url/readyz" | head -1)"
rm -rf "$components"
