"""The scorecard's metric rows (docs/scorecard.md; README, "Framework scorecard"): the seven
metrics, each cell a value with its 95 % interval and the runs it came from, or None and why.

Intervals: step-time quantiles and means are bootstrapped run-first (`scorecard_stats`); per-run
figures (peak memory, compile time, time to accuracy) by resampling the runs, so one run gives
none; accuracy by Wilson's interval over the held-out samples; exponents by `scaling`'s residual
bootstrap. The best of a row is marked only where its interval clears every other's.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from sessions.scaling import fit_power_law
from sessions.scorecard_compat import compatibility_row
from sessions.scorecard_data import RunData, SweepData
from sessions.scorecard_model import Cell, MetricRow, absent
from sessions.scorecard_stats import Interval, mean, quantile, run_values_interval, stat_interval, wilson
from sessions.sweep_plan import purposes_of

PURPOSE_WORDS = {"train": "training", "time_to_accuracy": "time-to-accuracy", "latency": "batch-1 latency",
                 "serving": "serving", "scale_batch": "batch-size scaling", "scale_model": "model-size scaling",
                 "scale_data": "dataset-size scaling", "variants": "variants", "compatibility": "compatibility"}
CPU_HAS_NO_GPU = "not measurable on this device: a CPU has no GPU utilisation"
CPU_HAS_NO_DEVICE_MEMORY = "not measurable on this device: a CPU has no separate device memory (host RSS is the footprint)"
Figure = Callable[[list[RunData]], Cell]


def missing_note(data: SweepData, purpose: str, framework: str) -> str:
    """Why `framework` has no finished run for `purpose`, in words."""
    words = PURPOSE_WORDS.get(purpose, purpose)
    if purpose not in data.purposes():
        return f"not measured: this sweep has no {words} points"
    failed = data.failures(purpose, framework)
    if failed:
        return f"not measured: its {words} point failed ({(failed[0].reason or 'no reason recorded')[:200]})"
    mine = [p for p in data.points if purpose in purposes_of(p.purpose) and p.spec.get("framework") == framework]
    if not mine:
        return f"not measured: this sweep has no {words} point for {framework}"
    return f"not measured: its {words} points have not finished (run the same sweep again to resume)"


def cells(data: SweepData, purpose: str, figure: Figure, *, default_variant: bool | None = True) -> dict[str, Cell]:
    """One cell per framework of the sweep: `figure` of its runs for `purpose`, or why there are none."""
    out = {}
    for fw in data.frameworks:
        runs = data.runs_for(purpose, fw, default_variant=default_variant)
        out[fw] = figure(runs) if runs else absent(missing_note(data, purpose, fw))
    return out


def mark_best(row: MetricRow) -> MetricRow:
    """The best framework only where its interval and every other's do not overlap."""
    spans = {fw: (c.value, c.low, c.high) for fw, c in row.cells.items() if c.value is not None}
    bounded = {fw: (v, lo, hi) for fw, (v, lo, hi) in spans.items() if v is not None and lo is not None and hi is not None}
    if len(bounded) < 2 or len(bounded) < len(spans):
        return row
    lower = row.better == "lower"
    best = (min if lower else max)(bounded, key=lambda fw: bounded[fw][0])
    others = [span for fw, span in bounded.items() if fw != best]
    _, low, high = bounded[best]
    clear = high < min(o[1] for o in others) if lower else low > max(o[2] for o in others)
    return dataclasses.replace(row, best=best if clear else None)


def _ids(runs: Sequence[RunData]) -> tuple[str, ...]:
    return tuple(r.run_id for r in runs)


def _cell(value: float | None, interval: Interval | None, unit: str, runs: Sequence[RunData], note: str = "") -> Cell:
    low, high = interval if interval is not None else (None, None)
    return Cell(value, low, high, unit, _ids(runs), note)


# -- per-row figures -----------------------------------------------------------------------
def step_quantile(q: float, unit: str = "ms") -> Figure:
    def figure(runs: list[RunData]) -> Cell:
        groups = [r.step_ms for r in runs if r.step_ms.size]
        if not groups:
            return absent("its runs have no measured steps", unit, _ids(runs))
        return _cell(float(np.percentile(np.concatenate(groups), q)), stat_interval(groups, quantile(q)), unit, runs)
    return figure


