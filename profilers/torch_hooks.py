"""torch.profiler trace hook: a Chrome trace of a labelled window of steps.

torch.profiler's schedule needs one warm-up step before it records (the profiler's own
start-up cost stays out of the recorded window), so the window is `steps + 1` step()
contexts: `hook.steps_needed`. The trace is exported when the last active step ends, by
`on_trace_ready`; that step pays for the export, so keep it out of step statistics.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.profiler import ProfilerAction, ProfilerActivity, profile, schedule

from profilers.hooks import Artifact, checked

TRACE_NAME = "torch.trace.json.gz"  # export_chrome_trace gzips because of the .gz suffix


class TorchTraceHook:
    def __init__(self, out_dir: Path, steps: int, with_stack: bool) -> None:
        if steps < 1:
            raise ValueError("a trace window needs at least one step")
        self.out_dir = Path(out_dir)
        self.steps = steps
        self.steps_needed = steps + 1  # one schedule warm-up step, then `steps` recorded
        self.with_stack = with_stack
        self.path = self.out_dir / TRACE_NAME
        self._prof: profile | None = None
        self._first: int | None = None  # the run's index of the window's first (warm-up) step
        self._base_schedule = schedule(wait=0, warmup=1, active=steps, repeat=1)

    def _export(self, prof: profile) -> None:
        prof.export_chrome_trace(str(self.path))

    def _schedule(self, step_num: int) -> ProfilerAction:
        """torch's wait=0, warmup=1, active=N schedule, counted from the window's first step: step()
        is told the run's own index (below), so the trace's markers read ProfilerStep#<run step>,
        as the run's steps and the stored window's step range do."""
        action: ProfilerAction = self._base_schedule(step_num - (self._first or 0))
        return action

    def start(self) -> None:
        self._first = None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        activities = [ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(ProfilerActivity.CUDA)
        prof = profile(
            activities=activities,
            schedule=self._schedule,
            on_trace_ready=self._export,
            record_shapes=True,
            profile_memory=True,
            with_stack=self.with_stack,
        )
        prof.start()
        self._prof = prof  # only a started profiler is ever stopped

    @contextmanager
    def step(self, index: int) -> Iterator[None]:
        yield
        if self._prof is not None:
            if self._first is None:
                self._first = index
            self._prof.step_num = index  # step() names the next marker ProfilerStep#<index + 1>
            self._prof.step()  # advances the schedule; the last active step exports

    def stop(self) -> None:
        """Stop (exporting if the window was cut short inside its active steps); idempotent."""
        prof, self._prof = self._prof, None
        if prof is not None:
            prof.stop()

    def artifacts(self) -> list[Artifact]:
        return checked("chrome-trace", [self.path] if self.path.exists() else [], "torch.profiler")


def make_hook(out_dir: Path, steps: int, with_stack: bool) -> TorchTraceHook:
    return TorchTraceHook(out_dir, steps, with_stack)
