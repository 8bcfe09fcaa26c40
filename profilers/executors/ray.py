"""The Ray executor: each run's worker runs on a node of a Ray cluster, behind the remote shim,
inside a Ray actor (`ray_actor.RunHost`) that reserves the run's resources (`--gpus-per-run`).

`--on ray` starts a Ray runtime in this process (its nodes are this machine); `ray:auto` joins
the cluster this machine is part of and `ray://HOST:PORT` one reached through Ray Client (a
laptop's way in). Joining a cluster uploads the project's code (Ray's `working_dir`, without the
virtual environment); the cluster's Python must have the frameworks. The actor's output is copied
into local pipes by a relay thread that long-polls it, so the controller reads a Ray worker
exactly as it reads a local one. An actor that dies (its process killed, its node lost) ends the
pipes, `lost()` says why, and the controller ends the run `interrupted`; the shim on the node sees
its stdin end and stops the worker.

Ray is imported only here, and only when a target names it: the app's process never starts it.
"""
from __future__ import annotations

import logging
import math
import os
import platform
import signal as signals
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import ray
import ray._private.auto_init_hook
from ray.exceptions import ActorUnavailableError, RayActorError

from profilers.executors.base import ExecutorError, LaunchError
from profilers.executors.ray_actor import RunHost
from profilers.executors.remote_paths import local_copy_path
from profilers.remote_shim import OUT_DIR_TOKEN, PYTHON_TOKEN

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
TAKE_WAIT_S = 0.5  # a long poll's longest wait; it returns at once when the shim writes
FETCH_CHUNK = 8 << 20
UNAVAILABLE_GRACE_S = 60.0  # an actor Ray calls unavailable (a network blip) gets this long to return
KILL_WAIT_S = 10.0  # after SIGKILL, how long an unresponsive actor gets before Ray kills it
LOST_RETURNCODE = -1
ACTOR_CONCURRENCY = 4  # the long poll, control lines, a signal and a fetch at once
# What a cluster needs of the project: its code, not the environment, caches or test data.
UPLOAD_EXCLUDES = [".venv/", ".git/", ".mypy_cache/", ".ruff_cache/", "__pycache__/", "tests/", "resources/",
                   "bench/", "gui/", "docs/", "runs/", "*.stepscope", "*.stepscope-wal", "*.stepscope-shm"]

# Ray's calls start a runtime of their own when none is joined (RAY_ENABLE_AUTO_CONNECT, read
# when Ray is imported); after a lost cluster that would hang a run on a dead address instead.
ray._private.auto_init_hook.enable_auto_connect = False

# Which cluster this process joined: Ray allows one connection per process.
_joined: dict[str, str | None] = {}
_join_lock = threading.Lock()


def parse_target(text: str) -> str | None:
    """The Ray address an `--on` target names: None for a runtime of our own (`ray`), `auto` for
    this machine's cluster (`ray:auto`), `ray://HOST:PORT` for Ray Client."""
    if text == "ray":
        return None
    if text == "ray:auto":
        return "auto"
    if text.startswith("ray://") and len(text) > len("ray://"):
        return text
    raise ExecutorError(f"cannot read the Ray target {text!r}: use ray, ray:auto or ray://HOST:PORT")


def join(address: str | None, num_cpus: int | None = None) -> None:
    """Start a local Ray runtime (`address` None) or join a cluster, once per process; ExecutorError
    (one line) when the cluster is not there, or this process is already on another one."""
    with _join_lock:
        if "address" in _joined:
            if _joined["address"] != address:
                raise ExecutorError(f"this process is already on the Ray cluster {_describe(_joined['address'])}; "
                                    f"it cannot also join {_describe(address)}")
            return
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR, "namespace": "stepscope"}
        if address is None:
            options.update(address="local", num_cpus=num_cpus, include_dashboard=False,
                           runtime_env={"env_vars": {"PYTHONPATH": str(PROJECT_ROOT)}})
        else:
            options.update(address=address, runtime_env={"working_dir": str(PROJECT_ROOT), "excludes": UPLOAD_EXCLUDES})
        try:
            with warnings.catch_warnings():  # Ray Client warns before it raises: one line is enough
                warnings.simplefilter("ignore")
                ray.init(**options)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, grpc's errors...
            raise ExecutorError(f"cannot reach {_describe(address)}: {_one_line(exc)}") from None
        _joined["address"] = address


