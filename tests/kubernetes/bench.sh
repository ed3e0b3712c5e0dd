#!/usr/bin/env bash
# AdmissionReview throughput and latency over HTTPS on loopback, with wrk (keep-alive).
#
#   apt-get install -y wrk
#   tests/kubernetes/bench.sh                       # 64 connections, 30 s, the Deployment review
#   CONNECTIONS=64 DURATION=30s WORKERS=4 REVIEW=tests/kubernetes/pvc-allow.json tests/kubernetes/bench.sh
#
# Builds the release binary, makes certificates with `yungui cert`, starts `yungui serve` (decision
# log on, to a file), checks the review is allowed, runs wrk, and prints the server's RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-30s}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-4}
PORT=${PORT:-18443}
export REVIEW=${REVIEW:-tests/kubernetes/deployment-allow.json}

cargo build --release -p yungui --quiet
bin=${CARGO_TARGET_DIR:-target}/release/yungui
work=$(mktemp -d)
"$bin" cert --out "$work" --dns localhost 127.0.0.1 > /dev/null 2>&1
"$bin" serve --listen "127.0.0.1:$PORT" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
  --registry examples/registry.json --workers "$WORKERS" --log-json 2> "$work/serve.log" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT

url="https://127.0.0.1:$PORT"
for _ in $(seq 1 200); do
  curl -sf --cacert "$work/ca.crt" "$url/readyz" > /dev/null && break
  sleep 0.1
done
answer=$(curl -sf --cacert "$work/ca.crt" -H 'Content-Type: application/json' \
  --data-binary @"$REVIEW" "$url/validate")
echo "$answer" | grep -q '"allowed":true' || { echo "the review is not allowed: $answer" >&2; exit 1; }
echo "review: $REVIEW ($(wc -c < "$REVIEW") bytes); wrk -t$THREADS -c$CONNECTIONS -d$DURATION; server --workers $WORKERS; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

# Warm-up, then the measured run.
wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s tests/kubernetes/review.lua "$url/validate" > /dev/null
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s tests/kubernetes/review.lua "$url/validate"

grep -E '^(VmRSS|VmHWM)' "/proc/$server/status"
echo "decision log lines: $(grep -c '"yungui::decision"' "$work/serve.log")"