def throughput(runs: list[RunData]) -> Cell:
    groups = [r.step_ms for r in runs if r.step_ms.size]
    batch = runs[0].batch_size
    if not groups or not batch:
        return absent("its runs have no measured steps", "samples/s", _ids(runs))
    interval = stat_interval(groups, quantile(50))
    value = batch * 1000.0 / float(np.median(np.concatenate(groups)))
    return _cell(value, None if interval is None else (batch * 1000.0 / interval[1], batch * 1000.0 / interval[0]),
                 "samples/s", runs)


def per_run(key: str, unit: str, scale: float = 1.0, none_note: str = "its runs did not report it") -> Figure:
    def figure(runs: list[RunData]) -> Cell:
        values = [float(r.summary[key]) * scale for r in runs if isinstance(r.summary.get(key), (int, float))]
        if not values:
            return absent(none_note, unit, _ids(runs))
        return _cell(float(np.median(values)), run_values_interval(values), unit, runs,
                     "" if len(values) > 1 else "one run: no interval (repeats give one)")
    return figure


def device_memory(runs: list[RunData]) -> Cell:
    if all(r.device_kind == "cpu" for r in runs):
        return absent(CPU_HAS_NO_DEVICE_MEMORY, "MB", _ids(runs))
    return per_run("peak_device_mb", "MB", none_note="the framework reported no allocator figures on this device")(runs)


def time_to_accuracy(runs: list[RunData]) -> Cell:
    results = [(r, r.time_to_accuracy()) for r in runs]
    reached = [(r, t) for r, t in results if t is not None and t.reached and t.seconds is not None]
    if not reached:
        best = max((t.best for _, t in results if t is not None and t.best is not None), default=None)
        target = runs[0].spec.get("target_accuracy")
        cap = runs[0].spec.get("steps")
        said = f"best {best:.1%}" if best is not None else "no evaluation recorded"
        return absent(f"did not reach {float(target or 0) * 100:g} % within {cap} steps ({said})", "s", _ids(runs))
    seconds = [float(t.seconds) for _, t in reached]  # type: ignore[arg-type]
    note = f"{len(runs) - len(reached)} of {len(runs)} runs did not reach the target" if len(reached) < len(runs) else ""
    return _cell(float(np.median(seconds)), run_values_interval(seconds), "s", [r for r, _ in reached], note)


def gpu_utilisation(runs: list[RunData]) -> Cell:
    if all(r.device_kind == "cpu" for r in runs):
        return absent(CPU_HAS_NO_GPU, "%", _ids(runs))
    groups = [r.samples["gpu_util"] for r in runs if "gpu_util" in r.samples]
    groups = [g[np.isfinite(g)] for g in groups]
    if not any(g.size for g in groups):
        return absent("no NVML readings during the measured steps (pynvml missing, or not an NVIDIA GPU)", "%", _ids(runs))
    values = np.concatenate(groups)
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return _cell(float(values.mean()), stat_interval(groups, mean), "%", runs,
                 f"distribution p5 / p50 / p95: {p5:.0f} / {p50:.0f} / {p95:.0f} % ({values.size} samples at 10 Hz)")


def device_busy(runs: list[RunData]) -> Cell:
    if all(r.device_kind == "cpu" for r in runs):
        return absent("not measurable on this device: a CPU run's trace has no device rows", "%", _ids(runs))
    values = [r.busy_fraction * 100.0 for r in runs if r.busy_fraction is not None]
    if not values:
        reason = next((r.busy_note for r in runs if r.busy_note), "no trace window")
        return absent(f"not measured: {reason} (scorecard-full records a trace window)", "%", _ids(runs))
    return _cell(float(np.median(values)), run_values_interval(values), "%", runs)