def leave() -> None:
    """Disconnect (and stop a runtime of our own); for tests and benches, which start several."""
    with _join_lock:
        if _joined.pop("address", "none") != "none":
            ray.shutdown()


class RayLaunched:
    """A worker inside `actor` on some node; a relay thread copies its output into local pipes."""

    local_pid: int | None = None
    remote = True
    control_fd: int | None

    def __init__(self, actor: Any, where: dict[str, Any]) -> None:
        self._actor = actor
        self._host = str(where.get("hostname") or "a Ray node")
        self._remote_out_dir = str(where["out_dir"])
        self._returncode: int | None = None
        self._lost: str | None = None
        self._done = threading.Event()
        self._closed = False
        self._close_lock = threading.Lock()
        out_r, self._out_w = os.pipe()
        err_r, self._err_w = os.pipe()
        self._control_r, control_w = os.pipe()
        self.stdout_fd, self.stderr_fd, self.control_fd = out_r, err_r, control_w
        for target, name in ((self._relay, "relay"), (self._forward_control, "control")):
            threading.Thread(target=target, name=f"stepscope-ray-{name}", daemon=True).start()

    def _relay(self) -> None:
        """Poll the actor until the shim has ended, writing what it sent into the pipes."""
        unavailable_since: float | None = None
        try:
            while True:
                try:
                    out, err, code, shim_code = ray.get(self._actor.take.remote(TAKE_WAIT_S))
                    unavailable_since = None
                except ActorUnavailableError as exc:  # maybe a blip: the actor may come back
                    unavailable_since = unavailable_since or time.monotonic()
                    if time.monotonic() - unavailable_since < UNAVAILABLE_GRACE_S:
                        continue
                    self._lost = f"the Ray actor running the worker on {self._host} stayed unreachable ({_one_line(exc)})"
                    break
                except RayActorError as exc:
                    self._lost = f"the Ray actor running the worker on {self._host} died ({_actor_death(exc)})"
                    break
                except Exception as exc:  # Ray Client's connection, Ray's own system errors
                    self._lost = f"the connection to the Ray cluster was lost ({_one_line(exc)})"
                    break
                _write_all(self._out_w, out)
                _write_all(self._err_w, err)
                if shim_code is not None:
                    if code is None:
                        self._lost = (f"the remote shim on {self._host} ended ({_exit_text(shim_code)}) "
                                      "before the worker's exit was known")
                    self._returncode = code
                    break
        except OSError:  # the controller closed its ends: nobody is listening any more
            pass
        finally:
            for fd in (self._out_w, self._err_w):
                _close(fd)
            if self._returncode is None:
                self._returncode = LOST_RETURNCODE
            self._done.set()

    def _forward_control(self) -> None:
        """Control lines the controller writes to `control_fd`, passed to the shim's stdin."""
        while chunk := _read(self._control_r):
            try:
                self._actor.write.remote(chunk)
            except Exception:
                break  # the actor is gone: the relay's lost() says so
        _close(self._control_r)

    # -- Launched ----------------------------------------------------------------------
    def poll(self) -> int | None:
        return self._returncode if self._done.is_set() else None

    def signal(self, sig: int) -> None:
        """To the worker's process group through the shim; an actor that cannot take even a
        SIGKILL within KILL_WAIT_S is killed by Ray (its node is gone or hung)."""
        if self._done.is_set() or self._closed:
            return
        try:
            self._actor.signal.remote(int(sig))
        except Exception:
            return
        if sig == signals.SIGKILL:
            timer = threading.Timer(KILL_WAIT_S, self._kill_if_running)
            timer.daemon = True
            timer.start()

    def _kill_if_running(self) -> None:
        if not self._done.is_set():
            _kill(self._actor)

    def fetch(self, path: str, local_dir: Path) -> Path:
        local = local_copy_path(path, self._remote_out_dir, local_dir)
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            with local.open("wb") as f:
                while True:
                    chunk: bytes = ray.get(self._actor.read.remote(path, f.tell(), FETCH_CHUNK))
                    f.write(chunk)
                    if len(chunk) < FETCH_CHUNK:
                        break
        except Exception as exc:  # the actor's OSError arrives wrapped in a RayTaskError
            raise LaunchError(f"could not copy {path} from {self._host}: {_one_line(exc)}") from None
        return local

    def lost(self) -> str | None:
        return self._lost

    def close(self) -> None:
        """Stop the shim (its stdin ends), drop the actor and its node-side files, close the pipes."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            ray.get(self._actor.close.remote(), timeout=KILL_WAIT_S)
        except Exception:
            pass  # already dead, or hung: Ray's kill below ends it either way
        _kill(self._actor)
        for fd in (self.stdout_fd, self.stderr_fd, self.control_fd):
            if fd is not None:
                _close(fd)


class RayExecutor:
    """Runs each worker in an actor of its own on a Ray cluster; `for_run()` gives one run's
    executor (its placement names the node that run landed on)."""

    name = "ray"

    def __init__(self, address: str | None = None, *, gpus_per_run: float = 0, cpus_per_run: float = 1) -> None:
        self.address = address
        self.gpus_per_run = gpus_per_run
        self.cpus_per_run = cpus_per_run
        self._host: str | None = None

    @classmethod
    def from_target(cls, text: str, num_cpus: int | None = None) -> RayExecutor:
        """`ray`, `ray:auto` or `ray://HOST:PORT`, joined now so a missing cluster is said at once."""
        address = parse_target(text)
        join(address, num_cpus)
        return cls(address)

    def for_run(self) -> RayExecutor:
        return RayExecutor(self.address, gpus_per_run=self.gpus_per_run, cpus_per_run=self.cpus_per_run)

    def placement(self) -> dict[str, Any]:
        return {"executor": "ray", "host": self._host, "cluster": self.address or "local",
                "gpus_per_run": self.gpus_per_run, "cpus_per_run": self.cpus_per_run}

    def slots(self) -> int:
        """How many runs the cluster holds at once, by the resources each run reserves."""
        total: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        fits = [total.get("CPU", 0.0) / self.cpus_per_run if self.cpus_per_run else math.inf,
                total.get("GPU", 0.0) / self.gpus_per_run if self.gpus_per_run else math.inf]
        return max(1, int(min(fits))) if min(fits) != math.inf else 1

    def launch(self, command: list[str], *, env: dict[str, str], run_id: str, out_dir: Path) -> RayLaunched:
        self._check_fits()
        argv = [PYTHON_TOKEN if index == 0 and arg == sys.executable else OUT_DIR_TOKEN if arg == str(out_dir) else arg
                for index, arg in enumerate(command)]
        actor = _host_class().options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run,
                                      max_concurrency=ACTOR_CONCURRENCY, max_restarts=0,
                                      name=f"stepscope-{run_id}").remote()
        try:
            where: dict[str, Any] = ray.get(actor.start.remote(argv, env, platform.node()))
        except Exception as exc:
            _kill(actor)
            raise LaunchError(f"could not start the worker on {_describe(self.address)}: {_one_line(exc)}") from None
        self._host = str(where.get("hostname"))
        return RayLaunched(actor, where)

    def _check_fits(self) -> None:
        """A run no node can ever hold would wait for ever: say so instead."""
        needs = {"CPU": self.cpus_per_run, "GPU": self.gpus_per_run}
        alive = [node for node in ray.nodes() if node.get("Alive")]  # type: ignore[no-untyped-call]
        nodes = [node.get("Resources", {}) for node in alive]
        if any(all(res.get(key, 0.0) >= want for key, want in needs.items() if want) for res in nodes):
            return
        most = {key: max((res.get(key, 0.0) for res in nodes), default=0.0) for key in needs}
        raise LaunchError(f"no node of {_describe(self.address)} has {self.gpus_per_run:g} GPU(s) and "
                          f"{self.cpus_per_run:g} CPU(s) for a run (the largest has {most['GPU']:g} GPU(s), "
                          f"{most['CPU']:g} CPU(s))")


_host_classes: list[Any] = []


def _host_class() -> Any:
    """`RunHost` as a Ray actor class, made once per process."""
    if not _host_classes:
        _host_classes.append(ray.remote(RunHost))
    return _host_classes[0]


def _describe(address: str | None) -> str:
    return "the local Ray runtime" if address is None else f"the Ray cluster at {address}"


def _actor_death(exc: BaseException) -> str:
    """Ray's long message reduced to the sentence that says why the actor died."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    why = next((line for line in lines if line.startswith("The actor is dead because") or "node" in line.lower()), None)
    return (why or (lines[0] if lines else type(exc).__name__)).split(" Worker exit detail")[0]


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:300]}" if lines else type(exc).__name__


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signals.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _kill(actor: Any) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception:
        pass  # already gone


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
