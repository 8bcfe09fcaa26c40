"""The measured run, framework-free: compile -> warm-up -> measured steps -> trace window -> eval.

Everything that makes the numbers honest lives here: each step is timed around
`PreparedRun.step`, which returns only once the framework has finished it; compile time is
its own event; warm-up and trace-window steps are labelled so the headline leaves them out;
the profiler runs only inside its window and is always stopped.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np

from profilers.artifact_checks import artifact_problem
from profilers.capture_guard import guard_window
from profilers.hooks import ArtifactError, TraceHook, run_window
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
    class _Phase:
        def __enter__(self) -> None:
            emit("phase", name=name, edge="start")

        def __exit__(self, *exc: object) -> None:
            emit("phase", name=name, edge="end")

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
    make_hook: Callable[[Path, int, bool], TraceHook] | None, out_dir: Path,
) -> None:
    batch = spec.batch_size
    with _phase(emit, "compile"):
        compile_ms = prepared.compile()
        if compile_ms is not None:
            emit("compile", ms=compile_ms, what=f"{spec.framework} {spec.variant}: {_compile_meaning(spec)}")
    index = 0
    if spec.warmup:
        with _phase(emit, "warmup"):
            index += len(_timed_steps(prepared, emit, "warmup", index, spec.warmup, batch))
    with _phase(emit, "measure"):
        measured = _timed_steps(prepared, emit, "measure", index, spec.steps, batch)
        index += len(measured)
    if spec.trace_steps and make_hook is not None:
        with _phase(emit, "trace"):
            steps, index = guard_window(spec.trace_steps, spec.trace_guard, spec.framework, prepared.device.kind,
                                        float(np.median(measured)), make_hook, out_dir, spec.with_stack, prepared.step,
                                        index, emit)
            if steps:
                hook = make_hook(out_dir, steps, spec.with_stack)
                index = run_window(hook, lambda i: _timed_step(prepared, emit, "trace", i, batch), index)
                _emit_artifacts(hook, emit)
    if spec.mode == "train" and spec.evaluate and eval_split is not None:
        with _phase(emit, "eval"):
            emit("eval", **evaluate(prepared, config, eval_split))


def _emit_artifacts(hook: TraceHook, emit: Emit) -> None:
    """An `artifact` event for each whole trace file; a `notice` with the reason for a missing, empty
    or damaged one, which is not handed on as a trace (the run's measured figures still stand)."""
    try:
        artifacts = hook.artifacts()
    except ArtifactError as exc:
        _notice(emit, f"no trace kept: {exc}")
        return
    for artifact in artifacts:
        problem = artifact_problem(artifact.kind, artifact.path)
        if problem:
            _notice(emit, f"trace file not kept: {problem}")
        else:
            emit("artifact", kind=artifact.kind, path=str(artifact.path), bytes=artifact.size)


def _notice(emit: Emit, message: str) -> None:
    print(f"stepscope worker: {message}", file=sys.stderr)  # the run's log keeps it too
    emit("notice", message=message)


def _compile_meaning(spec: RunSpec) -> str:
    if spec.framework == "jax":
        return "lower() + compile(), no step executed"
    return "first call: trace + compile + one step"