def _measured_cpu(run: RunData) -> np.ndarray:
    """The worker's own CPU % over the measured phase (its summary's, exact even for a phase shorter
    than the 100 ms between samples), else the controller's samples in it."""
    own = run.summary.get("measure_cpu_percent")
    if isinstance(own, (int, float)) and np.isfinite(own):
        return np.array([float(own)])
    return np.asarray(run.samples.get("cpu_percent", ()), dtype=float)


def cpu_utilisation(runs: list[RunData]) -> Cell:
    cores = int(runs[0].environment.get("host", {}).get("cpu_count") or 1)
    groups = [_measured_cpu(r) / cores for r in runs]
    groups = [g[np.isfinite(g)] for g in groups if g.size]
    if not groups:
        return absent("no samples during the measured steps", "%", _ids(runs))
    return _cell(float(np.concatenate(groups).mean()), stat_interval(groups, mean), "%", runs,
                 f"the worker process's CPU time as a share of all {cores} cores")


def accuracy(runs: list[RunData]) -> Cell:
    scored = [(r, r.evals[-1]) for r in runs if r.evals and r.evals[-1].get("accuracy") is not None]
    if not scored:
        return absent("its runs did not evaluate", "%", _ids(runs))
    n = sum(int(e.get("samples") or 0) for _, e in scored)
    correct = sum(float(e["accuracy"]) * int(e.get("samples") or 0) for _, e in scored)
    interval = wilson(correct, n)
    return _cell(100.0 * correct / n if n else None, None if interval is None else (100 * interval[0], 100 * interval[1]),
                 "%", [r for r, _ in scored], f"on {n // len(scored)} held-out samples; Wilson interval")


def macro_f1(runs: list[RunData]) -> Cell:
    values = [float(r.evals[-1]["macro_f1"]) for r in runs if r.evals and r.evals[-1].get("macro_f1") is not None]
    if not values:
        return absent("its runs did not evaluate", "", _ids(runs))
    return _cell(float(np.median(values)), None, "", runs, "no interval: it needs per-sample predictions, which runs do not keep")


# -- scaling ---------------------------------------------------------------------------------
def _data_size(run: RunData) -> float | None:
    size = run.spec.get("data_size")
    return float(size) if size else None


def _param_count(run: RunData) -> float | None:
    count = run.environment.get("param_count")
    return float(count) if count else None


def _batch_size(run: RunData) -> float | None:
    return float(run.batch_size) or None


def _step_median(run: RunData) -> float | None:
    return float(np.median(run.step_ms)) if run.step_ms.size else None


def _samples_per_s(run: RunData) -> float | None:
    median = _step_median(run)
    return run.batch_size * 1000.0 / median if median else None


Measure = Callable[[RunData], "float | None"]
SCALING: dict[str, tuple[Measure, Measure, str]] = {  # purpose -> (size of a run, cost of a run, the axes)
    "scale_data": (_data_size, RunData.epoch_seconds, "time per epoch (s) vs training samples"),
    "scale_model": (_param_count, _step_median, "step time (ms) vs parameters"),
    "scale_batch": (_batch_size, _samples_per_s, "samples/s vs batch size"),
}


def scaling_row(data: SweepData, purpose: str, fits: dict[str, dict[str, dict[str, object]]]) -> MetricRow:
    size_of, cost_of, axes = SCALING[purpose]
    found: dict[str, dict[str, object]] = {}

    def figure(runs: list[RunData]) -> Cell:
        pairs = [(size_of(r), cost_of(r), r.run_id) for r in runs]
        kept = [(s, c, i) for s, c, i in pairs if s and c]
        try:
            fit = fit_power_law([s for s, _, _ in kept], [c for _, c, _ in kept])
        except ValueError as exc:
            return absent(f"no fit: {exc}", "", _ids(runs))
        fw = runs[0].framework
        found[fw] = {**dataclasses.asdict(fit), "sizes": list(fit.sizes), "costs": list(fit.costs),
                     "runs": [i for _, _, i in kept], "axes": axes}
        note = f"{len(kept)} points, R² {fit.r_squared:.3f}" + ("" if fit.ci_low is not None else "; two points: no interval")
        return Cell(fit.exponent, fit.ci_low, fit.ci_high, "", tuple(i for _, _, i in kept), note)

    row_cells = cells(data, purpose, figure)
    fits[purpose] = found
    label, better = {"scale_data": ("exponent b: time per epoch ∝ dataset size^b", "lower"),
                     "scale_model": ("exponent b: step time ∝ parameter count^b", "lower"),
                     "scale_batch": ("exponent b: samples/s ∝ batch size^b", "higher")}[purpose]
    return MetricRow(f"{purpose}_exponent", "Scalability coefficient", label, better, row_cells)


