"""The capture window for PyTorch: torch.profiler on for the window, its `ProfilerStep#N` markers
numbered as the run's steps, written as a gzipped Chrome trace.

Two things make this more than "start, step, stop", and both live here because they follow from
how torch.profiler works rather than from how steps are found (torch_agent.py):

* torch.profiler records the thread that starts it (its state is thread-local), so it must start
  and stop on the program's own thread. A step window does (the step hooks call in from there);
  a time window's start and stop come from the agent's timer thread, so they are deferred to the
  next PyTorch call we hook in the program (a backward, an optimizer step, a DataLoader epoch,
  prof.step()) or, for the stop, the program's exit; the file is then announced by us.
* Only one profiler can run at a time. The program's own profilers are tracked (torch_agent.py
  reports their start and stop): while one runs, or once the program steps one, the window is
  skipped with a notice; one the program starts inside our window stops ours first.

Runs inside the user's program: torch is reached only through the module object handed over at
install and a lazy import of torch.profiler; every call comes through `agent.guarded` or
`TorchHooks.run`, so a failure becomes a notice.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
from typing import Any

from . import Agent
from .capture import CaptureBackend
from .gloo_quiet import wait_for_gloo_workers

OWN_MARK = "_stepscope_capture"  # set on the capture's own torch.profiler.profile: its step()/start() are not the program's
REFUSAL = ("the program runs its own torch.profiler, so Stepscope's capture window was skipped "
           "(its trace is the program's own)")
AUTOGRAD_REFUSAL = ("a PyTorch profiler (torch.autograd.profiler) is already running in the program, "
                    "so Stepscope's capture window was skipped")


def _quiet_collectives() -> None:
    """In a distributed program, gloo's worker threads asleep first (gloo_quiet.py: PyTorch aborts when
    the profiler stops while one still ends a collective's range)."""
    distributed = sys.modules.get("torch.distributed")
    is_initialized = getattr(distributed, "is_initialized", None)
    if is_initialized is not None and is_initialized():
        wait_for_gloo_workers()


def on_agent_thread() -> bool:
    """Whether this is one of the agent's own threads (the capture timer, the completion thread)."""
    return threading.current_thread().name.startswith("stepscope-")


