"""The one small interface of the framework trace hooks (torch.profiler, jax.profiler, tf.profiler).

The worker runs the trace window as

    hook = make_hook(out_dir, steps, with_stack)     # from profilers/<framework>_hooks.py
    hook.start()
    try:
        for i in window:
            with hook.step(i):
                run_step(i)
    finally:
        hook.stop()                                   # always: a profile never stopped blocks every later one
    artifacts = hook.artifacts()                      # raises ArtifactError when a file is missing

so the heavy trace is confined to its own labelled steps. Whether each file is a whole trace (not
empty, not cut off, not capped) is `profilers.artifact_checks.artifact_problem`'s to say, per file,
so one bad file (a 0-byte XPlane) does not hide a good one beside it. Before the window,
`profilers.capture_guard` may run the same hook for one step to size it.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class ArtifactError(RuntimeError):
    """A profiler said it exported a trace but the file is missing."""


@dataclass(frozen=True)
class Artifact:
    kind: str  # "chrome-trace", "xplane", ...
    path: Path

    @property
    def size(self) -> int:
        return self.path.stat().st_size


class TraceHook(Protocol):
    steps_needed: int  # step() contexts the window takes; torch.profiler's schedule needs one more than it records

    def start(self) -> None: ...

    def step(self, index: int) -> AbstractContextManager[None]:
        """Context around one step: annotates it for the profiler (and, for torch.profiler,
        advances its schedule when the step ends)."""

    def stop(self) -> None:
        """Stop the profiler and export; safe to call twice and after a failed start."""

    def artifacts(self) -> list[Artifact]: ...


def checked(kind: str, paths: list[Path], what: str) -> list[Artifact]:
    """Artifacts for `paths`, or ArtifactError naming what is missing (an empty file is returned:
    `artifact_problem` says why it is empty)."""
    if not paths:
        raise ArtifactError(f"{what} wrote no {kind} file")
    out = []
    for path in paths:
        if not path.is_file():
            raise ArtifactError(f"{what}: {kind} file {path} does not exist")
        out.append(Artifact(kind, path))
    return out


def run_window(hook: TraceHook, body: Callable[[int], object], first: int = 0) -> int:
    """The trace window: start, run `body(i)` inside `hook.step(i)` for the steps the hook needs
    (torch.profiler needs one more than it records), and always stop. Returns the next index."""
    count = hook.steps_needed
    hook.start()
    try:
        for index in range(first, first + count):
            with hook.step(index):
                body(index)
    finally:
        hook.stop()
    return first + count
