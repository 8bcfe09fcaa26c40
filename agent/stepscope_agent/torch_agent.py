"""PyTorch hooks (docs/programs.md): steps from the program's own `torch.profiler` steps or from
its optimizer steps, the loss from the last scalar `backward()`, the device and parameter count
from the optimizer's parameters, the batch size from the DataLoader. The capture window, and
living alongside the program's own profilers, is torch_capture.py's.

Step sources:

* `torch.profiler` -- each `prof.step()` the program calls on its own profiler (never the calls
  our capture profiler makes) ends a step. Where the program also steps an optimizer, the first
  optimizer step has already ended step 0 when `prof.step()` first fires: that first
  `prof.step()` is only the boundary where it takes over (the clock's rule), so no step is
  counted twice.
* `torch.optim` -- each step of the FIRST optimizer instance that steps ends a step (a global
  optimizer step post hook). Programs that step several optimizers per iteration (a GAN's
  generator and discriminator) thus count one step per iteration; the other optimizers are
  ignored. If that first optimizer is garbage-collected, the next one to step takes its place.
  With gradient accumulation a step is an optimizer step: that is what the program calls a step.

Asynchronous devices (CUDA, XPU, MPS): at the end of a step a device event is recorded on the
current stream and the agent's completion thread waits for it (then reads the loss), so step times
are device-honest and the program's thread never waits. On the CPU the loss is read on the spot
(about a microsecond) and no thread is involved.

Cost: the patched `Tensor.backward` runs on every backward, so it only keeps a reference to a
scalar tensor (no agent call, and no `detach()` unless retain_graph / create_graph keep the graph
alive); the loss is read, or detached for the completion thread, once per step.

Everything here runs inside the user's program: every patched function calls the original with
the same arguments and returns its result unchanged, and our own work is guarded, so a failure
becomes a notice and that hook stands down.
"""
from __future__ import annotations

import atexit
import functools
import importlib
import platform
import weakref
from typing import Any, Callable

from . import Agent, Framework, cpu_name
from .capture import CaptureBackend
from .clock import PRIORITY, Ready
from .torch_capture import OWN_MARK, TorchCapture

ASYNC_DEVICES = ("cuda", "xpu", "mps")
LOSS_HOOK = "loss (Tensor.backward)"
OPTIM_HOOK = "torch.optim step"


def _as_float(tensor: Any) -> float | None:
    """A one-element tensor's value; item(), not float(): that warns on a tensor that requires grad."""
    try:
        return float(tensor.item())
    except Exception:  # complex, or a tensor that cannot be read: no loss rather than a failure
        return None


def _reraise(exc: Exception) -> None:
    raise exc


class TorchHooks:
    """The state the patches share (one per process)."""

    def __init__(self, agent: Agent, torch: Any) -> None:
        self.agent = agent
        self.torch = torch
        self.down: set[str] = set()  # hooks that failed and stand down
        self.loss: Any = None  # the last scalar tensor backward() was called on, since the last step
        self.optimizer: Callable[[], Any] | None = None  # weak reference to the first optimizer that stepped
        self.device_type: str | None = None  # of the optimizer's parameters
        self.device_index: int | None = None
        self.loader_batch: int | None = None
        self.capture = TorchCapture(agent, torch)
        self._optim_priority = PRIORITY["torch.optim"]

    def run(self, name: str, function: Callable[..., Any], *args: Any) -> None:
        """Our part of a patched call: `function` returns True when done; anything else stands the hook down."""
        if name in self.down:
            return
        try:
            if function(*args) is True:
                return
        except Exception as exc:
            self.failed(name, exc)
            return
        self.down.add(name)

    def failed(self, name: str, exc: Exception) -> None:
        """Hook `name` raised: it stands down, with the agent's notice (once per hook)."""
        self.down.add(name)
        self.agent.guarded(name, _reraise, exc)

    # -- the program's calls -------------------------------------------------------------
    def backward_called(self, tensor: Any, keeps_graph: bool = False) -> bool:
        """Every backward (inlined in the patch): a reference is enough once backward has freed the graph."""
        if tensor.numel() == 1:
            self.loss = tensor.detach() if keeps_graph else tensor
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
        self._end("torch.optim", type(optimizer).__name__)
        return True

    def profiler_stepped(self) -> bool:
        self._end("torch.profiler", None)
        return True

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
        if device not in ASYNC_DEVICES and tensor is not None and not getattr(tensor, "is_cpu", False) \
                and tensor.device.type in ASYNC_DEVICES:  # parameters on the CPU, the loss on a GPU (offloading)
            device = tensor.device.type
        if device is None and self.torch.cuda.is_initialized():
            device = "cuda"
        if device not in ASYNC_DEVICES:
            self.agent.end(source, loss=None if tensor is None else _as_float(tensor), what=what)
            return
        # detached: a queued step holds the value only, never the graph (retain_graph=True keeps one alive)
        self.agent.end(source, ready=self._ready(str(device), None if tensor is None else tensor.detach()), what=what)

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
        return {"device_kind": "cpu", "device_name": cpu_name(), "param_count": count}


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
        return self.hooks.capture

    def device_memory(self) -> tuple[int, int, str] | None:
        """The CUDA caching allocator's figures for the device the optimizer steps on (as the built-in
        worker reports them); None elsewhere. Called off the program's thread, never before CUDA is up."""
        hooks, torch = self.hooks, self.hooks.torch
        if hooks.device_type != "cuda" or not torch.cuda.is_initialized():
            return None
        index = torch.cuda.current_device() if hooks.device_index is None else hooks.device_index
        return int(torch.cuda.memory_allocated(index)), int(torch.cuda.max_memory_allocated(index)), "torch.cuda"


