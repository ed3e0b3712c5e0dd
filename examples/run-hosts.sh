#!/usr/bin/env bash
# Runs the golden cases through the yungui component in Node (jco) and Python (wasmtime-py), and
# the oslo.policy check's test. From the repository root:
#
#   examples/run-hosts.sh
#
# Needs Node 20+ with npm and Python 3.11+ with venv and pip, and network to npm and PyPI. The
# component is $YUNGUI_PLUGIN_WASM, else the one `cargo build` makes. Exits non-zero on any
# failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wasm="${YUNGUI_PLUGIN_WASM:-$root/target/wasm/wasm32-wasip2/plugin/yungui_plugin.wasm}"
case "$wasm" in /*) ;; *) wasm="$PWD/$wasm" ;; esac
if [ ! -f "$wasm" ]; then
  echo "run-hosts: no component at $wasm (build it with \`cargo build -p yungui\`, or set YUNGUI_PLUGIN_WASM)" >&2
  exit 2
fi
export YUNGUI_PLUGIN_WASM="$wasm"
python="${PYTHON:-python3}"

echo "== node: $(node --version), jco transpile $wasm"
cd "$root/examples/node"
npm ci --no-audit --no-fund
npm run --silent transpile
node run-cases.mjs

echo "== python: $("$python" --version), wasmtime-py"
cd "$root/examples/python"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python run_cases.py
.venv/bin/python -m pytest -q -p no:cacheprovider test_oslo_check.py

echo "== both hosts pass every case"
