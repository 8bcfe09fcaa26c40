"""PyTorch hooks (docs/programs.md): steps from the program's own `torch.profiler` steps or from
its optimizer steps, the loss from the last scalar `backward()`, the device and parameter count
from the optimizer's parameters, the batch size from the DataLoader, and the capture window as a
`torch.profiler` Chrome trace whose `ProfilerStep#N` markers carry the run's step numbers.

Step sources:

* `torch.profiler` -- each `prof.step()` the program calls on its own profiler (never the calls
  our capture profiler makes) ends a step.
* `torch.optim` -- each step of the FIRST optimizer instance that steps ends a step (a global
  optimizer step post hook). Programs that step several optimizers per iteration (a GAN's
  generator and discriminator) thus count one step per iteration; the other optimizers are
  ignored. If that first optimizer is garbage-collected, the next one to step takes its place.
  With gradient accumulation a step is an optimizer step: that is what the program calls a step.

Asynchronous devices (CUDA, XPU, MPS): at the end of a step a device event is recorded on the
current stream and the agent's completion thread waits for it (then reads the loss), so step times
are device-honest and the program's thread never waits. On the CPU the loss is read on the spot
(about a microsecond) and no thread is involved.

Everything here runs inside the user's program: every patched function calls the original with
the same arguments and returns its result unchanged, and our own work runs under
`agent.guarded`, so a failure becomes a notice and that hook stands down.
"""
from __future__ import annotations

import atexit
import functools
import importlib
import os
import platform
import threading
import weakref
from typing import Any, Callable

from . import Agent, Framework
from .capture import CaptureBackend
from .clock import PRIORITY, Ready

ASYNC_DEVICES = ("cuda", "xpu", "mps")
OWN_MARK = "_stepscope_capture"  # set on the capture's own torch.profiler.profile: its step()/start() are not the program's
REFUSAL = ("the program runs its own torch.profiler, so Stepscope's capture window was skipped "
           "(its trace is the program's own)")
AUTOGRAD_REFUSAL = ("a PyTorch profiler (torch.autograd.profiler) is already running in the program, "
                    "so Stepscope's capture window was skipped")


def _as_float(tensor: Any) -> float | None:
    try:
        return float(tensor)
    except Exception:  # complex, or a tensor that cannot be read: no loss rather than a failure
        return None


def _on_agent_thread() -> bool:
    """Whether this is one of the agent's own threads (the capture timer, the completion thread)."""
    return threading.current_thread().name.startswith("stepscope-")


def _cpu_name() -> str:
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


