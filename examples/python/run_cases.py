"""Runs every golden case (tests/cases/**/*.json) through the component and checks each outcome
the way `yungui test` does (host/engine/src/cases.rs). Prints `pass FILE` or `FAIL FILE: why` per case
and `N passed, M failed`; exits 1 on any failure.

    python run_cases.py [CASES_DIR_OR_FILE...]      (default: tests/cases)

YUNGUI_PLUGIN_WASM names the component; YUNGUI_TIMINGS=1 prints timings on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from yungui_host import ROOT, Plugin, Registry


def discover(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out.extend(p.rglob("*.json") if p.is_dir() else [p])
    return sorted(out)


def check(expect: dict, report: dict) -> list[str]:
    problems = []
    decision = expect.get("decision")
    if decision not in ("allow", "deny", "error"):
        problems.append(f"expect.decision must be allow, deny or error, not {decision!r}")
    elif decision != report["decision"]:
        problems.append(f"expected {decision}, got {report['decision']}")
    want = set(expect.get("denials", []))
    got = {f["control"] for f in report["denials"]}
    if got != want:
        problems.append(f"denials: expected {sorted(want)}, got {sorted(got)}")
    if expect.get("warnings") is not None:
        want_w = set(expect["warnings"])
        got_w = {f["control"] for f in report["warnings"]}
        if got_w != want_w:
            problems.append(f"warnings: expected {sorted(want_w)}, got {sorted(got_w)}")
    err = report.get("error")
    if expect.get("error") is not None and err and expect["error"] != err["kind"]:
        problems.append(f"error: expected {expect['error']}, got {err['kind']}")
    if problems and err:
        problems.append(f"the component said ({err['kind']}): {err['message']}")
    return problems


def main(argv: list[str]) -> int:
    t0 = time.perf_counter()
    plugin = Plugin.load()
    load_s = time.perf_counter() - t0

    files = discover([Path(a).resolve() for a in argv] or [ROOT / "tests/cases"])
    registries: dict[Path, Registry] = {}

    def registry_for(case_file: Path, case: dict) -> Registry:
        if case.get("registry") is not None:
            path = (case_file.parent / case["registry"]).resolve()
            if path not in registries:
                registries[path] = Registry.from_file(path)
            base = registries[path]
        else:
            base = Registry.from_list([])
        return base.overlay(case["entities"]) if case.get("entities") else base

    passed = failed = 0
    call_s: list[float] = []
    for file in files:
        name = os.path.relpath(file, ROOT)
        try:
            case = json.loads(file.read_text(encoding="utf-8"))
            registry = registry_for(file, case)
            request = json.dumps(case["request"], ensure_ascii=False)
            t = time.perf_counter()
            report = plugin.decide_json(request, registry)
            call_s.append(time.perf_counter() - t)
            problems = check(case.get("expect") or {}, report)
        except Exception as err:  # an unreadable case fails, the run goes on
            problems = [f"{type(err).__name__}: {err}"]
        if problems:
            failed += 1
            print(f"FAIL {name}: {'; '.join(problems)}")
        else:
            passed += 1
            print(f"pass {name}")

    if os.environ.get("YUNGUI_TIMINGS") and call_s:
        rest = sorted(call_s[1:]) or [0.0]
        print(
            f"timings: load+compile {load_s * 1e3:.1f} ms, first call {call_s[0] * 1e3:.1f} ms, "
            f"then over {len(call_s) - 1} calls mean {sum(rest) / len(rest) * 1e3:.2f} ms, "
            f"median {rest[len(rest) // 2] * 1e3:.2f} ms, max {rest[-1] * 1e3:.2f} ms",
            file=sys.stderr,
        )
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
