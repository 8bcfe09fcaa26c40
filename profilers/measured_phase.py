"""The two measured phases the scorecard adds to the fixed `steps` (docs/scorecard.md, "Run settings"):
whole epochs over the training set, and training until a held-out accuracy is reached.

An epoch reshuffles the training set on the host with the run's seed, cuts it into whole batches and
moves them to the device (`PreparedRun.load_pool`) before its steps: that copy is part of the epoch's
wall time, as a real input pipeline's would be, so time per epoch grows with the data and not just
with the steps. Each step is still timed on its own, so the step figures mean what they always do.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from workloads import data
from workloads.base import PreparedRun
from workloads.spec import RunSpec

Emit = Callable[..., None]
TimedStep = Callable[[int], float]  # runs step `index` and emits its event; its seconds


def run_epochs(spec: RunSpec, prepared: PreparedRun, train: data.Split, timed_step: TimedStep, first: int,
               emit: Emit) -> tuple[list[float], int]:
    """`spec.epochs` epochs from step index `first`, an `epoch` event after each; the measured step
    durations and the next step index."""
    assert spec.epochs is not None  # the caller runs this only for a spec with epochs
    rng = np.random.default_rng(spec.seed)
    measured: list[float] = []
    index = first
    for epoch in range(spec.epochs):
        start = time.perf_counter()
        batches = data.epoch_batches(train, spec.batch_size, rng)
        prepared.load_pool(batches)
        # Consecutive indices modulo the pool's length: every batch of the epoch runs exactly once.
        measured += [timed_step(i) for i in range(index, index + len(batches))]
        index += len(batches)
        emit("epoch", index=epoch, seconds=time.perf_counter() - start, samples=len(batches) * spec.batch_size,
             steps=len(batches))
    return measured, index


def steps_between_evaluations(spec: RunSpec, train_samples: int) -> int:
    """`eval_every`, or for 0 the steps of one epoch of the training set (at least one)."""
    return spec.eval_every or max(1, train_samples // spec.batch_size)


def train_to_target(spec: RunSpec, timed_step: TimedStep, evaluate: Callable[[], dict[str, Any]], every: int,
                    first: int, clock_start: float, emit: Emit) -> tuple[list[float], int]:
    """Train, evaluating every `every` steps (an `eval` event each), until the held-out accuracy reaches
    `spec.target_accuracy` or `spec.steps` steps have run (the cap, evaluated too); then one `target`
    event, its seconds counted from `clock_start` (the compile phase's start). The measured step
    durations and the next step index."""
    target = spec.target_accuracy
    assert target is not None  # the caller runs this only for a spec with a target
    measured: list[float] = []
    result: dict[str, Any] = {}
    ended = clock_start
    for index in range(first, first + spec.steps):
        measured.append(timed_step(index))
        done = len(measured)
        if done % every and done < spec.steps:
            continue
        result = evaluate()
        ended = time.perf_counter()
        emit("eval", **result)
        if result["accuracy"] >= target:
            break
    emit("target", reached=bool(result["accuracy"] >= target), target=float(target), accuracy=result["accuracy"],
         seconds=ended - clock_start, steps=len(measured))
    return measured, first + len(measured)