class TorchHooks:
    """The state the patches share (one per process)."""

    def __init__(self, agent: Agent, torch: Any) -> None:
        self.agent = agent
        self.torch = torch
        self.down: set[str] = set()  # hooks that failed and stand down
        self.loss: Any = None  # detached last scalar tensor backward() was called on, since the last step
        self.optimizer: Callable[[], Any] | None = None  # weak reference to the first optimizer that stepped
        self.device_type: str | None = None  # of the optimizer's parameters
        self.device_index: int | None = None
        self.loader_batch: int | None = None
        self.user_profilers: set[int] = set()  # ids of the program's own started torch.profiler profiles
        self.user_scheduled: set[int] = set()  # ... those with a schedule (they will be stepped)
        self.user_profiler_seen = False
        self.deferred_steps = 0  # optimizer steps left to a scheduled profiler's prof.step() since its last call
        self.capture: TorchCapture | None = None
        self.pending = False  # the capture has work for the program's thread (a time window's start or stop)
        self._optim_priority = PRIORITY["torch.optim"]

    def run(self, name: str, function: Callable[..., Any], *args: Any) -> None:
        """Our part of a patched call: `function` returns True when done; anything else stands the hook down."""
        if name in self.down:
            return
        if self.agent.guarded(name, function, *args) is not True:
            self.down.add(name)

    # -- the program's calls -------------------------------------------------------------
    def backward_called(self, tensor: Any) -> bool:
        if tensor.numel() == 1:
            self.loss = tensor.detach()
        return True

    def loader_iterated(self, loader: Any) -> bool:
        batch = getattr(loader, "batch_size", None)
        self.loader_batch = batch if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else None
        return True

    def optimizer_stepped(self, optimizer: Any) -> bool:
        reference = self.optimizer
        first = reference() if reference is not None else None
        if first is not optimizer:
            if first is not None:
                return True  # another optimizer (a GAN's second one): only the first one counts steps
            self._adopt(optimizer)
        source = self.agent.clock.source
        if source is not None and PRIORITY.get(source, 99) < self._optim_priority:
            return True  # a higher source drives the steps (and reads the loss)
        if self.user_scheduled and self.deferred_steps < 1:
            # the program's own scheduled torch.profiler will be stepped: its prof.step() is the step (not
            # counted twice when it takes over); a second optimizer step without one means it is not stepped
            self.deferred_steps += 1
            return True
        self._end("torch.optim", type(optimizer).__name__)
        return True

    def profiler_stepped(self) -> bool:
        self.deferred_steps = 0
        self._end("torch.profiler", None)
        return True

    def profiler_starting(self, prof: Any) -> bool:
        self.user_profiler_seen = True
        capture = self.capture
        if capture is not None and capture.running:
            capture.abort("the program started its own torch.profiler")
        self.user_profilers.add(id(prof))
        if getattr(prof, "record_steps", False):
            self.user_scheduled.add(id(prof))
        return True

    def profiler_stopped(self, prof: Any) -> bool:
        self.user_profilers.discard(id(prof))
        self.user_scheduled.discard(id(prof))
        return True

    def capture_work(self) -> bool:
        capture = self.capture
        return capture.on_program_thread() if capture is not None else True

    def at_exit(self) -> None:
        capture = self.capture
        if capture is not None:
            self.agent.guarded("torch capture", capture.at_exit)

    # -- steps -----------------------------------------------------------------------------
    def _adopt(self, optimizer: Any) -> None:
        try:
            self.optimizer = weakref.ref(optimizer)
        except TypeError:  # not weakly referable (not a torch.optim.Optimizer subclass as such): keep it
            self.optimizer = lambda: optimizer
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                device = parameter.device
                self.device_type, self.device_index = device.type, device.index
                return

    def _end(self, source: str, what: str | None) -> None:
        tensor, self.loss = self.loss, None
        device = self.device_type
        if device not in ASYNC_DEVICES and tensor is not None and tensor.device.type in ASYNC_DEVICES:
            device = tensor.device.type
        if device is None and self.torch.cuda.is_initialized():
            device = "cuda"
        if device not in ASYNC_DEVICES:
            self.agent.end(source, loss=None if tensor is None else _as_float(tensor), what=what)
            return
        self.agent.end(source, ready=self._ready(str(device), tensor), what=what)

    def _ready(self, device: str, tensor: Any) -> Ready:
        """Record an event on the device's current stream now; the completion thread waits for it."""
        wait: Callable[[], Any] | None = None
        torch = self.torch
        if device == "cuda":
            if not torch.cuda.is_current_stream_capturing():  # no events inside a CUDA graph capture
                event = torch.cuda.Event()
                index = self.device_index if self.device_index is not None else torch.cuda.current_device()
                event.record(torch.cuda.current_stream(index))
                wait = event.synchronize
        else:
            module = getattr(torch, device, None)
            event_type = getattr(module, "Event", None)
            if event_type is not None:
                event = event_type()
                event.record()
                wait = event.synchronize

        def ready() -> float | None:
            if wait is not None:
                wait()
            return None if tensor is None else _as_float(tensor)
        return ready

    # -- what the agent asks ---------------------------------------------------------------
    def describe(self) -> Any:
        torch = self.torch
        optimizer = self.optimizer() if self.optimizer is not None else None
        count: int | None = None
        if optimizer is not None:
            count = sum(int(p.numel()) for group in optimizer.param_groups for p in group["params"])
        device, index = self.device_type, self.device_index
        if device is None:
            if self.loss is not None:
                device, index = self.loss.device.type, self.loss.device.index
            elif torch.cuda.is_initialized():
                device = "cuda"
        if device == "cuda" and torch.cuda.is_initialized():
            return {"device_kind": "gpu", "param_count": count,
                    "device_name": torch.cuda.get_device_name(torch.cuda.current_device() if index is None else index)}
        if device == "xpu" and getattr(torch, "xpu", None) is not None:
            name = torch.xpu.get_device_name(torch.xpu.current_device() if index is None else index)
            return {"device_kind": "gpu", "device_name": name, "param_count": count}
        if device == "mps":
            return {"device_kind": "gpu", "device_name": f"Apple MPS ({platform.machine() or 'arm64'})",
                    "param_count": count}
        if device not in (None, "cpu"):
            return {"device_kind": str(device), "device_name": str(device), "param_count": count}
        return {"device_kind": "cpu", "device_name": _cpu_name(), "param_count": count}


