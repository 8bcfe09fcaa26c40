"""Run the benchmarks, write bench/results/*.json and the table in bench/README.md.

    .venv/bin/python -m bench.run                        # everything (~50 min on 2 cores)
    .venv/bin/python -m bench.run --only telemetry standalone
    .venv/bin/python -m bench.run --table                # only rebuild the table from the stored results
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from bench import app_vs_standalone, model_formulations, program_overhead
from bench import executors as executor_bench
from bench.common import RESULTS, ROOT, run_python, write_result

FRAMEWORKS = ("torch", "jax", "tf")
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"
GOAL_EVENTS_PER_S = 1_000_000  # issue 14 item 7: Kineto-shaped Chrome JSON read on one core


def telemetry() -> None:
    rows = []
    for framework in FRAMEWORKS:
        print(f"telemetry overhead: {framework}…", file=sys.stderr)
        rows.append(json.loads(run_python(["-m", "bench.telemetry_overhead", "--framework", framework]).strip().splitlines()[-1]))
    write_result("telemetry_overhead", {"goal": "overhead_ratio < 1.01", "results": rows})


# glibc's malloc returns torch's activation buffers to the kernel every step by default, and how
# often differs from process to process (bench/README.md); with these set for both sides the torch
# row shows the app/script difference without that noise. A diagnostic row, not the goal's.
STEADY_MALLOC = ["--env", "MALLOC_MMAP_THRESHOLD_=268435456", "--env", "MALLOC_TRIM_THRESHOLD_=1073741824"]


def standalone() -> None:
    print("app vs standalone script…", file=sys.stderr)
    results = app_vs_standalone.main([])
    print("app vs standalone script, torch with steady malloc…", file=sys.stderr)
    results += app_vs_standalone.main(["--frameworks", "torch", *STEADY_MALLOC])
    write_result("app_vs_standalone", {"goal": "ratio within 0.97..1.03", "results": results})


def program() -> None:
    print("example programs bare vs under stepscope run…", file=sys.stderr)
    write_result("program_overhead", program_overhead.run([]))


def module(name: str) -> Callable[[], None]:
    """A benchmark module that writes its own result file."""
    def run() -> None:
        print(f"{name}…", file=sys.stderr)
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        run_python(["-m", f"bench.{name}"], timeout=1800)
    return run


BENCHES: dict[str, Callable[[], None]] = {
    "telemetry": telemetry, "standalone": standalone, "session_store": module("session_store"),
    "trace_reader": module("trace_reader"), "gui_startup": module("gui_startup"), "gui_live_plots": module("gui_live_plots"),
    "gui_inspector": module("gui_inspector"), "program": program, "xplane_reader": module("xplane_reader"),
    "formulations": module("model_formulations"), "executors": module("executors"),
}


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _row(bench: str, figure: str, goal: str, met: bool, when: str) -> str:
    return f"| {bench} | {figure} | {goal} | {'yes' if met else '**no**'} | {when} |"


def table() -> str:
    lines = ["| benchmark | figure | goal | met | measured |", "|---|---|---|---|---|"]
    if (r := _load("telemetry_overhead")):
        for x in r["results"]:
            pct = (x["overhead_ratio"] - 1) * 100
            ci = x.get("overhead_ratio_ci95")
            interval = f", 95 % CI {(ci[0] - 1) * 100:+.2f} … {(ci[1] - 1) * 100:+.2f} %" if ci else ""
            figure = (f"{x['bare_ms_per_step']:.2f} → {x['telemetry_ms_per_step']:.2f} ms/step; paired wall-time ratio "
                      f"{pct:+.2f} %{interval}")
            worker = x.get("worker_us_per_step")
            if worker is not None:
                step_us = x["telemetry_ms_per_step"] * 1000
                figure += (f"; CPU cost: worker {worker:.0f} µs/step ({worker / step_us * 100:.2f} %) + controller "
                           f"{x['controller_us_per_step']:.0f} µs/step ({x['controller_us_per_step'] / step_us * 100:.2f} %, "
                           "its own process)")
            # Met: the wall-time estimate is under 1 %, its interval does not exclude that, and the
            # worker's own CPU cost per step (what the interval cannot resolve) is under 1 % too.
            met = pct < 1 and (ci is None or ci[0] < 1.01) and (worker is None or worker / step_us < 0.01)
            lines.append(_row(f"telemetry overhead, {x['framework']} convnet train b={x['batch_size']}", figure, "< 1 %", met,
                              r["machine"]["date"]))
    if (r := _load("app_vs_standalone")):
        for x in r["results"]:
            pct = (x["ratio"] - 1) * 100
            ci = x.get("ratio_ci95")
            interval = f", 95 % CI {(ci[0] - 1) * 100:+.1f} … {(ci[1] - 1) * 100:+.1f} %" if ci else ""
            # Met: the estimate is within 3 % and its interval does not exclude the ±3 % band.
            met = abs(pct) <= 3 and (ci is None or (ci[0] <= 1.03 and ci[1] >= 0.97))
            env = "".join(f", {k}={v}" for k, v in (x.get("env") or {}).items())
            lines.append(_row(f"app vs standalone script, {x['framework']} convnet train b=64{env}",
                              f"{x['app_ms']:.2f} vs {x['standalone_ms']:.2f} ms; ratio {pct:+.2f} % "
                              f"({len(x['app_ms_median_per_round'])} interleaved rounds){interval}", "within 3 %",
                              met, r["machine"]["date"]))
    if (r := _load("program_overhead")):
        for x in r["results"]:
            lines.append(_row(f"example program under `stepscope run` vs bare, {x['example']}.py "
                              f"(steps from {x['step_source'] or 'nothing'})", _program_figure(x), "within 3 %",
                              program_overhead.met(x), r["machine"]["date"]))
    if (r := _load("session_store")):
        reopen, rec = r["reopen"], r["recording"]
        report = reopen.get("report", {})
        lines.append(_row(f"reopen + read a session of {reopen['runs']} runs × {reopen['steps_per_run']:,} steps",
                          f"{reopen['median']['total_s']:.3f} s read; `report` {report.get('report_rows_s', float('nan')):.3f} s "
                          f"in process, {report.get('report_command_s', float('nan')):.2f} s as a command",
                          "< 1 s", report.get("report_command_s", reopen["median"]["total_s"]) < 1, r["machine"]["date"]))
        lines.append(_row("recording cost while a run streams", f"{rec['cost_per_step_us']:.0f} µs/step = "
                          f"{rec['cost_fraction_of_30ms_step'] * 100:.2f} % of a 30 ms convnet step", "< 1 %",
                          rec["cost_fraction_of_30ms_step"] < 0.01, r["machine"]["date"]))
    if (r := _load("trace_reader")):
        lines.append(_row("read a 1,000,000-event Chrome trace; a 2 GB one", _trace_figure(r),
                          "≥ 1 M events/s on one core for every Kineto-shaped read, < 200 B/event kept "
                          "(floor kept so far: ≥ 500 k events/s)", _trace_met(r),
                          r["machine"]["date"]))
    if (r := _load("trace_reader_levers")):
        counts = sorted({x.get("rounds", r["rounds"]) for x in r["levers"].values()})
        rounds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
        lines.append(_row(f"Chrome reader's speed levers, Kineto GPU trace on one core ({rounds} interleaved rounds)",
                          _levers_figure(r["levers"]), "reported, no goal (issue 14 item 7: measure each)", True,
                          r["machine"]["date"]))
    if (r := _load("xplane_reader")):
        x = r["summary"]
        lines.append(_row(f"read a {x['file_bytes'] / 1e9:.2f} GB XPlane directly ({x['events']:,} events)",
                          f"{x['events_per_cpu_s'] / 1e6:.2f} M events per CPU-second, peak RSS growth "
                          f"{x['peak_rss_growth_bytes_per_event']:.0f} B/event; gzipped: "
                          f"{x['gzip_events_per_cpu_s'] / 1e6:.2f} M events/CPU-s, "
                          f"{x['gzip_peak_rss_growth_bytes_per_event']:.0f} B/event",
                          "< 200 B/event kept, no JSON conversion", x["peak_rss_growth_bytes_per_event"] < 200,
                          r["machine"]["date"]))
    if (r := _load("gui_startup")):
        lines.append(_row("`python main.py` to a shown window",
                          f"{r['seconds_median']:.2f} s median, {r['seconds_max']:.2f} s max",
                          "< 1.5 s", r["seconds_median"] < 1.5, r["machine"]["date"]))
    if (r := _load("gui_live_plots")):
        lines.append(_row(f"live plots while ingesting {r['rate_samples_per_s']:,} samples/s for {r['seconds']:.0f} s",
                          f"{r['fps']:.1f} fps, frame median {r['frame_ms_median']:.0f} ms, p95 {r['frame_ms_p95']:.0f} ms",
                          "≥ 30 fps", r["fps"] >= 30, r["machine"]["date"]))
    if (r := _load("gui_inspector")):
        for size in r.get("sizes", [r]):  # one row per trace size (older files hold one size at the top)
            lines.append(_row(f"trace inspector on a {size['events']:,}-event trace", _inspector_figure(size),
                              "first frame < 2 s, ≥ 30 fps", size["first_frame_s"] < 2 and size["fps"] >= 30,
                              size.get("measured", r["machine"]["date"])))  # each size is run apart
    if (r := _load("model_formulations")):
        lines.extend(_row(*row) for row in model_formulations.table_rows(r))
    if (r := _load("executors")):
        lines.extend(_row(*row) for row in executor_bench.table_rows(r))
    return "\n".join(lines)


def _program_figure(x: dict[str, Any]) -> str:
    low, high = x["ratio_ci95"]
    redone = x.get("rounds_redone", [])
    recorded = x["steps_recorded_per_round"] + [r["steps_recorded"] for r in redone]
    steps = (f"{x['steps_expected']:,} steps recorded each round" if x["steps_ok"] else
             f"**steps recorded {recorded}, expected {x['steps_expected']:,}**")
    if redone:
        steps += f"; {len(redone)} round(s) redone (one side > 2× the other: other load)"
    return (f"{x['under_ms']:.2f} vs {x['bare_ms']:.2f} ms/step (own timing, N={x['steps']:,}); ratio "
            f"{(x['ratio'] - 1) * 100:+.1f} % ({x['rounds']} interleaved rounds), 95 % CI {(low - 1) * 100:+.1f} … "
            f"{(high - 1) * 100:+.1f} %; {steps}")


def _inspector_figure(size: dict[str, Any]) -> str:
    figure = (f"first frame {size['first_frame_s']:.2f} s (tabs filled {size['tabs_ready_s']:.1f} s); "
              f"{size['fps']:.0f} fps over {size['frames']} zoom/pan frames, frame median {size['frame_ms_median']:.1f} ms, "
              f"p95 {size['frame_ms_p95']:.1f} ms")
    if "fps_while_analysing" in size:
        figure += f" ({size['fps_while_analysing']:.0f} fps while the tabs compute)"
    if "peak_rss_mb" in size:
        figure += (f"; peak RSS {size['peak_rss_mb']:,} MB, {size['peak_bytes_per_event']:.0f} B/event above the "
                   f"{size['table_mb']:,} MB table ({size['kept_bytes_per_event']:.0f} B/event kept)")
    return figure


LEVER_NAMES = {"float_dur": "dur as a float", "gc_paused": "GC paused", "fixed_width_ts": "fixed-width ts parse",
               "chunk_32k": "32 KiB chunks (vs 128)", "chunk_64k": "64 KiB chunks (vs 128)",
               "chunk_512k": "512 KiB chunks (vs 128)", "round_8m": "8 MiB rounds (vs 2)",
               "scan_chunk_128k": "compiled step's chunks of 128 KiB (vs 1 MiB)",
               "inflate_thread_one_core": "inflating on a thread, gzip, one core",
               "inflate_thread_all_cores": "the same on both cores"}


def _levers_figure(levers: dict[str, Any]) -> str:
    """CPU time with / without each lever (below 1: it helps), 95 % CI; wall time for the inflate thread."""
    parts = []
    for key, label in LEVER_NAMES.items():
        if (x := levers.get(key)):
            which = "wall" if key.startswith("inflate") else "cpu"
            low, high = x[f"{which}_ratio_ci95"]
            parts.append(f"{label} ×{x[f'{which}_ratio_with_over_without']:.3f} {which} (CI {low:.2f} … {high:.2f})")
    return "; ".join(parts)


def _trace_best(r: dict[str, Any]) -> dict[str, Any]:
    best: dict[str, Any] = r["plain_json"]["best"]
    return best


def _one_core(r: dict[str, Any]) -> float:
    """Events per second on one core: the goal's own measure (a second decode process helps only
    when a core is idle, so it cannot be counted on)."""
    one = r["plain_json_one_core"]["best"]
    return float(r["events"] / one["cpu_seconds"]) if one.get("cpu_seconds") else float(one["events_per_s"])


def _trace_figure(r: dict[str, Any]) -> str:
    plain, gz = _trace_best(r), r["gzip_json"]["best"]
    figure = (f"one core {_one_core(r):,.0f} events per CPU-second; {plain['events_per_s']:,.0f} events/s plain (read as "
              f"a stream), {gz['events_per_s']:,.0f} gzipped ({r['decoder']}); table {plain['table_bytes_per_event']:.0f} "
              f"B/event, peak RSS +{plain['rss_peak_during_parse_bytes_per_event']:.0f} B/event")
    if (huge := r.get("huge_kineto")):  # bench/trace_reader.py's ~2 GB Kineto-shaped GPU trace
        big, big_gz = huge["plain"]["best"], huge["gzip"]["best"]
        figure += (f"; a {huge['plain']['file_bytes'] / 1e9:.1f} GB Kineto GPU trace: {big['events']:,} events kept, "
                   f"{big['events_per_cpu_s']:,.0f} per CPU-second, peak RSS +{big['rss_peak_during_parse_bytes_per_event']:.0f} "
                   f"B/event kept (gzipped +{big_gz['rss_peak_during_parse_bytes_per_event']:.0f})")
        if len(huge["plain"].get("seconds_all", [])) > 1:  # best of several reads: their medians beside it
            figure += (f"; medians of {len(huge['plain']['seconds_all'])} reads {huge['plain']['events_per_cpu_s_median']:,.0f} "
                       f"plain, {huge['gzip']['events_per_cpu_s_median']:,.0f} gzipped")
        if "events_in_file_per_cpu_s" in big:  # the flow pairs and metadata too: not the goal's measure, shown beside it
            figure += f"; counting every event in the file, {big['events_in_file_per_cpu_s']:,.0f} per CPU-second"
    if (short := {name: rate for name, rate in _kineto_rates(r).items() if rate < GOAL_EVENTS_PER_S}):
        figure += "; under 1 M per CPU-second: " + ", ".join(f"{name} {rate:,.0f}" for name, rate in short.items())
    return figure


def _kineto_rates(r: dict[str, Any]) -> dict[str, float]:
    """Events per CPU-second (second decode process included) of every Kineto-shaped read the bench makes:
    the goal is each one's, so a fast CPU-op trace cannot stand in for a slow GPU one."""
    def per_cpu_s(best: dict[str, Any]) -> float:
        cpu = best.get("cpu_seconds", 0.0) + best.get("worker_cpu_seconds", 0.0)
        return float(best["events"] / cpu) if cpu else float(best["events_per_s"])

    rates = {"CPU ops": _one_core(r), "CPU ops gzipped": per_cpu_s(r["gzip_json"]["best"])}
    if "plain_json_with_input_dims" in r:
        rates["CPU ops with input shapes"] = per_cpu_s(r["plain_json_with_input_dims"]["best"])
    if (huge := r.get("huge_kineto")):
        rates["2 GB GPU trace"] = per_cpu_s(huge["plain"]["best"])
        rates["2 GB GPU trace gzipped"] = per_cpu_s(huge["gzip"]["best"])
    return rates


def _trace_met(r: dict[str, Any]) -> bool:
    """Met only at the goal's own number, by every Kineto-shaped read; the 500 k floor is shown beside it,
    never counted as the goal."""
    plain = _trace_best(r)
    huge = r.get("huge_kineto")
    peaks = [huge[k]["best"]["rss_peak_during_parse_bytes_per_event"] for k in ("plain", "gzip")] if huge else []
    fast = all(rate >= GOAL_EVENTS_PER_S for rate in _kineto_rates(r).values())
    return fast and plain["table_bytes_per_event"] < 200 and all(p < 200 for p in peaks)


def update_readme() -> None:
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    readme.write_text(text[:start] + "\n" + table() + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES))
    parser.add_argument("--table", action="store_true", help="only rebuild the table from bench/results")
    args = parser.parse_args()
    if not args.table:
        for name in args.only or BENCHES:
            BENCHES[name]()
    update_readme()
    print(table())


if __name__ == "__main__":
    main()
