"""How a user's program is started under Stepscope: its executable looked up, the event pipe, and
the agent's environment (docs/programs.md, "The agent's environment").

Kept apart from the supervision (`profilers.program_runner`) because it is the contract with the
agent: the variables, their values and the plan are all written here, and nowhere else.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profilers.runner import PROJECT_ROOT
from workloads.program import ProgramSpec

AGENT_DIR = PROJECT_ROOT / "agent"  # its sitecustomize.py loads the agent in the program's own Python


def find_executable(spec: ProgramSpec, env: Mapping[str, str] | None = None) -> str | None:
    """The file the command would run, or None when there is none: a name is looked up on the
    PATH the program gets, a path (`./train.sh`, `bin/x`) against the program's working directory."""
    program = spec.command[0] if spec.command else ""
    if not program:
        return None
    if os.sep in program or (os.altsep and os.altsep in program):
        path = os.path.join(spec.cwd, program)
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    env = program_base_env(spec) if env is None else env
    return shutil.which(program, path=env.get("PATH", os.defpath))


def program_base_env(spec: ProgramSpec) -> dict[str, str]:
    """The caller's environment with the variables the user added."""
    return {**os.environ, **spec.env}


def plan(spec: ProgramSpec, out_dir: Path) -> dict[str, Any]:
    """STEPSCOPE_PLAN: what the agent is asked to capture, and where its trace files go."""
    return {
        "steps": list(spec.steps_window) if spec.steps_window is not None else None,
        "trace_at": spec.trace_at, "trace_for": spec.trace_for, "out_dir": str(out_dir),
        "batch_size": spec.batch_size, "with_stack": spec.with_stack,
        "ranks": list(spec.ranks) if spec.ranks is not None else None,  # the ranks a window traces (None: all)
    }


def program_env(spec: ProgramSpec, channel: str, clock_origin: float, out_dir: Path,
                unbuffered: bool = True, control: str | None = None, ranks: str | None = None) -> dict[str, str]:
    """The program's environment: the caller's, the user's additions, the agent first on
    PYTHONPATH, and the STEPSCOPE_ variables the agent reads (STEPSCOPE_CONTROL, STEPSCOPE_RANKS too, when given);
    `unbuffered` sets
    PYTHONUNBUFFERED (unless the user set it), so that a Python program's output reaches a
    terminal (or the app's log) as it is printed, as it would without Stepscope, rather than in
    8 KiB blocks through our pipe; where our own output is not a terminal either, the program
    keeps the block buffering it would have had (a print is then not a write: no cost per line)."""
    env = program_base_env(spec)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(AGENT_DIR), env.get("PYTHONPATH")]))
    if unbuffered:
        env.setdefault("PYTHONUNBUFFERED", "1")
    env["STEPSCOPE_CHANNEL"] = channel
    env["STEPSCOPE_CLOCK_ORIGIN"] = repr(clock_origin)
    env["STEPSCOPE_PLAN"] = json.dumps(plan(spec, out_dir), separators=(",", ":"))
    if control is not None:  # capture requests (docs/capture.md), read by the agent's control thread
        env["STEPSCOPE_CONTROL"] = control
    if ranks is not None:  # the socket each rank of a distributed program streams to (profilers.rank_streams)
        env["STEPSCOPE_RANKS"] = ranks
    return env


@dataclass
class EventPipe:
    """The pipe the agent writes its events to. The write end goes to the program (`pass_fds`)
    and is closed here right after the spawn, so the read end sees end of file once the program
    and everything that inherited the descriptor are gone."""

    read_fd: int
    write_fd: int | None

    @classmethod
    def open(cls) -> EventPipe:
        read_fd, write_fd = os.pipe()  # both close-on-exec: only pass_fds hands the write end on
        return cls(read_fd, write_fd)

    @property
    def channel(self) -> str:
        """STEPSCOPE_CHANNEL: "<fd>:<inode>", so the agent can tell its pipe from a reused number."""
        assert self.write_fd is not None
        return f"{self.write_fd}:{os.fstat(self.write_fd).st_ino}"

    def close_write(self) -> None:
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def close(self) -> None:
        self.close_write()
        os.close(self.read_fd)


@dataclass
class ControlPipe:
    """The pipe capture requests reach the agent through (docs/capture.md): the read end goes to the
    program (`pass_fds`) and is closed here right after the spawn; the write end stays here,
    non-blocking, so a program that never reads cannot stall the controller."""

    read_fd: int | None
    write_fd: int

    @classmethod
    def open(cls) -> ControlPipe:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        return cls(read_fd, write_fd)

    @property
    def channel(self) -> str:
        """STEPSCOPE_CONTROL: "<fd>:<inode>", as STEPSCOPE_CHANNEL."""
        assert self.read_fd is not None
        return f"{self.read_fd}:{os.fstat(self.read_fd).st_ino}"

    def close_read(self) -> None:
        if self.read_fd is not None:
            os.close(self.read_fd)
            self.read_fd = None

    def close(self) -> None:
        self.close_read()
        os.close(self.write_fd)
