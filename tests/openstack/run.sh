#!/usr/bin/env bash
# The real oslo.policy client against `yungui serve`, over plain HTTP and over HTTPS with a client
# certificate. Builds nothing: uses ${YUNGUI_BIN:-target/debug/yungui} (`cargo build -p yungui`).
# Exits non-zero when a test fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
bin="${YUNGUI_BIN:-target/debug/yungui}"
if [ ! -x "$bin" ]; then
  echo "run.sh: no yungui binary at \`$bin\`: run \`cargo build -p yungui\` or set YUNGUI_BIN" >&2
  exit 2
fi

# The virtualenv, rebuilt when requirements.txt changes.
venv="$here/.venv"
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate.
pki="$tmp/pki"
mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=yungui test CA" \
    -keyout ca.key -out ca.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=nova-api" \
    -keyout client.key -out client.csr 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > client.ext
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile client.ext -out client.crt 2>/dev/null
)

# Starts `yungui serve` on a free loopback port (the server picks it) and sets `addr` once the
# component is loaded. Not in a subshell, so the pid is remembered and stopped on exit.
start() {
  local name="$1"
  shift
  local log="$tmp/$name.log"
  "$bin" serve --listen 127.0.0.1:0 --registry examples/registry.json "$@" >"$log" 2>&1 &
  local pid="$!"
  pids+=("$pid")
  addr=""
  for _ in $(seq 1 600); do
    addr="$(sed -n 's/^yungui: listening on //p' "$log" | head -n 1)"
    if [ -n "$addr" ] && grep -q "loaded; ready" "$log"; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "run.sh: \`yungui serve $*\` did not become ready:" >&2
  cat "$log" >&2
  return 1
}

start plain --plain-http
plain="$addr"
start secure --tls-cert "$pki/server.crt" --tls-key "$pki/server.key" --client-ca "$pki/ca.crt"
secure="$addr"

export YUNGUI_HTTP_URL="http://$plain/openstack"
export YUNGUI_HTTPS_URL="https://$secure/openstack"
export YUNGUI_HTTP_LOG="$tmp/plain.log"
export YUNGUI_HTTPS_LOG="$tmp/secure.log"
export YUNGUI_PKI="$pki"
export YUNGUI_README="$root/README.md"

status=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$here/test_oslo.py" "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- plain server log" >&2; tail -n 40 "$tmp/plain.log" >&2
  echo "--- https server log" >&2; tail -n 40 "$tmp/secure.log" >&2
fi
exit "$status"