class TorchFramework(Framework):
    name = "torch"

    def __init__(self, hooks: TorchHooks) -> None:
        self.hooks = hooks
        self.version = str(getattr(hooks.torch, "__version__", ""))

    def describe(self) -> Any:
        return self.hooks.describe()

    def batch_hint(self) -> int | None:
        return self.hooks.loader_batch

    def capture_backend(self) -> CaptureBackend | None:
        if self.hooks.capture is None:
            self.hooks.capture = TorchCapture(self.hooks)
        return self.hooks.capture


class TorchCapture(CaptureBackend):
    """torch.profiler on for the capture window; `ProfilerStep#N` numbered as the run's steps.

    torch.profiler records the thread that starts it (its state is thread-local), so it must start
    and stop on the program's own thread. A step window does (the step hooks call in from there);
    a time window's start and stop come from the agent's timer thread, so they are deferred to the
    next PyTorch call we hook in the program (a backward, an optimizer step, a DataLoader epoch,
    prof.step()) or, for the stop, the program's exit; the file is then announced by us."""

    framework = "torch"

    def __init__(self, hooks: TorchHooks) -> None:
        self.hooks = hooks
        self.prof: Any = None
        self.first: int | None = None
        self.out_dir = ""
        self.files: list[tuple[str, str]] = []
        self.deferred: str | None = None  # "start" or "stop", for the program's thread to do
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.prof is not None or self.deferred == "start"

    def refusal(self) -> str | None:
        if self.hooks.user_profilers or self.hooks.agent.clock.source == "torch.profiler":
            return REFUSAL
        if self.hooks.torch.autograd._profiler_enabled():
            return REFUSAL if self.hooks.user_profiler_seen else AUTOGRAD_REFUSAL
        return None

    def start(self, out_dir: str, first_step: int | None) -> None:
        self.first, self.out_dir, self.files = first_step, out_dir, []
        if _on_agent_thread():
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
                self.deferred, self.hooks.pending = None, False
                self.hooks.agent.notice("no PyTorch backward, optimizer step or DataLoader batch ran on the program's "
                                        "thread during the time window, so there is no PyTorch trace")
                return []
            if self.prof is not None and _on_agent_thread():
                self.deferred, self.hooks.pending = "stop", True
                return []  # announced when the program's thread stops it (at its next PyTorch call, or at exit)
        return self._stop_now()

    def abort(self, why: str) -> None:
        """The program starts a profiler of its own inside our window: ours stops first (two cannot run)
        and its trace is written at once; the window's own stop later returns that file."""
        if self.deferred == "start":
            self.deferred, self.hooks.pending = None, False
            self.hooks.agent.notice(f"{why} as Stepscope's time window began, so Stepscope's capture was skipped")
            return
        step = self.prof.step_num if self.prof is not None else None
        files = self._stop_now()
        if self.deferred == "stop":
            self.deferred, self.hooks.pending = None, False
            self._announce(files)
        if self.first is None or step is None:
            self.hooks.agent.notice(f"{why} inside Stepscope's capture window, so the capture stopped there")
        else:
            self.hooks.agent.notice(f"{why} during step {step}, inside Stepscope's capture window, so the capture stopped "
                                    f"there (its trace holds steps {self.first}..{step - 1} and the start of step {step})")

    # -- the program's thread ----------------------------------------------------------------
    def on_program_thread(self) -> bool:
        """A hook in the program found deferred work: do it here, on the program's thread."""
        with self._lock:
            what, self.deferred, self.hooks.pending = self.deferred, None, False
        if what == "start":
            try:
                self._start_now()
            except Exception as exc:
                self.hooks.agent.notice(f"the torch profiler did not start ({type(exc).__name__}: {exc}); "
                                        "no trace for this run")
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
            self.deferred, self.hooks.pending = what, True

    def _announce(self, files: list[tuple[str, str]]) -> None:
        for kind, path in files:
            try:
                size = os.path.getsize(path)
            except OSError:
                continue
            self.hooks.agent.channel.emit("artifact", kind=kind, path=os.path.abspath(path), bytes=size)

    def _start_now(self) -> None:
        torch, first_step = self.hooks.torch, self.first
        profiler = importlib.import_module("torch.profiler")
        activities = [profiler.ProfilerActivity.CPU]
        if torch.cuda.is_initialized():  # never initialise CUDA ourselves
            activities.append(profiler.ProfilerActivity.CUDA)
        xpu = getattr(torch, "xpu", None)
        if hasattr(profiler.ProfilerActivity, "XPU") and xpu is not None and getattr(xpu, "is_initialized", bool)():
            activities.append(profiler.ProfilerActivity.XPU)
        options: Any = {"activities": activities, "record_shapes": True, "profile_memory": True,
                        "with_stack": bool(self.hooks.agent.plan.get("with_stack"))}
        if first_step is not None:  # a schedule that always records: torch then marks ProfilerStep#N
            record = profiler.ProfilerAction.RECORD
            options["schedule"] = lambda step: record
        prof = profiler.profile(**options)
        setattr(prof, OWN_MARK, True)
        if first_step is not None:
            prof.step_num = first_step
        prof.start()
        self.prof = prof

    def _stop_now(self) -> list[tuple[str, str]]:
        prof, self.prof = self.prof, None
        if prof is None:
            return self.files
        prof.stop()
        if self.first is not None:
            name = f"torch-steps-{self.first}-{prof.step_num}.trace.json.gz"
        else:
            name = f"torch-time-{os.getpid()}.trace.json.gz"
        path = os.path.join(self.out_dir, name)
        prof.export_chrome_trace(path)  # gzipped: the name ends in .gz
        self.files = [("chrome-trace", path)]
        return self.files


