"""The agent inside the user's program (docs/programs.md): boots from sitecustomize when the
controller left a channel, hooks each framework once the program imports it, and streams steps,
captures and notices to the controller.

Whatever goes wrong in here becomes a `notice` and the hook stands down; the user's program
never sees an exception of ours. Standard library only at import: framework modules are touched
only through the module objects the import watcher hands over.
"""
from __future__ import annotations

import atexit
import faulthandler
import importlib
import json
import math
import os
import platform
import sys
import time
from types import ModuleType
from typing import Any, Callable

from .capture import CaptureBackend, CaptureWindow
from .channel import Channel, open_channel
from .clock import SOURCE_FRAMEWORK, Done, Ready, StepClock
from .control import open_control, start_reader
from .device_memory import start_device_sampler
from .imports import ImportWatcher, install
from .ranks import (
    RANKS_VARIABLE,
    claim,
    connect,
    end_line,
    env_rank,
    is_launcher,
    owned_elsewhere,
    uncaught_error,
    watch_initializers,
)

PROTOCOL_VERSION = 1
EXIT_DRAIN_S = 10.0
PREFERENCE = ("jax", "torch", "tf")  # when no step source says: tf and torch are often imported for data only
# A framework's name -> its top-level modules (importing one of them is importing the framework).
HOOK_OF = {"tf": ("tensorflow", "keras", "tf_keras"), "torch": ("torch",), "jax": ("jax",)}
HOOKS = {"torch": "torch_agent", "jax": "jax_agent", "tensorflow": "tf_agent", "keras": "keras_agent",
         "tf_keras": "keras_agent"}


