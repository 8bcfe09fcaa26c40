"""ProgramSpec: the user's own program under Stepscope (docs/programs.md), as plain values.

A program run is described by its command line rather than by a framework and a workload: the
program brings its own model, framework and loop, and Stepscope only watches. Like RunSpec, the
spec is stored with the run (so it holds plain values only, and `to_dict` carries the same
headline keys a RunSpec has: `framework` stays None until the program imports one) and the
controller hands part of it to the agent as the plan.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from workloads.spec import SpecError


@dataclass(frozen=True)
class ProgramSpec:
    command: tuple[str, ...]
    cwd: str
    env: dict[str, str] = field(default_factory=dict)  # only the variables the user added
    name: str | None = None
    steps_window: tuple[int, int] | None = None  # [A, B): the steps whose trace is recorded
    trace_at: float | None = None  # without step detection: the trace window in seconds from the start
    trace_for: float | None = None
    batch_size: int | None = None
    with_stack: bool = False
    ranks: tuple[int, ...] | None = None  # of a distributed program, the ranks a capture window traces (None: all)

    @property
    def label(self) -> str:
        """The name the user gave, or what the command runs: `train.py`, `pkg.train`, `./bench`."""
        return self.name or command_label(self.command)

    def resolved(self) -> ProgramSpec:
        """This spec, checked; SpecError with one sentence for anything that cannot run."""
        if not self.command or not self.command[0]:
            raise SpecError("no command to run: give it after `--`, e.g. `stepscope run -- python train.py`")
        if self.steps_window is not None:
            first, end = self.steps_window
            if not 0 <= first < end:
                raise SpecError(f"--steps {first}:{end} is empty or negative: it takes A:B with 0 <= A < B "
                                "(steps A to B-1 are traced)")
        if (self.trace_at is None) != (self.trace_for is None):
            raise SpecError("--trace-at and --trace-for go together: the start and the length of the trace window")
        if self.trace_at is not None and self.trace_for is not None:
            if self.trace_at < 0 or not self.trace_for > 0:
                raise SpecError("--trace-at must be 0 or more seconds and --trace-for more than 0")
            if self.steps_window is not None:
                raise SpecError("give either --steps A:B or --trace-at/--trace-for, not both")
        if self.batch_size is not None and self.batch_size < 1:
            raise SpecError("--batch-size must be at least 1")
        if self.ranks is not None and (not self.ranks or any(r < 0 for r in self.ranks)):
            raise SpecError("--ranks takes rank numbers, 0 or more, e.g. --ranks 0,3")
        ranks = tuple(sorted(set(self.ranks))) if self.ranks is not None else None
        return dataclasses.replace(self, command=tuple(self.command), env=dict(self.env), ranks=ranks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "program", "framework": None, "workload": self.label, "mode": "train", "variant": None,
            "command": list(self.command), "cwd": self.cwd, "env": dict(self.env), "name": self.name,
            "steps_window": list(self.steps_window) if self.steps_window is not None else None,
            "trace_at": self.trace_at, "trace_for": self.trace_for, "batch_size": self.batch_size,
            "with_stack": self.with_stack, "ranks": list(self.ranks) if self.ranks is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgramSpec:
        """The spec `to_dict` stored; the headline keys it adds (and the agent's) are left aside."""
        if not isinstance(data.get("command"), (list, tuple)) or "cwd" not in data:
            raise SpecError("a program run needs its command and working directory")
        window = data.get("steps_window")
        return cls(
            command=tuple(str(part) for part in data["command"]), cwd=str(data["cwd"]),
            env={str(k): str(v) for k, v in (data.get("env") or {}).items()}, name=data.get("name"),
            steps_window=(int(window[0]), int(window[1])) if window is not None else None,
            trace_at=data.get("trace_at"), trace_for=data.get("trace_for"), batch_size=data.get("batch_size"),
            with_stack=bool(data.get("with_stack", False)),
            ranks=tuple(int(r) for r in data["ranks"]) if data.get("ranks") is not None else None,
        )


def command_label(command: tuple[str, ...] | list[str]) -> str:
    """A short name for a command line: the script or module a Python runs, else the program."""
    if not command:
        return "program"
    args = list(command)
    if os.path.basename(args[0]).startswith("python"):
        rest = args[1:]
        while rest:
            arg = rest.pop(0)
            if arg == "-m" and rest:
                return rest[0]
            if arg.startswith("-m") and len(arg) > 2:
                return arg[2:]
            if arg == "-c":
                return "python -c"
            if arg in ("-W", "-X", "--check-hash-based-pycs"):  # options that take a value
                rest = rest[1:]
            elif not arg.startswith("-"):
                return os.path.basename(arg)
        return os.path.basename(args[0])
    return os.path.basename(args[0]) or args[0]