def _wrap(original: Callable[..., Any], around: Callable[..., Any]) -> Callable[..., Any]:
    patched = functools.wraps(original)(around)
    patched.__stepscope_original__ = original  # type: ignore[attr-defined]
    return patched


def install(agent: Agent, torch: Any) -> None:
    hooks = TorchHooks(agent, torch)
    run = hooks.run
    optim = importlib.import_module("torch.optim.optimizer")
    profiler = importlib.import_module("torch.profiler.profiler")
    data = importlib.import_module("torch.utils.data")

    backward = torch.Tensor.backward

    def patched_backward(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = backward(self, *args, **kwargs)
        if hooks.pending:
            run("torch capture", hooks.capture_work)
        run("loss (Tensor.backward)", hooks.backward_called, self)
        return result
    torch.Tensor.backward = _wrap(backward, patched_backward)

    profile = profiler.profile
    step, start, stop = profile.step, profile.start, profile.stop

    def patched_step(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = step(self, *args, **kwargs)
        if not getattr(self, OWN_MARK, False):
            if hooks.pending:
                run("torch capture", hooks.capture_work)
            run("torch.profiler step", hooks.profiler_stepped)
        return result

    def patched_start(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not getattr(self, OWN_MARK, False):
            run("torch.profiler start", hooks.profiler_starting, self)
        return start(self, *args, **kwargs)

    def patched_stop(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = stop(self, *args, **kwargs)
        if not getattr(self, OWN_MARK, False):
            run("torch.profiler stop", hooks.profiler_stopped, self)
        return result
    profile.step = _wrap(step, patched_step)
    profile.start = _wrap(start, patched_start)  # __enter__ calls start()
    profile.stop = _wrap(stop, patched_stop)  # __exit__ calls stop()

    loader_iter = data.DataLoader.__iter__

    def patched_iter(self: Any, *args: Any, **kwargs: Any) -> Any:
        if hooks.pending:
            run("torch capture", hooks.capture_work)
        run("DataLoader batch size", hooks.loader_iterated, self)
        return loader_iter(self, *args, **kwargs)
    data.DataLoader.__iter__ = _wrap(loader_iter, patched_iter)

    register = getattr(optim, "register_optimizer_step_post_hook", None)
    if register is None:
        version = getattr(torch, "__version__", "?")
        agent.notice(f"this torch ({version}) has no global optimizer step hook; optimizer steps are not detected",
                     once="torch.optim hook")
    else:
        def optimizer_hook(optimizer: Any, args: Any, kwargs: Any) -> None:
            if hooks.pending:
                run("torch capture", hooks.capture_work)
            run("torch.optim step", hooks.optimizer_stepped, optimizer)
        register(optimizer_hook)

    atexit.register(hooks.at_exit)
    agent.register(TorchFramework(hooks))  # last: with --steps 0:B the capture starts here
