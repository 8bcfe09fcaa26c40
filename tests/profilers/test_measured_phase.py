"""The measured phases of the scorecard's run settings with a real framework (PyTorch, CPU, the MLP on
the digits): time-to-accuracy stops at the first evaluation that reached the target, or at the cap;
whole epochs, reshuffled, with an `epoch` event each whose time grows with the data."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from profilers.loop import run_workload
from profilers.protocol import parse_line
from profilers.summary import summarize
from tests.recorded_events import RecordedEvents
from workloads import data, registry, torch_backend
from workloads.configs import scaled
from workloads.spec import RunSpec


class TimedEvents(RecordedEvents):
    """Events with the time they were emitted, as the worker's writer stamps them."""

    def __call__(self, kind: str, /, **fields: Any) -> None:
        super().__call__(kind, **fields, t=time.perf_counter())

    def measured(self) -> list[dict[str, Any]]:
        return [e for e in self.of("step") if e["phase"] == "measure"]

    def phase_start(self, name: str) -> float:
        return next(float(e["t"]) for e in self.of("phase") if e["name"] == name and e["edge"] == "start")


def _run(tmp_path: Path, **fields: Any) -> TimedEvents:
    """One real run through the worker's loop, with the training set and pool the worker would build."""
    settings: dict[str, Any] = {"workload": "mlp", "batch_size": 64, "device": "cpu", "warmup": 0, "trace_steps": 0}
    spec = RunSpec(framework="torch", **{**settings, **fields}).resolved()
    config = scaled(registry.model_config(spec.workload), spec.model_scale)
    train = data.training_split(spec.data, config, spec.data_size, spec.seed)
    prepared = torch_backend.prepare(spec, config, data.split_pool(train, spec.batch_size, spec.seed), None)
    eval_split = data.real_split(spec.data, config) if spec.evaluate else None
    events = TimedEvents()
    run_workload(spec, prepared, events, config, eval_split, None, tmp_path, train)
    for event in events.events:  # every event is one the controller accepts
        parse_line(__import__("json").dumps(event))
    return events


def test_time_to_accuracy_ends_at_the_first_evaluation_that_reached_the_target(tmp_path: Path) -> None:
    events = _run(tmp_path, target_accuracy=0.8, eval_every=3, steps=300)
    accuracies = [e["accuracy"] for e in events.of("eval")]
    assert len(accuracies) >= 2, accuracies  # the first evaluation (3 steps) is below it: the test means something
    assert all(a < 0.8 for a in accuracies[:-1]) and accuracies[-1] >= 0.8
    assert len(events.measured()) == 3 * len(accuracies)  # not one step after the evaluation that reached it
    assert events.events[-1]["type"] == "phase" and events.events[-2]["type"] == "target"  # and no final eval after
    (target,) = events.of("target")
    assert target["reached"] is True and target["accuracy"] == accuracies[-1] and target["steps"] == 3 * len(accuracies)
    clock = events.of("eval")[-1]["t"] - events.phase_start("compile")  # what the scorecard reads from a session
    assert target["seconds"] > 0 and abs(target["seconds"] - clock) < 0.05
    assert summarize([{"type": "hello", "spec": {"batch_size": 64}}, *events.events])["time_to_target"] == {
        k: target[k] for k in ("reached", "target", "accuracy", "seconds", "steps")}


def test_time_to_accuracy_stops_at_the_cap_and_says_not_reached(tmp_path: Path) -> None:
    events = _run(tmp_path, target_accuracy=1.0, eval_every=3, steps=7)
    assert len(events.measured()) == 7 and len(events.of("eval")) == 3  # after 3, 6 and the cap, 7
    (target,) = events.of("target")
    assert target["reached"] is False and target["steps"] == 7 and target["accuracy"] < 1.0


def test_evaluating_once_per_epoch_by_default(tmp_path: Path) -> None:
    events = _run(tmp_path, target_accuracy=1.0, steps=9, data_size=256)  # 256 // 64: every 4 steps
    assert len(events.of("eval")) == 3 and len(events.measured()) == 9


def test_epochs_are_whole_reshuffled_and_timed_with_their_batching(tmp_path: Path) -> None:
    events = _run(tmp_path, epochs=2, data_size=300, evaluate=False)  # 300 // 64 = 4 steps an epoch
    epochs = events.of("epoch")
    assert [(e["index"], e["steps"], e["samples"]) for e in epochs] == [(0, 4, 256), (1, 4, 256)]
    steps = events.measured()
    assert [s["index"] for s in steps] == list(range(8))
    for epoch, own in zip(epochs, (steps[:4], steps[4:]), strict=True):
        assert epoch["seconds"] * 1000 >= sum(s["step_ms"] for s in own)  # the epoch includes its steps and batching
    assert summarize(events.events)["epochs"] == 2


def test_time_per_epoch_grows_with_the_data(tmp_path: Path) -> None:
    # the small epoch's faster of two: the first pays one-time costs (allocator, caches) a hiccup can add
    # to; a hiccup in the large one only widens the gap
    small = min((_run(tmp_path, epochs=1, data_size=512, evaluate=False).of("epoch")[0] for _ in range(2)),
                key=lambda e: e["seconds"])
    large = _run(tmp_path, epochs=1, data_size=2048, evaluate=False).of("epoch")[0]
    assert (small["steps"], large["steps"]) == (8, 32)
    assert large["seconds"] > 2 * small["seconds"], (small, large)  # 4x the data: about 4x the time
