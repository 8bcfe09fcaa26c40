"""RunController: spawns a worker per run, validates its stream, and turns every way a worker
can fail into a failed run with a reason a person can act on.

Nothing a worker does raises out of the controller: a malformed line, an `error` event, a
signal (segfault, abort, OOM kill), a non-zero exit or a hang past the progress timeout all
end as `RunResult(status="failed", reason=...)`, with every event received before kept. Where
the worker runs is its executor's business (profilers.executors, docs/executors.md): a
connection or node lost on the way ends the run `interrupted`, its events likewise kept.
"""
from __future__ import annotations

import json
import logging
import os
import select
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic

from typing_extensions import TypeVar

from profilers.control_socket import CaptureControl, CaptureRefused, ControlServer
from profilers.executors.base import Executor, Launched, LaunchError
from profilers.executors.local import LocalExecutor
from profilers.host_monitor import HostMonitor
from profilers.protocol import ProtocolError, parse_line
from profilers.stream_pump import pump, yield_to_workload
from profilers.summary import others_cpu_percent, summarize
from workloads.program import ProgramSpec
from workloads.spec import RunSpec

log = logging.getLogger("stepscope.profilers")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROGRESS_TIMEOUT_S = 600.0
CANCEL_GRACE_S = 5.0
WAIT_POLL_S = 0.5  # how often wait() checks the grace period and the progress timeout
EXIT_POLL_S = 0.02  # once the event stream has ended, for the worker's exit
READER_JOIN_S = 5.0  # how long the end of a run waits for its stream readers before it returns
LOG_LIMIT_BYTES = 4 << 20  # the run log keeps its last 4 MiB

SIGNAL_MEANING: dict[int, str] = {
    signal.SIGSEGV: "crashed with a segmentation fault in native code",
    signal.SIGABRT: "aborted (SIGABRT), usually a failed assertion in a native library",
    signal.SIGKILL: "was killed (SIGKILL), most often by the kernel's out-of-memory killer; try a smaller --batch-size",
    signal.SIGBUS: "crashed with a bus error in native code",
    signal.SIGFPE: "crashed with a floating-point exception in native code",
    signal.SIGILL: "crashed on an illegal instruction (a wheel built for a newer CPU?)",
}

ON_EVENT = Callable[[dict[str, Any]], None]
# What was run: a built-in workload (RunSpec, the default) or a user's program (ProgramSpec,
# profilers.program_runner), so a plain `RunResult` / `RunController` is a worker's.
SpecT = TypeVar("SpecT", bound=RunSpec | ProgramSpec, default=RunSpec)


@dataclass
class RunResult(Generic[SpecT]):
    run_id: str
    spec: SpecT
    status: str  # "ok", "failed", "cancelled" or "interrupted" (the connection to the worker was lost)
    reason: str | None
    events: list[dict[str, Any]]
    log: str
    returncode: int | None
    out_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)


def new_run_id() -> str:
    """Sortable by start time, unique without coordination: 20261125-143301-3f9a1c."""
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def worker_command(spec: RunSpec, out_dir: Path, clock_origin: float | None = None) -> list[str]:
    command = [sys.executable, "-m", "profilers.worker", "--spec-json", json.dumps(spec.to_dict()), "--out-dir", str(out_dir)]
    if clock_origin is not None:
        command += ["--clock-origin", repr(clock_origin)]
    return command


