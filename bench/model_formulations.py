"""Is every built-in model written the fastest idiomatic way? Each kept formulation against its alternative.

A check is one framework, workload, mode and variant, and one field of the backend's formulation
(`JaxFormulation`, `TorchFormulation`, `TFFormulation`): the kept form is the backend's default,
the alternative that field set to the other idiomatic way. One process per framework (as a
worker: the other frameworks blocked) prepares both runs through the real backend, compiles
both, and then alternates blocks of steps between them, ~0.3 s a block, the order flipping each
round, so both sides share the machine's drift (other processes on 2 shared cores). The figure is
the geometric mean of the per-round ratios kept / alternative of time per step, with a bootstrap
95 % interval over the rounds; the same for the process's CPU time per step, which other load
does not stretch.

Goal per check: the kept form's ratio stays within 10 % of the ratio measured when the choice
was made (`CHOSEN_AT`), so a kept form that loses 10 % against its alternative fails its row.

    python -m bench.model_formulations [--frameworks jax,torch,tf] [--rounds 16] [--match convnet]
    python -m bench.model_formulations --child jax ...     # one framework, prints one JSON line
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.app_vs_standalone import interleaved
from bench.common import RESULTS, write_result

FRAMEWORKS = ("jax", "torch", "tf")
FORMULATION_CLASS = {"jax": "JaxFormulation", "torch": "TorchFormulation", "tf": "TFFormulation"}
VARIANT_DEFAULT = {"jax": "compiled", "torch": "eager", "tf": "xla"}  # spec.VARIANTS' first, read without importing
REGRESSION_TOLERANCE = 1.10


@dataclass(frozen=True)
class Check:
    framework: str
    workload: str
    mode: str
    field: str
    alternative: Any
    batch_size: int = 64  # RunSpec's default batch
    variant: str | None = None  # None: the framework's default variant

    @property
    def key(self) -> str:
        variant = f"/{self.variant}" if self.variant else ""
        return (f"{self.framework}{variant} {self.workload} {self.mode} b={self.batch_size}: "
                f"{self.field}={self.alternative}")


CHECKS = (
    # JAX: the loss, buffer donation, the convolution's layout, and how max-pooling is written.
    *(Check("jax", w, m, "loss", "integer_labels") for w in ("convnet", "mlp", "transformer") for m in ("train", "infer")),
    Check("jax", "convnet", "train", "loss", "integer_labels", batch_size=32),
    *(Check("jax", w, "train", "donate", False) for w in ("convnet", "mlp", "transformer")),
    *(Check("jax", "convnet", m, "conv_layout", "NCHW") for m in ("train", "infer")),
    *(Check("jax", "convnet", m, "max_pool", "reshape_max") for m in ("train", "infer")),
    # PyTorch: F.cross_entropy on class indices or one-hot probabilities, Adam fused=True or its
    # CPU default (a for-loop over the parameters), the convnet in channels_last or plain NCHW, and its
    # ReLUs in place (torchvision's nn.ReLU(inplace=True)) or each into a fresh tensor.
    *(Check("torch", w, "train", "loss", "one_hot") for w in ("convnet", "transformer")),
    *(Check("torch", w, "train", "adam", "for_loop") for w in ("convnet", "mlp", "transformer")),
    *(Check("torch", "convnet", m, "memory_format", "contiguous") for m in ("train", "infer")),
    *(Check("torch", "convnet", m, "relu", "out_of_place") for m in ("train", "infer")),
    Check("torch", "convnet", "infer", "relu", "out_of_place", batch_size=256),
    # TensorFlow: sparse or one-hot softmax cross-entropy, with XLA (the default) and in a plain graph.
    *(Check("tf", w, m, "loss", "one_hot") for w in ("convnet", "mlp", "transformer") for m in ("train", "infer")),
    Check("tf", "convnet", "train", "loss", "one_hot", variant="compiled"),
)

# kept / alternative step-time ratio (wall, default environment) measured when each choice was made
# (2026-12-01, bench/results/model_formulations.json; README, "How the built-in models are written,
# and why"). A check missing here is judged against 1.0.
CHOSEN_AT: dict[str, float] = {
    "jax convnet train b=64: loss=integer_labels": 1.0082,
    "jax convnet infer b=64: loss=integer_labels": 0.9744,
    "jax mlp train b=64: loss=integer_labels": 0.9533,
    "jax mlp infer b=64: loss=integer_labels": 0.9894,
    "jax transformer train b=64: loss=integer_labels": 1.0383,
    "jax transformer infer b=64: loss=integer_labels": 1.0164,
    "jax convnet train b=32: loss=integer_labels": 0.3638,
    "jax convnet train b=64: donate=False": 0.9503,
    "jax mlp train b=64: donate=False": 0.9662,
    "jax transformer train b=64: donate=False": 0.8618,
    "jax convnet train b=64: conv_layout=NCHW": 0.9716,
    "jax convnet infer b=64: conv_layout=NCHW": 0.2792,
    "jax convnet train b=64: max_pool=reshape_max": 4.7209,
    "jax convnet infer b=64: max_pool=reshape_max": 0.7668,
    "torch convnet train b=64: loss=one_hot": 0.9654,
    "torch transformer train b=64: loss=one_hot": 1.0135,
    "torch convnet train b=64: adam=for_loop": 0.9955,
    "torch mlp train b=64: adam=for_loop": 0.4319,
    "torch transformer train b=64: adam=for_loop": 0.9376,
    "torch convnet train b=64: memory_format=contiguous": 1.0857,
    "torch convnet infer b=64: memory_format=contiguous": 0.825,
    "torch convnet train b=64: relu=out_of_place": 1.0102,  # measured 2026-12-02
    "torch convnet infer b=64: relu=out_of_place": 0.3613,
    "torch convnet infer b=256: relu=out_of_place": 0.3504,
    "tf convnet train b=64: loss=one_hot": 1.0124,
    "tf convnet infer b=64: loss=one_hot": 0.9809,
    "tf mlp train b=64: loss=one_hot": 0.9762,
    "tf mlp infer b=64: loss=one_hot": 1.0034,
    "tf transformer train b=64: loss=one_hot": 1.0194,
    "tf transformer infer b=64: loss=one_hot": 0.9736,
    "tf/compiled convnet train b=64: loss=one_hot": 1.0204,
}


# -- one side of a check: one prepared run, in a process of its own ---------------------------

def side(check: Check, which: str, measure_s: float) -> dict[str, Any]:
    """Prepare the kept or the alternative run as a worker would (a fresh process, the other
    frameworks blocked), step it, and return its own timing: median wall ms per step, CPU ms
    per step (which a frozen slice does not advance) and minor page faults per step."""
    from profilers.isolation import block_other_frameworks, configure_environment

    configure_environment(check.framework, "cpu")
    block_other_frameworks(check.framework)
    from workloads import data, registry
    from workloads.spec import RunSpec

    backend = registry.backend(check.framework)
    formulation = getattr(backend, FORMULATION_CLASS[check.framework])()
    if which == "alternative":
        formulation = dataclasses.replace(formulation, **{check.field: check.alternative})
    spec = RunSpec(framework=check.framework, workload=check.workload, mode=check.mode, variant=check.variant,
                   batch_size=check.batch_size, device="cpu", data="synthetic").resolved()
    config = registry.model_config(check.workload)
    run = backend.prepare(spec, config, data.batch_pool("synthetic", config, spec.batch_size, spec.seed), None,
                          formulation)
    run.compile()
    first_loss = run.step(0)
    probe = []
    for i in range(1, 21):  # warm-up; the last ten steps size the measured stretch
        t0 = time.perf_counter()
        run.step(i)
        probe.append(time.perf_counter() - t0)
    steps = int(min(20_000, max(30, measure_s / float(np.median(probe[10:])))))
    times = np.empty(steps)
    faults, cpu = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
    for i in range(steps):
        t0 = time.perf_counter()
        run.step(21 + i)
        times[i] = time.perf_counter() - t0
    cpu = time.process_time() - cpu
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"which": which, "value": getattr(formulation, check.field), "first_loss": first_loss, "steps": steps,
            "step_ms_median": float(np.median(times) * 1e3), "cpu_ms_per_step": cpu * 1e3 / steps,
            "faults_per_step": faults / steps}


def _ratio(kept: list[float], alternative: list[float]) -> tuple[float, list[float]]:
    """Geometric mean of the per-round ratios kept / alternative, with a bootstrap 95 % interval."""
    logs = np.log(np.array(kept) / np.array(alternative))
    boot = np.random.default_rng(0).choice(logs, size=(4000, len(logs))).mean(axis=1)
    low, high = np.exp(np.percentile(boot, [2.5, 97.5]))
    return round(float(np.exp(logs.mean())), 4), [round(float(low), 4), round(float(high), 4)]


def measure(check: Check, rounds: int, measure_s: float, slice_s: float) -> dict[str, Any]:
    """Both sides as fresh processes, time-sliced (one frozen while the other runs), `rounds`
    times with the starting side alternating; a round that other load disturbed is run again."""
    index = CHECKS.index(check)

    def args(which: str) -> list[str]:
        return ["-m", "bench.model_formulations", "--side", str(index), which, "--measure-seconds", str(measure_s)]

    def one_round(r: int) -> dict[str, dict[str, Any]]:
        order = ("kept", "alternative") if r % 2 == 0 else ("alternative", "kept")
        outputs = interleaved(args(order[0]), args(order[1]), slice_s)
        return {which: json.loads(out.strip().splitlines()[-1]) for which, out in zip(order, outputs, strict=True)}

    done = [one_round(r) for r in range(rounds)]
    redone: list[dict[str, dict[str, Any]]] = []
    for _ in range(rounds):  # other load can stall a side's threads for a whole round: run it again
        disturbed = [i for i, row in enumerate(done) if _disturbed(row, done)]
        if not disturbed:
            break
        redone.append(done[disturbed[0]])
        done[disturbed[0]] = one_round(disturbed[0])
    kept, alternative = [row["kept"] for row in done], [row["alternative"] for row in done]
    ratio, ci = _ratio([s["step_ms_median"] for s in kept], [s["step_ms_median"] for s in alternative])
    cpu_ratio, cpu_ci = _ratio([s["cpu_ms_per_step"] for s in kept], [s["cpu_ms_per_step"] for s in alternative])

    def median(rows: list[dict[str, Any]], key: str) -> float:
        return round(float(np.median([row[key] for row in rows])), 4)

    return {"check": check.key, "framework": check.framework, "workload": check.workload, "mode": check.mode,
            "variant": check.variant or VARIANT_DEFAULT[check.framework], "batch_size": check.batch_size,
            "field": check.field, "kept": kept[0]["value"], "alternative": check.alternative, "rounds": rounds,
            "first_loss": [kept[0]["first_loss"], alternative[0]["first_loss"]],
            "kept_ms": median(kept, "step_ms_median"), "alternative_ms": median(alternative, "step_ms_median"),
            "kept_ms_per_round": [round(s["step_ms_median"], 4) for s in kept],
            "alternative_ms_per_round": [round(s["step_ms_median"], 4) for s in alternative],
            "kept_faults_per_step": median(kept, "faults_per_step"),
            "alternative_faults_per_step": median(alternative, "faults_per_step"),
            "ratio": ratio, "ratio_ci95": ci, "cpu_ratio": cpu_ratio, "cpu_ratio_ci95": cpu_ci,
            "rounds_redone": [{w: round(row[w]["step_ms_median"], 4) for w in row} for row in redone]}


def _disturbed(row: dict[str, dict[str, Any]], rows: list[dict[str, dict[str, Any]]]) -> bool:
    """A round where a side ran over 2.5x its median over the rounds: other load, not the formulation
    (a side faster than its median is kept: fresh processes of one formulation can differ, e.g. by
    how glibc's malloc happens to serve them)."""
    return any(row[w]["step_ms_median"] > 2.5 * float(np.median([r[w]["step_ms_median"] for r in rows]))
               for w in ("kept", "alternative"))


# -- the bench ----------------------------------------------------------------------------------

def met(result: dict[str, Any]) -> bool:
    """The kept form has not lost 10 % against its alternative since the choice was made."""
    return bool(result["ratio"] <= CHOSEN_AT.get(result["check"], 1.0) * REGRESSION_TOLERANCE)


def table_rows(stored: dict[str, Any]) -> list[tuple[str, str, str, bool, str]]:
    """(benchmark, figure, goal, met, measured) per stored check, for bench/run.py's table; the
    diagnostic rows run with --env stay in the result file only (they have no goal)."""
    rows = []
    for r in stored["results"]:
        if r.get("env"):
            continue
        low, high = r["ratio_ci95"]
        chosen = CHOSEN_AT.get(r["check"])
        figure = (f"kept {r['kept']} {r['kept_ms']:.2f} ms vs {r['alternative']} {r['alternative_ms']:.2f} ms; "
                  f"ratio {r['ratio']:.3f} (95 % CI {low:.3f} … {high:.3f}, {r['rounds']} rounds); page faults/step "
                  f"{r['kept_faults_per_step']:,.0f} vs {r['alternative_faults_per_step']:,.0f}")
        goal = f"ratio ≤ {(chosen or 1.0) * REGRESSION_TOLERANCE:.3f}" + ("" if chosen else " (no ratio recorded)")
        rows.append((f"model formulation, {r['check']}", figure, goal, met(r), r.get("measured", stored["machine"]["date"])))
    return rows


def _merge(new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored results with these replaced: a run of some checks (or with --env) keeps the rest."""
    path = RESULTS / "model_formulations.json"
    old = json.loads(path.read_text())["results"] if path.exists() else []
    fresh = {(r["check"], json.dumps(r["env"], sort_keys=True)) for r in new}
    order = {check.key: i for i, check in enumerate(CHECKS)}
    kept = [r for r in old if r["check"] in order  # a check since changed or removed is dropped
            and (r["check"], json.dumps(r.get("env", {}), sort_keys=True)) not in fresh]
    return sorted(kept + new, key=lambda r: (bool(r["env"]), order.get(r["check"], len(order))))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--measure-seconds", type=float, default=3.0, help="each side's own stepping per round")
    parser.add_argument("--slice", type=float, default=1.0, help="seconds each side runs before the swap")
    parser.add_argument("--match", default="", help="only the checks whose name contains this text")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="set for both sides (a diagnostic row, e.g. glibc's MALLOC_MMAP_THRESHOLD_)")
    parser.add_argument("--side", nargs=2, metavar=("CHECK", "WHICH"), help="run one side (internal)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write bench/results")
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps(side(CHECKS[int(args.side[0])], args.side[1], args.measure_seconds)))
        return []
    settings = dict(item.split("=", 1) for item in args.env)
    os.environ.update(settings)  # both sides inherit it
    results: list[dict[str, Any]] = []
    for check in CHECKS:
        if check.framework in args.frameworks.split(",") and args.match in check.key:
            result = measure(check, args.rounds, args.measure_seconds, args.slice)
            result["env"] = settings
            result["measured"] = time.strftime("%Y-%m-%d %H:%M:%S")
            result["chosen_at"] = CHOSEN_AT.get(check.key)
            result["met"] = met(result)
            results.append(result)
            print(f"{check.key}: {result['kept_ms']:.2f} vs {result['alternative_ms']:.2f} ms, ratio {result['ratio']} "
                  f"{result['ratio_ci95']}, faults/step {result['kept_faults_per_step']:.0f} vs "
                  f"{result['alternative_faults_per_step']:.0f}", file=sys.stderr, flush=True)
    if not args.no_write:
        write_result("model_formulations", {
            "goal": "kept / alternative step time within 10 % of its ratio when the choice was made",
            "method": f"fresh process pairs time-sliced ({args.slice:g} s slices), {args.rounds} rounds, "
                      f"{args.measure_seconds:g} s of stepping per side and round, starting side alternating",
            "results": _merge(results)})
    return results


if __name__ == "__main__":
    main()