def cpu_name() -> str:
    """The CPU's model name (what a run on the CPU shows as its device), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name") and ":" in line:
                    name = line.split(":", 1)[1].strip()
                    if name:
                        return name
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


class Framework:
    """What a framework module registers with `Agent.register`."""

    name = ""
    version = ""

    def describe(self) -> dict[str, Any]:
        """device_kind (cpu, gpu, tpu, ...), device_name, param_count (None when unknown)."""
        return {"device_kind": "cpu", "device_name": "cpu", "param_count": None}

    def batch_hint(self) -> int | None:
        return None

    def capture_backend(self) -> CaptureBackend | None:
        return None

    def device_memory(self) -> tuple[int, int, str] | None:
        """The allocator's (bytes in use, peak bytes, source name) on the program's accelerator, or None."""
        return None


class Agent:
    def __init__(self, channel: Channel, plan: dict[str, Any], watcher: ImportWatcher) -> None:
        self.channel = channel
        self.plan = plan
        self.watcher = watcher
        self.frameworks: dict[str, Framework] = {}
        self._backends: dict[str, CaptureBackend | None] = {}
        self.window = CaptureWindow(channel.emit, plan)
        self.clock = StepClock(channel.emit, channel.at, self.window, self._first_step, self._backend_for, self._batch,
                               step=channel.step)
        self._plan_batch = int(plan.get("batch_size") or 0)
        self._batch_from: dict[str, Framework] = {}
        self.incidental: set[str] = set()  # imported by another framework's import (TF imports jax), not the program
        self._exit_registered = False
        self._noticed: set[str] = set()
        self.world_size: int | None = None

    # -- ranks (ranks.py) ----------------------------------------------------------------------
    def become_rank(self, rank: int, world_size: int) -> None:
        """The program called its framework's distributed initialiser: this process is `rank` of a job
        of `world_size`; from now on its events go, tagged, to a stream of its own."""
        path = os.environ.get(RANKS_VARIABLE, "")
        if self.channel.rank is not None or not path or owned_elsewhere():
            return
        sock = connect(path)
        if sock is None:
            return
        claim()
        self.channel.join_rank(sock, rank)
        self.as_rank(rank, world_size)
        start_reader(sock.fileno(), self.capture_request, self.notice)

    def as_rank(self, rank: int, world_size: int) -> None:
        """This rank's capture window: its own folder, and none at all where `--ranks` left it out."""
        self.world_size = world_size
        window = self.window
        if not window.active and not window.done:
            window.base_dir = window.out_dir = os.path.join(window.base_dir, f"rank-{rank}")
        chosen = self.plan.get("ranks")
        if isinstance(chosen, list) and rank not in chosen:
            window.first = window.end = window.trace_at = window.trace_for = None

    # -- what framework modules call -----------------------------------------------------
    def register(self, framework: Framework) -> None:
        self.frameworks[framework.name] = framework
        if self.watcher.importing(besides=HOOK_OF.get(framework.name, (framework.name,))):
            self.incidental.add(framework.name)  # announced once one of its step sources fires, if ever
        else:
            self._announce(framework.name)
        if not self._exit_registered:  # after the framework's own atexit handlers, so ours runs before them
            atexit.register(self.at_exit)
            self._exit_registered = True
        if self.window.first == 0 and self.clock.index == 0 and not self.window.active and framework.name not in self.incidental:
            self.window.before_step(0, self.backend(framework.name))

    def _announce(self, name: str) -> None:
        self.incidental.discard(name)
        framework = self.frameworks[name]
        self.channel.emit("program", framework=name, framework_version=framework.version, pid=os.getpid())

    def notice(self, message: str, once: str | None = None) -> None:
        if once is not None:
            if once in self._noticed:
                return
            self._noticed.add(once)
        self.channel.emit("notice", message=message)

    def guarded(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call one of our hooks; an exception becomes a notice (once per hook), never the program's."""
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            self.notice(f"stepscope's {what} hook failed and stands down ({type(exc).__name__}: {exc})", once=what)
            return None

    def backend(self, name: str | None) -> CaptureBackend | None:
        if name is None or name not in self.frameworks:
            return None
        if name not in self._backends:
            self._backends[name] = self.guarded(f"{name} capture", self.frameworks[name].capture_backend)
        return self._backends[name]

    def main_framework(self) -> str | None:
        from_source = self.clock.framework()
        if from_source in self.frameworks:
            return from_source
        return next((name for name in PREFERENCE if name in self.frameworks and name not in self.incidental), None)

    # -- steps ---------------------------------------------------------------------------------
    def begin(self, source: str, what: str | None = None, at: float | None = None) -> None:
        if self.incidental:
            self._claim(source)
        self.guarded("step", self.clock.begin, source, what, at)

    def end(self, source: str, loss: float | None = None, batch_size: int | None = None,
            ready: Ready | None = None, what: str | None = None, done: Done | None = None) -> None:
        if self.incidental:
            self._claim(source)
        self.guarded("step", self.clock.end, source, loss, batch_size, ready, what, done)

    def _claim(self, source: str) -> None:
        """A step source of a framework that came in with another's import fired: the program uses it after all."""
        name = SOURCE_FRAMEWORK.get(source)
        if name in self.incidental:
            self._announce(name)

    def _backend_for(self, source: str) -> CaptureBackend | None:
        return self.backend(SOURCE_FRAMEWORK.get(source) or self.main_framework())

    def _batch(self, source: str) -> int | None:
        if self._plan_batch:
            return self._plan_batch
        framework = self._batch_from.get(source)  # (cached: this runs at every step)
        if framework is None:
            framework = self.frameworks.get(SOURCE_FRAMEWORK.get(source) or self.main_framework() or "")
            if framework is None:
                return None
            self._batch_from[source] = framework
        try:
            return framework.batch_hint()
        except Exception:
            return None

    def _first_step(self, source: str) -> None:
        name = SOURCE_FRAMEWORK.get(source) or self.main_framework()
        framework = self.frameworks.get(name or "")
        described = (self.guarded("device", framework.describe) if framework else None) or {}
        self.channel.emit(
            "hello", protocol=PROTOCOL_VERSION, framework=name or "unknown",
            framework_version=framework.version if framework else "",
            device_kind=str(described.get("device_kind") or "cpu"), device_name=str(described.get("device_name") or "cpu"),
            host={"hostname": platform.node(), "python": platform.python_version(), "executable": sys.executable,
                  "cpu_count": os.cpu_count()},
            spec={}, param_count=described.get("param_count"), pid=os.getpid(), **self._rank_fields())
        if framework is not None and described.get("device_kind", "cpu") != "cpu":
            start_device_sampler(framework.device_memory, self.channel.emit)

    def _rank_fields(self) -> dict[str, Any]:
        if self.channel.rank is None:
            return {}
        return {"world_size": self.world_size or 1, "hostname": platform.node()}

    def capture_request(self, window: int, steps: int | None, seconds: float | None) -> None:
        """A capture asked for while the program runs (the control thread calls this)."""
        if steps is not None:
            self.window.request_steps(window, steps)
        elif seconds is not None:
            self.window.arm_seconds(window, seconds, self.channel.now, lambda: self.backend(self.main_framework()))

    def at_exit(self) -> None:
        self.clock.drain(EXIT_DRAIN_S)
        self.guarded("capture", self.window.program_ending)
        self.channel.flush()


AGENT: Agent | None = None


def boot() -> None:
    """Called by sitecustomize; a no-op without a live channel. A rank of a distributed job (ranks.py)
    streams on a connection of its own; a process that may become one waits for its initialiser."""
    if AGENT is not None or is_launcher():
        return
    ranks_path = os.environ.get(RANKS_VARIABLE, "")
    rank = env_rank() if ranks_path and not owned_elsewhere() else None
    if rank is not None:
        _start_rank(ranks_path, *rank, watcher=install())
        return
    channel = open_channel()
    if channel is not None:
        _start(channel, install())
        control = open_control()
        if control is not None and AGENT is not None:  # capture on demand (docs/capture.md)
            start_reader(control, AGENT.capture_request, AGENT.notice)
    elif ranks_path and not owned_elsewhere():  # started by the program (a launcher's child): a rank, maybe
        watcher = install()
        for name in ("torch", "jax"):
            watcher.watch(name, _rank_learner(ranks_path, watcher))


def _plan() -> dict[str, Any]:
    try:
        plan = json.loads(os.environ.get("STEPSCOPE_PLAN") or "{}")
    except ValueError:
        plan = {}
    return plan if isinstance(plan, dict) else {}


def _keep_native_crash_stacks() -> None:
    """A crash in native code (a framework's segfault or abort) then leaves every thread's Python stack
    in the program's stderr, so in the run log, where it says what the program was doing; the controller
    quotes its first lines in the run's reason. A program that set up faulthandler itself keeps its own."""
    try:
        if not faulthandler.is_enabled():
            faulthandler.enable(all_threads=True)
    except Exception:  # no usable stderr (closed, or not a file): the program runs as it would without us
        pass


def _start(channel: Channel, watcher: ImportWatcher, rank: tuple[int, int] | None = None) -> None:
    global AGENT
    _keep_native_crash_stacks()
    AGENT = Agent(channel, _plan(), watcher)
    atexit.register(_last_words)  # first registered, so it runs last: whatever was still buffered
    if rank is not None:
        AGENT.as_rank(*rank)
    for module_name, hook in HOOKS.items():
        watcher.watch(module_name, _hook_loader(hook))
    AGENT.window.start_timer(channel.now, lambda: AGENT.backend(AGENT.main_framework()) if AGENT else None)


def _start_rank(path: str, rank: int, world_size: int, watcher: ImportWatcher) -> None:
    """This process is `rank`: the agent on a stream of its own, capture requests read back from it."""
    sock = connect(path)
    if sock is None:
        return
    claim()
    try:
        origin = float(os.environ.get("STEPSCOPE_CLOCK_ORIGIN", "nan"))
    except ValueError:
        origin = math.nan
    channel = Channel(-1, origin if math.isfinite(origin) else time.perf_counter())
    os.register_at_fork(after_in_child=channel.close_in_child)
    channel.join_rank(sock, rank)
    _start(channel, watcher, (rank, world_size))
    if AGENT is not None:
        start_reader(sock.fileno(), AGENT.capture_request, AGENT.notice)


def _rank_learner(path: str, watcher: ImportWatcher) -> Callable[[ModuleType], None]:
    """Until the program calls its distributed initialiser nothing of ours runs but that wrapper."""
    def learn(module: ModuleType) -> None:
        def on_rank(rank: int, world_size: int) -> None:
            if AGENT is None and not owned_elsewhere():
                _start_rank(path, rank, world_size, watcher)
        try:
            watch_initializers(module.__name__, module, on_rank)
        except Exception as exc:  # never the program's problem
            sys.stderr.write(f"stepscope: cannot watch {module.__name__}'s distributed start ({exc})\n")
    return learn


def _last_words() -> None:
    """At exit, last of our handlers: what is still buffered; a rank's stream then says it ended on its own."""
    agent = AGENT
    if agent is not None:
        agent.channel.end(end_line(uncaught_error()))


def _hook_loader(hook: str) -> Callable[[ModuleType], None]:
    def load(module: ModuleType) -> None:
        agent = AGENT
        if agent is None:
            return
        if os.environ.get(RANKS_VARIABLE) and agent.channel.rank is None:
            agent.guarded("rank", watch_initializers, module.__name__, module, agent.become_rank)
        try:
            importlib.import_module("." + hook, __name__).install(agent, module)
        except Exception as exc:
            agent.notice(f"stepscope could not hook {module.__name__} ({type(exc).__name__}: {exc}); "
                         "steps from it are not detected")
    return load


def user_step_begin() -> bool:
    """`with stepscope.step():` entered; False when no agent runs (the caller marks steps itself)."""
    if AGENT is None:
        return False
    AGENT.begin("stepscope.step")
    return True


def user_step_end(loss: Any = None, batch_size: int | None = None) -> bool:
    """A step ended (`stepscope.step(...)` called, or its `with` block left)."""
    if AGENT is None:
        return False
    plain = loss if isinstance(loss, (int, float)) or loss is None else None
    ready: Ready | None = None
    if loss is not None and plain is None:  # a framework scalar: read on the completion thread, where waiting is free
        def ready() -> float | None:
            return float(loss)
    AGENT.end("stepscope.step", None if plain is None else float(plain), batch_size, ready)
    return True
