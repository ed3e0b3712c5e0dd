#!/usr/bin/env bash
# Runs the golden cases through a yungui policy component in Node (jco) and Python (wasmtime-py),
# and the oslo.policy check's test. From the repository root:
#
#   examples/run-hosts.sh [CASES...]
#
# Needs Node 20+ with npm and Python 3.11+ with venv and pip, and network to npm and PyPI. The
# component is $YUNGUI_PLUGIN_WASM, else the shipped policies built with
# `yungui build -o target/yungui-policies.wasm` ($YUNGUI_BIN, else target/debug/yungui). CASES
# (files or folders) default to tests/cases. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${YUNGUI_PLUGIN_WASM:-}" ]; then
  yungui="${YUNGUI_BIN:-$root/target/debug/yungui}"
  wasm="$root/target/yungui-policies.wasm"
  (cd "$root" && "$yungui" build --policies policies -o "$wasm")
else
  wasm="$YUNGUI_PLUGIN_WASM"
fi
case "$wasm" in /*) ;; *) wasm="$PWD/$wasm" ;; esac
if [ ! -f "$wasm" ]; then
  echo "run-hosts: no component at $wasm" >&2
  exit 2
fi
export YUNGUI_PLUGIN_WASM="$wasm"
python="${PYTHON:-python3}"
cases=()
for c in "$@"; do
  case "$c" in /*) cases+=("$c") ;; *) cases+=("$PWD/$c") ;; esac
done

echo "== node: $(node --version), jco transpile $wasm"
cd "$root/examples/node"
npm ci --no-audit --no-fund
npm run --silent transpile
node run-cases.mjs "${cases[@]}"

echo "== python: $("$python" --version), wasmtime-py"
cd "$root/examples/python"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python run_cases.py "${cases[@]}"
.venv/bin/python -m pytest -q -p no:cacheprovider test_oslo_check.py

echo "== both hosts pass every case"