# -- all rows ------------------------------------------------------------------------------
def _batch(data: SweepData, purpose: str) -> str:
    sizes = sorted({r.batch_size for r in data.runs if purpose in r.purposes})
    return ", ".join(str(s) for s in sizes) or "?"


def metric_rows(data: SweepData, fits: dict[str, dict[str, dict[str, object]]]) -> list[MetricRow]:
    target = next((r.spec.get("target_accuracy") for r in data.runs_for("time_to_accuracy")), None)
    rows = [
        MetricRow("train_step_ms", "Training time", f"steady step time (train, batch {_batch(data, 'train')})", "lower",
                  cells(data, "train", step_quantile(50))),
        MetricRow("time_to_accuracy_s", "Training time",
                  f"time to {float(target) * 100:g} % held-out accuracy (compilation and evaluation included)" if target
                  else "time to the target accuracy", "lower", cells(data, "time_to_accuracy", time_to_accuracy)),
        MetricRow("compile_s", "Training time", "compile / first step (default variant)", "lower",
                  cells(data, "train", per_run("compile_ms", "s", 1e-3, "nothing to compile: the default variant runs eagerly"))),
    ]
    for q in (50, 95, 99):
        rows.append(MetricRow(f"latency_p{q}_ms", "Inference latency", f"per-request latency p{q} (batch 1)", "lower",
                              cells(data, "latency", step_quantile(q))))
    for batch in sorted({r.batch_size for r in data.runs_for("serving")}) or [0]:
        def at_batch(runs: list[RunData], b: int = batch) -> Cell:
            chosen = [r for r in runs if r.batch_size == b]
            return throughput(chosen) if chosen else absent(f"no serving run at batch {b}", "samples/s")
        rows.append(MetricRow(f"serving_samples_per_s_b{batch}" if batch else "serving_samples_per_s", "Inference latency",
                              f"serving throughput (batch {batch})" if batch else "serving throughput", "higher",
                              cells(data, "serving", at_batch)))
    rows += [
        MetricRow("gpu_util_mean", "GPU utilisation", "GPU utilisation, mean during training (NVML)", "higher",
                  cells(data, "train", gpu_utilisation)),
        MetricRow("device_busy_percent", "GPU utilisation", "device busy during training (trace)", "higher",
                  cells(data, "train", device_busy)),
        MetricRow("cpu_util_percent", "GPU utilisation", "CPU utilisation during training (% of all cores)", "higher",
                  cells(data, "train", cpu_utilisation)),
        MetricRow("accuracy", "Accuracy / F1", "held-out accuracy after training", "higher", cells(data, "train", accuracy)),
        MetricRow("macro_f1", "Accuracy / F1", "held-out macro-F1 after training", "higher", cells(data, "train", macro_f1)),
        MetricRow("train_peak_rss_mb", "Memory", "peak host RSS, training", "lower",
                  cells(data, "train", per_run("peak_host_mb", "MB"))),
        MetricRow("train_device_peak_mb", "Memory", "device peak, training", "lower", cells(data, "train", device_memory)),
        MetricRow("infer_peak_rss_mb", "Memory", "peak host RSS, inference (batch 1)", "lower",
                  cells(data, "latency", per_run("peak_host_mb", "MB"))),
        MetricRow("infer_device_peak_mb", "Memory", "device peak, inference (batch 1)", "lower",
                  cells(data, "latency", device_memory)),
        *[scaling_row(data, purpose, fits) for purpose in ("scale_data", "scale_model", "scale_batch")],
        compatibility_row(data),
    ]
    return [mark_best(row) for row in rows]