class RunController(Generic[SpecT]):
    """Supervises one worker (a user's program: the subclass ProgramController, in
    profilers.program_runner). `start()` then `wait()`, or `run()` for both; `cancel()` from
    any thread. `on_event` is called from the reader thread for each valid event, and for the
    `sample` events the host monitor makes there (for a worker on another machine, its shim's);
    the worker's `device` events are folded into those samples and not passed on. `executor`
    says where the worker runs (default: here); the `hello` event carries its `placement`."""

    spec: SpecT
    _who = "the worker"  # how reasons name the supervised process

    def __init__(
        self: RunController[RunSpec], spec: RunSpec, out_dir: Path | None = None, on_event: ON_EVENT | None = None,
        progress_timeout: float = DEFAULT_PROGRESS_TIMEOUT_S, command: Sequence[str] | None = None,
        run_id: str | None = None, executor: Executor | None = None,
    ) -> None:
        self.spec = self._worker_spec = spec.resolved()
        self._command = list(command) if command else None
        self._init_state(run_id, out_dir, on_event, progress_timeout, executor)

    def _init_state(self, run_id: str | None, out_dir: Path | None, on_event: ON_EVENT | None,
                    progress_timeout: float, executor: Executor | None = None) -> None:
        self.executor: Executor = executor or LocalExecutor()
        self.run_id = run_id or new_run_id()
        self.out_dir = out_dir or Path(tempfile.mkdtemp(prefix=f"stepscope-{self.run_id}-"))
        self._on_event = on_event
        self.progress_timeout = progress_timeout
        self.events: list[dict[str, Any]] = []
        self._log = bytearray()
        self._log_lock = threading.Lock()
        self._launched: Launched | None = None
        self._failure: str | None = None
        self._lost: str | None = None  # why the connection to a remote worker was lost
        self._fetched: dict[str, str] = {}  # a remote worker's artifact paths -> their copies here
        self._cancelled = threading.Event()
        self._wake = threading.Event()  # cuts wait()'s sleep short: cancel, failure, end of stream
        self._stream_ended = False
        self._last_progress = time.monotonic()
        self._threads: list[threading.Thread] = []
        self.monitor: HostMonitor | None = None
        self._captures = CaptureControl()  # capture on demand (docs/capture.md)
        self._control_server: ControlServer | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self._last_progress = time.monotonic()
        clock_origin = time.perf_counter()  # the worker's t = 0, shared so that the monitor's samples line up
        command = self._command or worker_command(self._worker_spec, self.out_dir, clock_origin)
        try:
            self._launched = self.executor.launch(command, env={"PYTHONUNBUFFERED": "1"}, run_id=self.run_id,
                                                  out_dir=self.out_dir)
        except LaunchError as exc:
            self._fail(str(exc))
            return
        if self._launched.local_pid is not None:  # a remote worker's samples come in its stream
            self.monitor = HostMonitor(self._launched.local_pid, clock_origin)
        for target, name in ((self._read_events, "events"), (self._read_log, "log")):
            thread = threading.Thread(target=target, name=f"stepscope-{name}-{self.run_id}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._open_control()

    def run(self) -> RunResult[SpecT]:
        self.start()
        return self.wait()

    def cancel(self) -> None:
        """Stop the worker: SIGTERM (its profiler stops cleanly), SIGKILL after a grace period."""
        self._cancelled.set()
        self._signal(signal.SIGTERM)
        self._wake.set()

    def wait(self) -> RunResult[SpecT]:
        launched = self._launched
        cancel_sent: float | None = None
        while launched is not None and launched.poll() is None:
            # Woken early by a cancel, a failure or the end of the event stream; otherwise twice a
            # second, to check the grace period and the progress timeout (each wake of this thread
            # costs the worker's cores ~0.1 ms, so no faster polling).
            self._wake.wait(EXIT_POLL_S if self._stream_ended else WAIT_POLL_S)
            self._wake.clear()
            now = time.monotonic()
            if self._cancelled.is_set() and cancel_sent is None:
                cancel_sent = now
            late = self._cancel_signal(now - cancel_sent) if cancel_sent is not None else None
            if late is not None:
                self._signal(late)
            elif self._failure is not None:
                self._signal(signal.SIGKILL)
            elif now - self._last_progress > self.progress_timeout:
                self._fail(self._hung_reason())
                self._signal(signal.SIGKILL)
        self._close_control()
        self._after_exit()
        for thread in self._threads:
            thread.join(timeout=READER_JOIN_S)
        if launched is not None:
            self._lost = launched.lost()
            if not any(thread.is_alive() for thread in self._threads):
                launched.close()
            else:  # a reader still draining (SCHED_IDLE on a saturated machine) keeps its descriptor till it ends
                threading.Thread(target=self._close_after_readers, args=(launched,), daemon=True,
                                 name="stepscope-close-worker-pipes").start()
        return self._result()

    def _close_after_readers(self, launched: Launched) -> None:
        """The worker's pipes closed once every reader has ended, not left to the garbage
        collector (which warns of each unclosed file); a reader blocked for good, by a child of
        the worker that holds the pipe, keeps them open as before."""
        for thread in self._threads:
            thread.join()
        launched.close()

    def request_capture(self, steps: int | None = None, seconds: float | None = None,
                        ranks: tuple[int, ...] | None = None) -> int:
        """Arm a capture window for the next `steps` steps or `seconds` (docs/capture.md) from any
        thread; its number. CaptureRefused (one line) when the run cannot take it. A worker is
        one process, rank 0: `ranks` may name only that one."""
        if ranks is not None and set(ranks) != {0}:
            raise CaptureRefused(f"this run is one process (rank 0); it has no rank {max(ranks)}")
        launched = self._launched
        if launched is None or launched.poll() is not None:
            raise CaptureRefused("the run is not running")
        return self._captures.request(self._control_fd(), steps, seconds)

    def _control_fd(self) -> int | None:
        return self._launched.control_fd if self._launched is not None else None

    def _open_control(self) -> None:
        """The run's control socket, for `capture` from another process and the app."""
        self._control_server = ControlServer.open(self.run_id, self.request_capture)

    def _close_control(self) -> None:
        server, self._control_server = self._control_server, None
        if server is not None:
            server.close()

    def _cancel_signal(self, elapsed: float) -> int | None:
        """The signal a cancelled process gets `elapsed` s after the cancel (None: none now)."""
        return signal.SIGKILL if elapsed > CANCEL_GRACE_S else None

    def _hung_reason(self) -> str:
        return (f"the worker made no progress for {self.progress_timeout:.0f} s ({self._last_event_text()}); "
                "it looks hung and was stopped. If compiling legitimately takes longer, raise --timeout")

    def _after_exit(self) -> None:
        """Called once the process has exited, before its reader threads are joined."""

    # -- readers ---------------------------------------------------------------------
    def _read_events(self) -> None:
        assert self._launched is not None
        fd = self._launched.stdout_fd
        number = 0

        def on_line(line: bytes) -> None:
            nonlocal number
            number += 1
            self._handle_line(line, number)

        yield_to_workload()
        try:
            pump(fd, on_line, self.monitor, self._deliver, sampling=lambda: self._failure is None)
        finally:
            self._stream_ended = True  # the worker has exited or closed its output: it is about to end
            self._wake.set()

    def _handle_line(self, line: bytes, number: int) -> None:
        if self._failure is not None:
            return  # drain so the worker never blocks on a full pipe while being stopped
        try:
            event = parse_line(line)
        except ProtocolError as exc:
            self._fail(f"{self._who}'s event stream broke at line {number}: {exc}")
            return
        kind = event["type"]
        if kind == "device":  # folded into the monitor's samples, not passed on
            self.events.append(event)
            if self.monitor is not None:
                self.monitor.device_reading(event)
            return
        if kind != "sample":  # telemetry is not progress: a hung worker's sampler may still talk
            self._last_progress = time.monotonic()
        if kind == "hello":
            event["placement"] = self.executor.placement()  # stored with the run's environment
            if event["device_kind"] != "cpu" and self.monitor is not None:
                self.monitor.watch_gpu()
        if self._launched is not None and self._launched.remote:
            if kind == "artifact":
                self._fetch_artifact(event)
            elif kind == "summary":  # the worker's summary names its artifacts by the far side's paths
                for artifact in event["summary"].get("artifacts") or []:
                    artifact["path"] = self._fetched.get(artifact.get("path"), artifact.get("path"))
        self._deliver(event)

    def _fetch_artifact(self, event: dict[str, Any]) -> None:
        """Copy a remote worker's artifact into the local out_dir and point the event at the copy;
        a copy that fails leaves the far side's path and says why in the run log."""
        assert self._launched is not None
        try:
            local = str(self._launched.fetch(event["path"], self.out_dir))
            self._fetched[event["path"]] = local
            event["path"] = local
        except LaunchError as exc:
            self._append_log(f"stepscope: the {event['kind']} artifact was not copied here: {exc}\n".encode())

    def _deliver(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("event handler failed on a %s event; the run goes on", event["type"])

    def _read_log(self) -> None:
        assert self._launched is not None
        fd = self._launched.stderr_fd
        while True:
            select.select([fd], [], [])  # a remote executor's descriptor may be non-blocking
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            self._append_log(chunk)

    def _append_log(self, chunk: bytes) -> None:
        with self._log_lock:
            self._log += chunk
            if len(self._log) > LOG_LIMIT_BYTES:
                del self._log[: len(self._log) - LOG_LIMIT_BYTES]

    # -- outcome ---------------------------------------------------------------------
    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
        self._wake.set()

    def _signal(self, sig: int) -> None:
        if self._launched is not None:
            self._launched.signal(sig)  # the worker's own children (e.g. torch.compile's) too

    def _last_event_text(self) -> str:
        for event in reversed(self.events):
            if event["type"] == "step":
                return f"last event: {event['phase']} step {event['index']} at t={event['t']:.1f} s"
            if event["type"] != "sample":
                return f"last event: {event['type']} at t={event['t']:.1f} s"
        return "no event yet"

    def log_text(self) -> str:
        with self._log_lock:
            return self._log.decode("utf-8", errors="replace")

    def _result(self) -> RunResult[SpecT]:
        code = self._launched.poll() if self._launched is not None else None
        log_text = self.log_text()
        status, reason = self._status(code, log_text)
        summary = next((e["summary"] for e in reversed(self.events) if e["type"] == "summary"), None)
        if summary is None or status != "ok":
            summary = summarize(self.events)
        else:  # the worker's own summary: what only the controller's samples hold is added here
            summary = {**summary, "others_cpu_percent": others_cpu_percent(self.events)}
            if summary.get("peak_host_mb") is None and self.monitor is not None and self.monitor.peak_rss:
                summary["peak_host_mb"] = round(self.monitor.peak_rss / (1024 * 1024), 1)
        return RunResult(self.run_id, self.spec, status, reason, list(self.events), log_text, code, self.out_dir, summary)

    def _status(self, code: int | None, log_text: str) -> tuple[str, str | None]:
        if self._cancelled.is_set():
            return "cancelled", "cancelled by the user"
        if self._lost is not None:  # before failures: a cut stream's half line is no broken protocol
            return "interrupted", f"{self._lost}; {self._last_event_text()}"
        if self._failure is not None:
            return "failed", self._failure
        errors = [e for e in self.events if e["type"] == "error"]
        if errors:
            return "failed", errors[-1]["message"]
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            meaning = SIGNAL_MEANING.get(-code, f"was stopped by {name}")
            return "failed", f"the worker {meaning} ({name}); {self._last_event_text()}{_tail(log_text)}"
        if code:
            return "failed", f"the worker exited with code {code} without an error event{_tail(log_text)}"
        if not any(e["type"] == "summary" for e in self.events):
            return "failed", "the worker exited without sending its summary"
        return "ok", None


def _tail(log_text: str) -> str:
    lines = [line for line in log_text.strip().splitlines() if line.strip()]
    return f"; last log line: {lines[-1][:200]}" if lines else ""
