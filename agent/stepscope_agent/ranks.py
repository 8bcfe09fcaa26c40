"""Ranks of a distributed job (docs/programs.md, "Multi-rank programs"): which process is a rank,
and its own stream to the controller.

A job's ranks are rarely the controller's direct child: torchrun starts them with subprocess
(descriptors closed), a JAX launcher or a shell starts several Pythons. So besides the passed
event pipe, the controller listens on a Unix socket whose path is `STEPSCOPE_RANKS`; each rank
connects a stream of its own, tags every event with its `rank`, and reads capture requests back
on the same stream. A process is a rank when its environment says so at start (`RANK` and
`WORLD_SIZE`, as torchrun and most launchers set them; `JAX_PROCESS_ID`, `JAX_NUM_PROCESSES`) or
once the program calls `torch.distributed.init_process_group` or `jax.distributed.initialize`.
The first process of a rank claims it (`STEPSCOPE_RANK_OWNER`): processes it starts (spawned data
workers inherit `RANK`) stay silent. A launcher (torchrun itself) is never a rank and runs no agent.

Standard library only; the framework modules come from the import watcher.
"""
from __future__ import annotations

import functools
import json
import os
import socket
import sys
from types import ModuleType
from typing import Any, Callable

RANKS_VARIABLE = "STEPSCOPE_RANKS"
OWNER_VARIABLE = "STEPSCOPE_RANK_OWNER"
LAUNCHER_MODULES = ("torch.distributed.run", "torch.distributed.launch")
LAUNCHER_SCRIPTS = ("torchrun",)

RankInfo = tuple[int, int]  # (rank, world size)
OnRank = Callable[[int, int], None]


def _int(text: Any) -> int | None:
    try:
        value = int(str(text))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def env_rank(environ: Any = None) -> RankInfo | None:
    """(rank, world size) from the environment a launcher set, or None."""
    env = os.environ if environ is None else environ
    for rank_key, world_key in (("RANK", "WORLD_SIZE"), ("JAX_PROCESS_ID", "JAX_NUM_PROCESSES")):
        rank, world = _int(env.get(rank_key)), _int(env.get(world_key))
        if rank is not None and world is not None and rank < world:
            return rank, world
    return None


def is_launcher(argv: list[str] | None = None) -> bool:
    """Whether this process is a job launcher (torchrun, python -m torch.distributed.run): it starts
    the ranks and runs none of the training itself, so it is no step source."""
    args = list(getattr(sys, "orig_argv", None) or sys.argv) if argv is None else list(argv)
    for i, arg in enumerate(args[1:], start=1):
        if arg == "-m" and i + 1 < len(args):
            return args[i + 1] in LAUNCHER_MODULES
        if arg.startswith("-m") and len(arg) > 2:
            return arg[2:] in LAUNCHER_MODULES
        if not arg.startswith("-"):
            return os.path.basename(arg) in LAUNCHER_SCRIPTS
    return bool(args) and os.path.basename(args[0]) in LAUNCHER_SCRIPTS


def owned_elsewhere(environ: Any = None) -> bool:
    """Whether another process of this job already claimed the rank this process would be (a spawned child)."""
    owner = (os.environ if environ is None else environ).get(OWNER_VARIABLE)
    return bool(owner) and owner != str(os.getpid())


def claim(environ: Any = None) -> None:
    (os.environ if environ is None else environ)[OWNER_VARIABLE] = str(os.getpid())


def connect(path: str) -> socket.socket | None:
    """This rank's stream to the controller, or None (no controller listening: the rank stays silent)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    os.set_inheritable(sock.fileno(), False)
    return sock


def end_line(error: str | None) -> bytes:
    """The last line of a rank's stream: it ended on its own (with the program's uncaught exception, if any),
    so the controller tells a rank that exited from one that died (its stream ends without this line)."""
    return (json.dumps({"end": True, "error": error}) + "\n").encode("utf-8")


def uncaught_error() -> str | None:
    """The exception that ended the program, when one did (read at exit: Python sets sys.last_value then)."""
    value = getattr(sys, "last_value", None)
    if value is None or isinstance(value, (SystemExit, KeyboardInterrupt)):
        return None
    return f"{type(value).__name__}: {value}"[:500]


# -- learning the rank from the program's own calls --------------------------------------------------
def _torch_rank(torch: Any) -> RankInfo | None:
    dist = getattr(torch, "distributed", None)
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return int(dist.get_rank()), int(dist.get_world_size())


def _jax_rank(jax: Any) -> RankInfo | None:
    count = int(jax.process_count())
    return (int(jax.process_index()), count) if count > 1 else None


def watch_initializers(module_name: str, module: ModuleType, on_rank: OnRank) -> None:
    """Wrap the framework's distributed initialiser so that, once it has returned, `on_rank(rank, world)`
    hears which rank this process is. The program's call, arguments and result are unchanged."""
    learners: dict[str, tuple[str, Callable[[Any], RankInfo | None]]] = {
        "torch": ("init_process_group", _torch_rank), "jax": ("initialize", _jax_rank)}
    if module_name not in learners:
        return
    name, learn = learners[module_name]
    holder = getattr(module, "distributed", None)
    original = getattr(holder, name, None) if holder is not None else None
    if original is None or getattr(original, "_stepscope_rank", False):
        return

    @functools.wraps(original)
    def initialise(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        try:
            learned = learn(module)
        except Exception:
            learned = None
        if learned is not None:
            on_rank(*learned)
        return result

    initialise._stepscope_rank = True  # type: ignore[attr-defined]
    setattr(holder, name, initialise)
