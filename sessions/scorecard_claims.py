"""The claims framework comparisons make, checked on this machine (README, "Framework scorecard").

Each claim is a ratio (or a count) with a 95 % bootstrap interval, and its verdict follows one
rule, the contract's (docs/scorecard.md, "Significance"): the claim **holds** when the whole
interval lies inside the claimed range, **does not hold** when the whole interval lies outside
it, and is **inconclusive** when the interval straddles an end. **Not measurable here** is for
what this machine or this sweep cannot show (a framework or variant not measured, "large-scale"
beyond the hardware), with the reason. The claimed ranges, as read:

- torch.compile "up to 2x": eager / compiled step time in (1, 2.2]: faster, and not beyond ~2x
  (a 10 % allowance for "up to" meaning "about").
- TF+XLA "10-20 % slower than compiled PyTorch": TF-XLA / torch-compiled step time in [1.10, 1.20].
- TF "training costs 10-25 % more": TF / torch time per sample, each in its default (idiomatic)
  variant, in [1.10, 1.25].
- JAX compile payback: holds when jit's step is faster than eager's across the interval, so the
  compile time is repaid after compile_ms / (eager - jit) steps (the figure); does not hold when
  it is slower across it (never repaid).
- JAX "more memory-efficient": JAX / the leanest other's peak (device peak where every framework
  reports one, else host RSS) below 1.
- JAX "15-30 % less compute for large-scale training": JAX / the fastest other's time per sample
  at the largest model size measured, in [0.70, 0.85]; below LARGE_SCALE_PARAMS it is reported
  but not judged (not measurable here).
- TF "lower inference latency": TF / the fastest other's batch-1 p50 below 1 ("than before"
  needs an older TensorFlow, which is not measured).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sessions.scorecard_data import RunData, SweepData
from sessions.scorecard_model import Claim
from sessions.scorecard_stats import percentile_interval, quantile, resample, run_values_draws
from sessions.stats import compare

LARGE_SCALE_PARAMS = 100_000_000  # "large-scale training": a model of 100 M parameters or more
NOT_MEASURABLE = "not measurable here"


def band_verdict(low: float | None, high: float | None, lo: float, hi: float, *, open_low: bool = False) -> str:
    """Inside [lo, hi] (or (lo, hi] with `open_low`) holds; wholly outside does not; else inconclusive."""
    if low is None or high is None:
        return "inconclusive"
    above_lo = low > lo if open_low else low >= lo
    if above_lo and high <= hi:
        return "holds"
    below = high <= lo if open_low else high < lo
    return "does not hold" if below or low > hi else "inconclusive"


def below_one_verdict(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "inconclusive"
    return "holds" if high < 1.0 else "does not hold" if low > 1.0 else "inconclusive"


def _ids(*groups: Sequence[RunData]) -> tuple[str, ...]:
    return tuple(r.run_id for g in groups for r in g)


def training_runs(data: SweepData, framework: str, variant: str | None = None) -> list[RunData]:
    """Training runs of the training and variants grids for one framework and variant (its
    default: None), at one batch size (the one most of them ran), so repeats pool."""
    runs = [r for r in data.runs if ({"train", "variants"} & set(r.purposes)) and r.framework == framework
            and r.spec.get("mode") == "train" and (r.variant == variant if variant else r.default_variant)]
    batches = [r.batch_size for r in runs]
    usual = max(sorted(set(batches)), key=batches.count) if batches else None
    return [r for r in runs if r.batch_size == usual]


def _absent_why(data: SweepData, what: str, framework: str, variant: str | None = None) -> str:
    failed = [p for p in data.points if p.status == "failed" and p.spec.get("framework") == framework
              and (variant is None or p.spec.get("variant") == variant)]
    reason = f" (its point failed: {(failed[0].reason or 'no reason')[:160]})" if failed else ""
    return f"no finished run of {what} in this sweep{reason}"


def _groups(runs: Sequence[RunData]) -> list[np.ndarray]:
    return [r.step_ms for r in runs if r.step_ms.size]


def _ratio_claim(claim: str, what: str, base: list[RunData], other: list[RunData], lo: float, hi: float,
                 *, open_low: bool = False, scale: float = 1.0) -> Claim:
    """`other` / `base` median step time (times `scale`, for time per sample at unequal batches)."""
    result = compare(_groups(base), _groups(other))
    if result is None:
        return Claim(claim, what, None, None, None, "×", NOT_MEASURABLE, "the runs hold no measured steps", _ids(base, other))
    ratio, low, high = result.ratio * scale, result.ci_low * scale, result.ci_high * scale
    verdict = band_verdict(low, high, lo, hi, open_low=open_low)
    claimed = f"({lo:g}, {hi:g}]" if open_low else f"[{lo:g}, {hi:g}]"
    why = f"{ratio:.2f}× (95 % CI {low:.2f}–{high:.2f}) against the claimed {claimed}: " + {
        "holds": "the whole interval lies inside it",
        "does not hold": "the whole interval lies outside it",
        "inconclusive": "the interval straddles an end of it; more repeats would narrow it"}[verdict]
    return Claim(claim, f"{what}: {ratio:.2f}×", ratio, low, high, "×", verdict, why, _ids(base, other))


def torch_compile(data: SweepData) -> Claim:
    text = "torch.compile speeds PyTorch up by up to 2× over eager"
    eager, compiled = training_runs(data, "torch", "eager"), training_runs(data, "torch", "compiled")
    if not eager or not compiled:
        missing = "torch eager" if not eager else "torch compiled"
        return Claim(text, "eager / compiled step time", None, None, None, "×", NOT_MEASURABLE,
                     _absent_why(data, missing, "torch", missing.split()[1]), _ids(eager, compiled))
    return _ratio_claim(text, "eager / compiled median step time (train)", compiled, eager, 1.0, 2.2, open_low=True)


def tf_xla_vs_compiled_torch(data: SweepData) -> Claim:
    text = "TensorFlow with XLA trains 10–20 % slower than compiled PyTorch"
    tf, torch = training_runs(data, "tf", "xla"), training_runs(data, "torch", "compiled")
    if not tf or not torch:
        return Claim(text, "TF-XLA / torch-compiled step time", None, None, None, "×", NOT_MEASURABLE,
                     _absent_why(data, "tf xla" if not tf else "torch compiled", "tf" if not tf else "torch",
                                 "xla" if not tf else "compiled"), _ids(tf, torch))
    return _ratio_claim(text, "TF-XLA / torch-compiled median step time (train)", torch, tf, 1.10, 1.20)


def tf_training_cost(data: SweepData) -> Claim:
    text = "TensorFlow's training costs 10–25 % more than PyTorch's"
    tf, torch = training_runs(data, "tf"), training_runs(data, "torch")
    if not tf or not torch:
        fw = "tf" if not tf else "torch"
        return Claim(text, "TF / torch time per sample", None, None, None, "×", NOT_MEASURABLE,
                     _absent_why(data, f"{fw} (default variant)", fw), _ids(tf, torch))
    scale = torch[0].batch_size / tf[0].batch_size  # time per sample = step time / batch
    return _ratio_claim(text, f"TF ({tf[0].variant}) / torch ({torch[0].variant}) time per sample (train)", torch, tf,
                        1.10, 1.25, scale=scale)


def jax_compile_payback(data: SweepData) -> Claim:
    text = "JAX's initial compilation is paid back by its steady-state speed"
    jit, eager = training_runs(data, "jax", "compiled"), training_runs(data, "jax", "eager")
    compile_ms = [float(r.summary["compile_ms"]) for r in jit if isinstance(r.summary.get("compile_ms"), (int, float))]
    if not jit or not eager or not compile_ms:
        why = _absent_why(data, "jax eager", "jax", "eager") if not eager else \
            _absent_why(data, "jax compiled", "jax", "compiled") if not jit else "the jit runs reported no compile time"
        return Claim(text, "steps until the compile time is repaid", None, None, None, "steps", NOT_MEASURABLE, why,
                     _ids(jit, eager))
    median = quantile(50)
    e_draws, j_draws = resample(_groups(eager), median, seed=1), resample(_groups(jit), median, seed=2)
    c_draws = run_values_draws(compile_ms, seed=3)
    c_draws = c_draws if c_draws.size else np.full(e_draws.size, float(np.median(compile_ms)))
    saved = e_draws - j_draws
    with np.errstate(divide="ignore"):
        draws = np.where(saved > 0, c_draws / np.where(saved > 0, saved, 1.0), np.inf)
    e_ms, j_ms, c_ms = (float(np.median(np.concatenate(_groups(eager)))), float(np.median(np.concatenate(_groups(jit)))),
                        float(np.median(compile_ms)))
    value = c_ms / (e_ms - j_ms) if e_ms > j_ms else float("inf")
    interval = percentile_interval(draws)
    low, high = interval if interval else (None, None)
    saved_low, saved_high = np.percentile(saved, [2.5, 97.5])
    verdict = "holds" if saved_low > 0 else "does not hold" if saved_high <= 0 else "inconclusive"
    measured = (f"compile {c_ms / 1000:.2f} s; eager {e_ms:.1f} ms vs jit {j_ms:.1f} ms per step: "
                + (f"repaid after {value:.0f} steps" if np.isfinite(value) else "never repaid"))
    why = _payback_why(verdict, value, low, high)
    return Claim(text, measured, value, low, high, "steps", verdict, why, _ids(jit, eager))


def _payback_why(verdict: str, value: float, low: float | None, high: float | None) -> str:
    if verdict == "does not hold":
        return "jit's step is not faster than eager's across the interval: the compile time is never repaid"
    if verdict == "inconclusive":
        return "the step-time saving's interval includes zero, so the payback may never come"
    if low is not None and high is not None and np.isfinite(high):
        return f"jit's step is faster across the interval, so compiling pays for itself after {value:.0f} steps " \
               f"(95 % CI {low:.0f}–{high:.0f})"
    return f"jit's step is faster across the interval; it pays for itself after about {value:.0f} steps"


def _peak(runs: Sequence[RunData], key: str) -> list[float]:
    return [float(r.summary[key]) for r in runs if isinstance(r.summary.get(key), (int, float))]


def jax_memory(data: SweepData) -> Claim:
    text = "JAX is more memory-efficient than the others"
    runs = {fw: training_runs(data, fw) for fw in data.frameworks}
    if not runs.get("jax") or len([fw for fw, r in runs.items() if r]) < 2:
        return Claim(text, "JAX / the leanest other's peak memory (training)", None, None, None, "×", NOT_MEASURABLE,
                     _absent_why(data, "jax" if not runs.get("jax") else "another framework", "jax"),
                     _ids(*runs.values()))
    present = {fw: r for fw, r in runs.items() if r}
    key = "peak_device_mb" if all(_peak(r, "peak_device_mb") for r in present.values()) else "peak_host_mb"
    peaks = {fw: _peak(r, key) for fw, r in present.items()}
    others = {fw: v for fw, v in peaks.items() if fw != "jax" and v}
    if not peaks["jax"] or not others:
        return Claim(text, "peak memory", None, None, None, "×", NOT_MEASURABLE, "the runs reported no peak memory",
                     _ids(*present.values()))
    leanest = min(others, key=lambda fw: float(np.median(others[fw])))
    ratio = float(np.median(peaks["jax"])) / float(np.median(others[leanest]))
    j_draws, o_draws = run_values_draws(peaks["jax"], seed=1), run_values_draws(others[leanest], seed=2)
    interval = percentile_interval(j_draws / o_draws) if j_draws.size and o_draws.size else None
    low, high = interval if interval else (None, None)
    what = "device peak" if key == "peak_device_mb" else \
        "peak host RSS (each framework's runtime included; TensorFlow's import also loads Keras and JAX)"
    verdict = below_one_verdict(low, high)
    why = (f"JAX {np.median(peaks['jax']):.0f} MB vs {leanest} {np.median(others[leanest]):.0f} MB; " +
           ("one run each: no interval, so no verdict (--repeat 2 or more)" if interval is None else
            f"95 % CI {low:.2f}–{high:.2f}: " + {"holds": "below 1 throughout", "does not hold": "above 1 throughout",
                                                  "inconclusive": "it straddles 1"}[verdict]))
    return Claim(text, f"JAX / {leanest} {what}, training: {ratio:.2f}×", ratio, low, high, "×", verdict, why,
                 _ids(runs["jax"], runs[leanest]))


def _fastest(groups: dict[str, list[RunData]], per_sample: bool = False) -> str:
    def cost(fw: str) -> float:
        runs = groups[fw]
        return float(np.median(np.concatenate(_groups(runs)))) / (runs[0].batch_size if per_sample else 1)
    return min(groups, key=cost)


def jax_large_scale(data: SweepData) -> Claim:
    text = "JAX costs 15–30 % less compute for large-scale training"
    by_fw: dict[str, dict[float, list[RunData]]] = {}
    for r in data.runs_for("scale_model"):
        if r.step_ms.size:
            by_fw.setdefault(r.framework, {}).setdefault(float(r.spec.get("model_scale") or 1.0), []).append(r)
    if "jax" not in by_fw or len(by_fw) < 2:
        return Claim(text, "JAX / the fastest other's time per sample at the largest model", None, None, None, "×",
                     NOT_MEASURABLE, _absent_why(data, "model-size scaling for jax and another framework", "jax"), ())
    common = set(by_fw["jax"]).intersection(*[set(v) for fw, v in by_fw.items() if fw != "jax"])
    scale = max(common) if common else max(by_fw["jax"])
    at = {fw: v[scale] for fw, v in by_fw.items() if scale in v}
    others = {fw: r for fw, r in at.items() if fw != "jax"}
    if not others:
        return Claim(text, "time per sample", None, None, None, "×", NOT_MEASURABLE,
                     "no other framework ran the largest model JAX ran", _ids(at["jax"]))
    fastest = _fastest(others, per_sample=True)
    claim = _ratio_claim(text, f"JAX / {fastest} time per sample at model scale {scale:g}", others[fastest], at["jax"],
                         0.70, 0.85, scale=others[fastest][0].batch_size / at["jax"][0].batch_size)
    params = int(at["jax"][0].environment.get("param_count") or 0)
    if params >= LARGE_SCALE_PARAMS:
        return claim
    why = (f"the largest model measured here has {params:,} parameters; large-scale training (≥ "
           f"{LARGE_SCALE_PARAMS // 1_000_000} M parameters, many devices) is beyond this hardware. At this size: {claim.why}")
    return Claim(text, claim.measured, claim.value, claim.low, claim.high, "×", NOT_MEASURABLE, why, claim.runs)


def tf_latency(data: SweepData) -> Claim:
    text = "TensorFlow has lower inference latency than the others"
    runs = {fw: data.runs_for("latency", fw) for fw in data.frameworks}
    runs = {fw: [r for r in v if r.step_ms.size] for fw, v in runs.items()}
    if not runs.get("tf") or len([v for v in runs.values() if v]) < 2:
        return Claim(text, "TF / the fastest other's batch-1 p50 latency", None, None, None, "×", NOT_MEASURABLE,
                     _absent_why(data, "batch-1 latency for tf and another framework", "tf"), _ids(*runs.values()))
    others = {fw: v for fw, v in runs.items() if fw != "tf" and v}
    fastest = _fastest(others)
    result = compare(_groups(others[fastest]), _groups(runs["tf"]))
    assert result is not None  # both sides hold measured steps
    verdict = below_one_verdict(result.ci_low, result.ci_high)
    why = (f"{result.ratio:.2f}× (95 % CI {result.ci_low:.2f}–{result.ci_high:.2f}): " +
           {"holds": "TF is faster across the interval", "does not hold": "TF is slower across the interval",
            "inconclusive": "the interval straddles 1"}[verdict] +
           "; \"than before\" would need an older TensorFlow, which this sweep does not measure")
    return Claim(text, f"TF / {fastest} batch-1 p50 latency: {result.ratio:.2f}×", result.ratio, result.ci_low,
                 result.ci_high, "×", verdict, why, _ids(runs["tf"], others[fastest]))


def claims(data: SweepData) -> list[Claim]:
    return [torch_compile(data), tf_xla_vs_compiled_torch(data), tf_training_cost(data), jax_compile_payback(data),
            jax_memory(data), jax_large_scale(data), tf_latency(data)]
