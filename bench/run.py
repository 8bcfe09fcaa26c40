"""Run the engine benchmarks, write bench/results/*.json and the table in bench/README.md.

    .venv/bin/python -m bench.run                 # everything (~15 min on 2 cores)
    .venv/bin/python -m bench.run --only telemetry
"""
from __future__ import annotations

import argparse
import json
import sys

from bench import app_vs_standalone
from bench.common import ROOT, RESULTS, run_python, write_result

FRAMEWORKS = ("torch", "jax", "tf")
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"


def telemetry() -> None:
    rows = []
    for framework in FRAMEWORKS:
        print(f"telemetry overhead: {framework}…", file=sys.stderr)
        rows.append(json.loads(run_python(["-m", "bench.telemetry_overhead", "--framework", framework]).strip().splitlines()[-1]))
    write_result("telemetry_overhead", {"goal": "overhead_ratio < 1.01", "results": rows})


def standalone() -> None:
    print("app vs standalone script…", file=sys.stderr)
    sys.argv = [sys.argv[0]]
    rows = app_vs_standalone.main()
    write_result("app_vs_standalone", {"goal": "ratio within 0.97..1.03", "results": rows})


def table() -> str:
    lines = ["| benchmark | framework | figure | goal | met |", "|---|---|---|---|---|"]
    path = RESULTS / "telemetry_overhead.json"
    if path.exists():
        for r in json.loads(path.read_text())["results"]:
            overhead = (r["overhead_ratio"] - 1) * 100
            lines.append(f"| telemetry overhead (convnet train, b={r['batch_size']}) | {r['framework']} | "
                         f"{r['bare_ms_per_step']:.2f} → {r['telemetry_ms_per_step']:.2f} ms/step ({overhead:+.2f} %) | < 1 % | "
                         f"{'yes' if overhead < 1 else 'no'} |")
    path = RESULTS / "app_vs_standalone.json"
    if path.exists():
        for r in json.loads(path.read_text())["results"]:
            diff = (r["ratio"] - 1) * 100
            lines.append(f"| app vs standalone script (convnet train, b=64) | {r['framework']} | "
                         f"{r['app_ms']:.2f} vs {r['standalone_ms']:.2f} ms ({diff:+.2f} %) | within 3 % | "
                         f"{'yes' if abs(diff) <= 3 else 'no'} |")
    return "\n".join(lines)


def update_readme() -> None:
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    readme.write_text(text[:start] + "\n" + table() + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=("telemetry", "standalone"))
    args = parser.parse_args()
    if args.only in (None, "telemetry"):
        telemetry()
    if args.only in (None, "standalone"):
        standalone()
    update_readme()
    print(table())


if __name__ == "__main__":
    main()
