"""RunController: spawns a worker per run, validates its stream, and turns every way a worker
can fail into a failed run with a reason a person can act on.

Nothing a worker does raises out of the controller: a malformed line, an `error` event, a
signal (segfault, abort, OOM kill), a non-zero exit or a hang past the progress timeout all
end as `RunResult(status="failed", reason=...)`, with every event received before kept.
"""
from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import select
import signal
import subprocess
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

from profilers.host_monitor import HostMonitor
from profilers.protocol import MAX_LINE_BYTES, ProtocolError, parse_line
from profilers.summary import summarize
from workloads.program import ProgramSpec
from workloads.spec import RunSpec

log = logging.getLogger("stepscope.profilers")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROGRESS_TIMEOUT_S = 600.0
CANCEL_GRACE_S = 5.0
WAIT_POLL_S = 0.5  # how often wait() checks the grace period and the progress timeout
EXIT_POLL_S = 0.02  # once the event stream has ended, for the worker's exit
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
    status: str  # "ok", "failed" or "cancelled"
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
    `sample` events the host monitor makes there; the worker's `device` events are folded into
    those samples and not passed on."""

    spec: SpecT
    _who = "the worker"  # how reasons name the supervised process

    def __init__(
        self: RunController[RunSpec], spec: RunSpec, out_dir: Path | None = None, on_event: ON_EVENT | None = None,
        progress_timeout: float = DEFAULT_PROGRESS_TIMEOUT_S, command: Sequence[str] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.spec = self._worker_spec = spec.resolved()
        self._command = list(command) if command else None
        self._init_state(run_id, out_dir, on_event, progress_timeout)

    def _init_state(self, run_id: str | None, out_dir: Path | None, on_event: ON_EVENT | None,
                    progress_timeout: float) -> None:
        self.run_id = run_id or new_run_id()
        self.out_dir = out_dir or Path(tempfile.mkdtemp(prefix=f"stepscope-{self.run_id}-"))
        self._on_event = on_event
        self.progress_timeout = progress_timeout
        self.events: list[dict[str, Any]] = []
        self._log = bytearray()
        self._log_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._failure: str | None = None
        self._cancelled = threading.Event()
        self._wake = threading.Event()  # cuts wait()'s sleep short: cancel, failure, end of stream
        self._stream_ended = False
        self._last_progress = time.monotonic()
        self._threads: list[threading.Thread] = []
        self.monitor: HostMonitor | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        self._last_progress = time.monotonic()
        clock_origin = time.perf_counter()  # the worker's t = 0, shared so that the monitor's samples line up
        command = self._command or worker_command(self._worker_spec, self.out_dir, clock_origin)
        try:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=PROJECT_ROOT, env=env, start_new_session=True,
            )
        except OSError as exc:
            self._fail(f"could not start the worker ({exc})")
            return
        self.monitor = HostMonitor(self._proc.pid, clock_origin)
        for target, name in ((self._read_events, "events"), (self._read_log, "log")):
            thread = threading.Thread(target=target, name=f"stepscope-{name}-{self.run_id}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def run(self) -> RunResult[SpecT]:
        self.start()
        return self.wait()

    def cancel(self) -> None:
        """Stop the worker: SIGTERM (its profiler stops cleanly), SIGKILL after a grace period."""
        self._cancelled.set()
        self._signal(signal.SIGTERM)
        self._wake.set()

    def wait(self) -> RunResult[SpecT]:
        proc = self._proc
        cancel_sent: float | None = None
        while proc is not None and proc.poll() is None:
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
        self._after_exit()
        for thread in self._threads:
            thread.join(timeout=5.0)
        return self._result()

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
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        number = 0

        def on_line(line: bytes) -> None:
            nonlocal number
            number += 1
            self._handle_line(line, number)

        yield_to_workload()
        try:
            with stdout:  # closed at the end of the stream: no descriptor outlives the run
                pump(stdout.fileno(), on_line, self.monitor, self._deliver, sampling=lambda: self._failure is None)
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
        if kind == "hello" and event["device_kind"] != "cpu" and self.monitor is not None:
            self.monitor.watch_gpu()
        self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("event handler failed on a %s event; the run goes on", event["type"])

    def _read_log(self) -> None:
        assert self._proc is not None
        stderr = self._proc.stderr
        assert isinstance(stderr, io.BufferedReader)  # Popen's default buffering; read1 returns what is there
        with stderr:  # closed at the end of the log, like the event stream
            for chunk in iter(lambda: stderr.read1(65536), b""):
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
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)  # the worker's own children (e.g. torch.compile's) too
        except (ProcessLookupError, PermissionError):
            pass

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
        proc = self._proc
        code = proc.returncode if proc is not None else None
        log_text = self.log_text()
        status, reason = self._status(code, log_text)
        summary = next((e["summary"] for e in reversed(self.events) if e["type"] == "summary"), None)
        if summary is None or status != "ok":
            summary = summarize(self.events)
        elif summary.get("peak_host_mb") is None and self.monitor is not None and self.monitor.peak_rss:
            summary = {**summary, "peak_host_mb": round(self.monitor.peak_rss / (1024 * 1024), 1)}
        return RunResult(self.run_id, self.spec, status, reason, list(self.events), log_text, code, self.out_dir, summary)

    def _status(self, code: int | None, log_text: str) -> tuple[str, str | None]:
        if self._cancelled.is_set():
            return "cancelled", "cancelled by the user"
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


def pump(fd: int, on_line: Callable[[bytes], None], monitor: HostMonitor | None,
         on_sample: Callable[[dict[str, Any]], None], sampling: Callable[[], bool] = lambda: True,
         wake_fd: int | None = None) -> None:
    """Read lines from `fd` until end of file, passing each to `on_line` (a last one without
    its newline too, and a run of more than MAX_LINE_BYTES without one, which parse_line then
    refuses), and pass the monitor's samples to `on_sample` as they fall due.

    While sampling, the reader wakes only when a sample is due (10 Hz) and then takes every
    line the worker wrote meanwhile. The pipe is the buffer, so nothing written is lost if the
    worker dies; a worker's write wakes no one, so it stays cheap; and the controller wakes ten
    times a second however fast the steps come (a wake costs 0.1-0.35 ms of CPU on a 2-vCPU VM;
    RunController runs this in a SCHED_IDLE thread, see yield_to_workload). Lines reach
    `on_event` up to 0.1 s late. Once sampling stops (the worker is gone, or the run failed), it
    reads as lines come; then `wake_fd` turning readable ends it too, after a last read of what
    is there (a user's program may leave a child holding the pipe's write end open)."""
    _grow_pipe(fd)
    os.set_blocking(fd, False)
    pending = bytearray()
    eof = False
    while not eof:
        sampler = monitor if monitor is not None and sampling() and not monitor.gone else None
        if sampler is not None:
            time.sleep(sampler.seconds_to_next() or 0.0)
        else:
            ready, _, _ = select.select([fd] if wake_fd is None else [fd, wake_fd], [], [])
            eof = wake_fd in ready
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                eof = True
                break
            pending += chunk
        end = pending.rfind(b"\n") + 1
        if end:
            for line in bytes(pending[:end]).splitlines(keepends=True):
                on_line(line)
            del pending[:end]
        if len(pending) > MAX_LINE_BYTES:
            on_line(bytes(pending))
            pending.clear()
        if sampler is not None and (event := sampler.sample_if_due()) is not None:
            on_sample(event)
    if pending:  # the worker died mid-write, or never ended its last line
        on_line(bytes(pending))
    if monitor is not None:
        monitor.close()


def yield_to_workload() -> None:
    """Put the calling thread in Linux's SCHED_IDLE class: it then runs when a core is idle
    (a worker's steps leave gaps between ops and steps) and its 10 Hz wakes no longer preempt a
    framework thread on a machine whose cores the worker keeps busy. For a thread of its own
    only: an unprivileged thread cannot leave SCHED_IDLE again. Elsewhere (macOS) a no-op."""
    if not hasattr(os, "SCHED_IDLE"):
        return
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError as exc:  # a container may forbid it: sampling works the same, only less politely
        log.debug("reader thread stays in the normal scheduling class: %s", exc)


def _grow_pipe(fd: int) -> None:
    """Room for a burst of events between two wakes (64 KiB by default, up to 1 MiB unprivileged)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (OSError, AttributeError):
        pass  # not a pipe, not Linux, or over the system's limit: the default size works, a burst waits


def _tail(log_text: str) -> str:
    lines = [line for line in log_text.strip().splitlines() if line.strip()]
    return f"; last log line: {lines[-1][:200]}" if lines else ""