class TorchCapture(CaptureBackend):
    """One per process, made at install (it touches nothing until a window starts)."""

    framework = "torch"

    def __init__(self, agent: Agent, torch: Any) -> None:
        self.agent = agent
        self.torch = torch
        self.prof: Any = None
        self.first: int | None = None
        self.out_dir = ""
        self.files: list[tuple[str, str]] = []
        self.deferred: str | None = None  # "start" or "stop", for the program's thread to do
        self.pending = False  # deferred work waits: the patched calls check this (one attribute read) and come in
        self.program_profilers: set[int] = set()  # ids of the program's own started torch.profiler profiles
        self.program_profiler_seen = False
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.prof is not None or self.deferred == "start"

    # -- the program's own profilers -------------------------------------------------------------
    def program_profiler_starting(self, prof: Any) -> bool:
        self.program_profiler_seen = True
        if self.running:
            self.abort("the program started its own torch.profiler")
        self.program_profilers.add(id(prof))
        return True

    def program_profiler_stopped(self, prof: Any) -> bool:
        self.program_profilers.discard(id(prof))
        return True

    def refusal(self) -> str | None:
        if self.program_profilers or self.agent.clock.source == "torch.profiler":
            return REFUSAL
        if self.torch.autograd._profiler_enabled():
            return REFUSAL if self.program_profiler_seen else AUTOGRAD_REFUSAL
        return None

    # -- the window (CaptureBackend) ---------------------------------------------------------------
    def start(self, out_dir: str, first_step: int | None) -> None:
        self.first, self.out_dir, self.files = first_step, out_dir, []
        if on_agent_thread():
            self._defer("start")
            return
        self._start_now()

    def boundary(self, next_step: int) -> None:
        prof = self.prof
        if prof is None or self.first is None:
            return
        prof.step_num = next_step - 1  # step() names the next marker ProfilerStep#<step_num + 1>
        prof.step()

    def stop(self) -> list[tuple[str, str]]:
        with self._lock:
            if self.deferred == "start":  # the program's thread never came by: nothing was recorded
                self.deferred, self.pending = None, False
                self.agent.notice("no PyTorch backward, optimizer step or DataLoader batch ran on the program's "
                                  "thread during the time window, so there is no PyTorch trace")
                return []
            if self.prof is not None and on_agent_thread():
                self.deferred, self.pending = "stop", True
                return []  # announced when the program's thread stops it (at its next PyTorch call, or at exit)
        return self._stop_now()

    def abort(self, why: str) -> None:
        """The program starts a profiler of its own inside our window: ours stops first (two cannot run)
        and its trace is written at once; the window's own stop later returns that file."""
        if self.deferred == "start":
            self.deferred, self.pending = None, False
            self.agent.notice(f"{why} as Stepscope's time window began, so Stepscope's capture was skipped")
            return
        step = self.prof.step_num if self.prof is not None else None
        files = self._stop_now()
        if self.deferred == "stop":
            self.deferred, self.pending = None, False
            self._announce(files)
        if self.first is None or step is None:
            self.agent.notice(f"{why} inside Stepscope's capture window, so the capture stopped there")
        else:
            self.agent.notice(f"{why} during step {step}, inside Stepscope's capture window, so the capture stopped "
                              f"there (its trace holds steps {self.first}..{step - 1} and the start of step {step})")

    # -- the program's thread ------------------------------------------------------------------
    def on_program_thread(self) -> bool:
        """A hook in the program found deferred work: do it here, on the program's thread."""
        with self._lock:
            what, self.deferred, self.pending = self.deferred, None, False
        if what == "start":
            try:
                self._start_now()
            except Exception as exc:
                self.agent.notice(f"the torch profiler did not start ({type(exc).__name__}: {exc}); no trace for this run")
        elif what == "stop":
            self._announce(self._stop_now())
        return True

    def at_exit(self) -> None:
        """The program ends: a stop deferred by a time window that no PyTorch call picked up is done now (a
        window still open is closed by the agent's own exit work, which calls stop() on this thread)."""
        if self.deferred == "stop":
            self.on_program_thread()

    def _defer(self, what: str) -> None:
        with self._lock:
            self.deferred, self.pending = what, True

    def _announce(self, files: list[tuple[str, str]]) -> None:
        for kind, path in files:
            try:
                size = os.path.getsize(path)
            except OSError:
                continue
            self.agent.channel.emit("artifact", kind=kind, path=os.path.abspath(path), bytes=size,
                                    window=self.agent.window.window)

    def _start_now(self) -> None:
        torch, first_step = self.torch, self.first
        profiler = importlib.import_module("torch.profiler")
        activities = [profiler.ProfilerActivity.CPU]
        if torch.cuda.is_initialized():  # never initialise CUDA ourselves
            activities.append(profiler.ProfilerActivity.CUDA)
        xpu = getattr(torch, "xpu", None)
        if hasattr(profiler.ProfilerActivity, "XPU") and xpu is not None and getattr(xpu, "is_initialized", bool)():
            activities.append(profiler.ProfilerActivity.XPU)
        options: Any = {"activities": activities, "record_shapes": True, "profile_memory": True,
                        "with_stack": bool(self.agent.plan.get("with_stack"))}
        if first_step is not None:  # a schedule that always records: torch then marks ProfilerStep#N
            record = profiler.ProfilerAction.RECORD
            options["schedule"] = lambda step: record
        prof = profiler.profile(**options)
        setattr(prof, OWN_MARK, True)
        if first_step is not None:
            prof.step_num = first_step
        _quiet_collectives()
        prof.start()
        self.prof = prof

    def _stop_now(self) -> list[tuple[str, str]]:
        prof, self.prof = self.prof, None
        if prof is None:
            return self.files
        _quiet_collectives()
        prof.stop()
        if self.first is not None:
            name = f"torch-steps-{self.first}-{prof.step_num}.trace.json.gz"
        else:
            name = f"torch-time-{os.getpid()}.trace.json.gz"
        path = os.path.join(self.out_dir, name)
        prof.export_chrome_trace(path)  # gzipped: the name ends in .gz
        self.files = [("chrome-trace", path)]
        return self.files
