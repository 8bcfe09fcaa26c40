"""The measured run, framework-free: compile -> warm-up -> measured steps -> trace window -> eval.

The measured phase is `steps` steps, or whole epochs, or training to a target accuracy with its
evaluations inside it (profilers/measured_phase.py); a run to a target has no separate eval.

Everything that makes the numbers honest lives here: each step is timed around
`PreparedRun.step`, which returns only once the framework has finished it; compile time is
its own event; warm-up and trace-window steps are labelled so the headline leaves them out;
the profiler runs only inside its window and is always stopped.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np

from profilers.capture_windows import ControlReader, Windows
from profilers.hooks import TraceHook
from profilers.measured_phase import run_epochs, steps_between_evaluations, train_to_target
from workloads import data
from workloads.base import PreparedRun
from workloads.configs import ModelConfig
from workloads.spec import RunSpec

Emit = Callable[..., None]


def _timed_step(prepared: PreparedRun, emit: Emit, phase: str, index: int, batch: int) -> float:
    t0 = time.perf_counter()
    loss = prepared.step(index)
    seconds = time.perf_counter() - t0
    emit("step", index=index, phase=phase, step_ms=seconds * 1000.0,
         samples_per_s=batch / seconds if seconds > 0 else 0.0, loss=loss)
    return seconds


def _timed_steps(prepared: PreparedRun, emit: Emit, phase: str, first: int, count: int, batch: int) -> list[float]:
    """Run `count` steps from index `first`; their durations in seconds."""
    return [_timed_step(prepared, emit, phase, index, batch) for index in range(first, first + count)]


def _phase(emit: Emit, name: str) -> AbstractContextManager[None]:
    """A phase's start and end events; the end carries `cpu_s` and `wall_s`, the worker's CPU seconds
    (all its threads) and wall seconds over the phase, which a measured phase shorter than the
    controller's 100 ms between samples would otherwise leave unmeasured."""
    class _Phase:
        def __enter__(self) -> None:
            self.cpu, self.wall = time.process_time(), time.perf_counter()
            emit("phase", name=name, edge="start")

        def __exit__(self, *exc: object) -> None:
            emit("phase", name=name, edge="end", cpu_s=round(time.process_time() - self.cpu, 6),
                 wall_s=round(time.perf_counter() - self.wall, 6))

    return _Phase()


def macro_f1(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in labels or predictions."""
    scores = []
    for c in range(num_classes):
        tp = int(np.sum((predictions == c) & (labels == c)))
        fp = int(np.sum((predictions == c) & (labels != c)))
        fn = int(np.sum((predictions != c) & (labels == c)))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def evaluate(prepared: PreparedRun, config: ModelConfig, split: data.Split) -> dict[str, float | int]:
    """Accuracy, macro-F1 and loss of the trained model on the held-out split."""
    logits = np.asarray(prepared.predict(split.x_test), dtype=np.float64)
    labels = data.eval_labels(config, split.y_test)
    predictions = data.eval_predictions(config, logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    targets = split.y_test
    loss = -np.take_along_axis(log_probs, targets[..., None].astype(np.int64), axis=-1).mean()
    return {
        "accuracy": float(np.mean(predictions == labels)),
        "macro_f1": macro_f1(labels, predictions, 10),
        "loss": float(loss),
        "samples": int(len(labels)),
    }


def run_workload(
    spec: RunSpec, prepared: PreparedRun, emit: Emit, config: ModelConfig, eval_split: data.Split | None,
    make_hook: Callable[[Path, int, bool], TraceHook] | None, out_dir: Path, train: data.Split | None = None,
    requests: ControlReader | None = None,
) -> None:
    """`train`: the training set a run of `epochs` walks, or whose size sets a time-to-accuracy run's
    evaluations per epoch; needed for those two only."""
    batch = spec.batch_size
    clock_start = time.perf_counter()
    with _phase(emit, "compile"):
        compile_ms = prepared.compile()
        if compile_ms is not None:
            emit("compile", ms=compile_ms, what=f"{spec.framework} {spec.variant}: {_compile_meaning(spec)}")
    index = 0
    if spec.warmup:
        with _phase(emit, "warmup"):
            index += len(_timed_steps(prepared, emit, "warmup", index, spec.warmup, batch))
    windows = None if make_hook is None else Windows(  # trace windows: on demand and at the end (docs/capture.md)
        spec, prepared, emit, make_hook, out_dir, lambda phase, i: _timed_step(prepared, emit, phase, i, batch))
    with _phase(emit, "measure"):
        if windows is not None and requests is not None and spec.epochs is None and spec.target_accuracy is None:
            measured, index = windows.measure(spec.steps, index, requests)
        else:
            measured, index = _measure(spec, prepared, emit, config, eval_split, train, index, clock_start)
    if requests is not None:
        requests.close()
    if spec.trace_steps and windows is not None:
        with _phase(emit, "trace"):
            index = windows.run(spec.trace_steps, index, float(np.median(measured)), 0, "end of run")
    if spec.mode == "train" and spec.evaluate and eval_split is not None and spec.target_accuracy is None:
        with _phase(emit, "eval"):
            emit("eval", **evaluate(prepared, config, eval_split))


def _measure(spec: RunSpec, prepared: PreparedRun, emit: Emit, config: ModelConfig, eval_split: data.Split | None,
             train: data.Split | None, first: int, clock_start: float) -> tuple[list[float], int]:
    """The measured phase: `steps` steps, whole `epochs`, or training to `target_accuracy`
    (profilers/measured_phase.py); its step durations and the next step index."""
    def timed(index: int) -> float:
        return _timed_step(prepared, emit, "measure", index, spec.batch_size)

    if spec.epochs is not None or spec.target_accuracy is not None:
        if train is None:
            raise ValueError("a run of epochs or to a target accuracy needs its training set")
        if spec.epochs is not None:
            return run_epochs(spec, prepared, train, timed, first, emit)
        if eval_split is None:
            raise ValueError("a run to a target accuracy needs the held-out split")
        every = steps_between_evaluations(spec, len(train.x_train))
        return train_to_target(spec, timed, lambda: evaluate(prepared, config, eval_split), every, first,
                               clock_start, emit)
    measured = _timed_steps(prepared, emit, "measure", first, spec.steps, spec.batch_size)
    return measured, first + len(measured)


def _compile_meaning(spec: RunSpec) -> str:
    if spec.framework == "jax":
        return "lower() + compile(), no step executed"
    return "first call: trace + compile + one step"