def _wrap(original: Callable[..., Any], around: Callable[..., Any]) -> Callable[..., Any]:
    patched = functools.wraps(original)(around)
    patched.__stepscope_original__ = original  # type: ignore[attr-defined]
    return patched


def install(agent: Agent, torch: Any) -> None:
    hooks = TorchHooks(agent, torch)
    capture, run, down = hooks.capture, hooks.run, hooks.down
    optim = importlib.import_module("torch.optim.optimizer")
    profiler = importlib.import_module("torch.profiler.profiler")
    data = importlib.import_module("torch.utils.data")

    backward = torch.Tensor.backward

    def patched_backward(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = backward(self, *args, **kwargs)
        if capture.pending:
            run("torch capture", capture.on_program_thread)
        if LOSS_HOOK not in down:  # run(LOSS_HOOK, hooks.backward_called, ...) inlined: every backward pays this
            try:
                if self.numel() == 1:  # retain_graph / create_graph keep the graph: then the value only
                    hooks.loss = self.detach() if args or kwargs else self
            except Exception as exc:
                hooks.failed(LOSS_HOOK, exc)
        return result
    torch.Tensor.backward = _wrap(backward, patched_backward)

    profile = profiler.profile
    step, start, stop = profile.step, profile.start, profile.stop

    def patched_step(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = step(self, *args, **kwargs)
        if not getattr(self, OWN_MARK, False):
            if capture.pending:
                run("torch capture", capture.on_program_thread)
            run("torch.profiler step", hooks.profiler_stepped)
        return result

    def patched_start(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not getattr(self, OWN_MARK, False):
            run("torch.profiler start", capture.program_profiler_starting, self)
        return start(self, *args, **kwargs)

    def patched_stop(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = stop(self, *args, **kwargs)
        if not getattr(self, OWN_MARK, False):
            run("torch.profiler stop", capture.program_profiler_stopped, self)
        return result
    profile.step = _wrap(step, patched_step)
    profile.start = _wrap(start, patched_start)  # __enter__ calls start()
    profile.stop = _wrap(stop, patched_stop)  # __exit__ calls stop()

    loader_iter = data.DataLoader.__iter__

    def patched_iter(self: Any, *args: Any, **kwargs: Any) -> Any:
        if capture.pending:
            run("torch capture", capture.on_program_thread)
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
            if capture.pending:
                run("torch capture", capture.on_program_thread)
            if OPTIM_HOOK not in down:  # run() inlined: every optimizer step pays this
                try:
                    hooks.optimizer_stepped(optimizer)
                except Exception as exc:
                    hooks.failed(OPTIM_HOOK, exc)
        register(optimizer_hook)

    atexit.register(agent.guarded, "torch capture", capture.at_exit)
    agent.register(TorchFramework(hooks))  # last: with --steps 0:B the capture starts here
