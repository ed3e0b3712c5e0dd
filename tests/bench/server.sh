# Sourced by the bench scripts: builds the release binary, makes certificates, starts
# `yungui serve` over HTTPS on loopback with the decision log on (to "$work/serve.log"), waits until
# it is ready, and stops it on exit. Extra `serve` options: SERVE_ARGS. YUNGUI_BIN: a binary
# already built (another commit's, to compare) instead of building this one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export BENCH_DIR=tests/bench
PORT=${PORT:-18643}
WORKERS=${WORKERS:-$(( $(nproc) * 4 ))}
if [ -n "${YUNGUI_BIN:-}" ]; then
  bin=$YUNGUI_BIN
else
  cargo build --release -p yungui --quiet
  bin=${CARGO_TARGET_DIR:-target}/release/yungui
fi
work=$(mktemp -d)
export WORK=$work
"$bin" cert --out "$work" --dns localhost 127.0.0.1 > /dev/null 2>&1
cp examples/registry.json "$work/registry.json"
# shellcheck disable=SC2086
"$bin" serve --listen "127.0.0.1:$PORT" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
  --registry "$work/registry.json" --workers "$WORKERS" --log-json ${SERVE_ARGS:-} 2> "$work/serve.log" &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
url="https://127.0.0.1:$PORT"
for _ in $(seq 1 600); do
  curl -sf --cacert "$work/ca.crt" "$url/readyz" > /dev/null && break
  sleep 0.1
done
curl -sf --cacert "$work/ca.crt" "$url/readyz" > /dev/null || { echo "the server is not ready:" >&2; tail -n 5 "$work/serve.log" >&2; exit 1; }
rss() { grep -E '^VmRSS' "/proc/$server/status" | awk '{print $2 " kB"}'; }
log_lines() { grep -c '"yungui::decision"' "$work/serve.log" || true; }
echo "yungui serve --workers $WORKERS; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
