"""ProgramController: runs a user's own program under Stepscope (docs/programs.md) and turns every
way it can end into a run with a reason a person can act on.

It is a RunController whose process is the user's command instead of a worker: the events come
from the agent through a pipe of their own (the program's stdout and stderr are the user's, teed to
the caller's sinks and kept as the run's log), the samples cover the program and its child
processes, the summary is computed from the events (there is no `summary` event), and the
program's exit code is the outcome. A cancel asks politely first (SIGINT, as Ctrl-C would, so the
program's own handlers run), then SIGTERM after CANCEL_TERM_S, then SIGKILL after CANCEL_KILL_S;
once the program has exited, whatever is left of its process group (forked workers) is killed,
so no orphan outlives the run.
"""
from __future__ import annotations

import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from profilers.control_socket import CaptureRefused
from profilers.executors.local import PopenLaunched
from profilers.fatal_error import fatal_summary
from profilers.host_monitor import HostMonitor
from profilers.program_launch import ControlPipe, EventPipe, find_executable, program_env
from profilers.protocol import ProtocolError, parse_line
from profilers.rank_streams import RankServer, RankStream
from profilers.runner import (
    DEFAULT_PROGRESS_TIMEOUT_S,
    LOG_LIMIT_BYTES,
    ON_EVENT,
    SIGNAL_MEANING,
    RunController,
    RunResult,
)
from profilers.stream_pump import pump, yield_to_workload
from profilers.summary import summarize
from workloads.program import ProgramSpec

log = logging.getLogger("stepscope.profilers")

CANCEL_TERM_S = 3.0  # after the SIGINT of a cancel, SIGTERM
CANCEL_KILL_S = 6.0  # and then SIGKILL
DRAIN_S = 1.0  # once the program has exited, how long its output may take to reach end of file
STDERR_TAIL_BYTES = 64 << 10
OUTPUT_CHUNK = 1 << 16

ON_OUTPUT = Callable[[bytes], None]
# Lines of a traceback that say nothing alone: its header, and 3.11's ^^^^ markers under a call.
_NOT_SAID = re.compile(r"Traceback \(most recent call last\):$|[\^~ ]+$")

NO_STEPS = "no steps were detected: mark them with `import stepscope; stepscope.step()` in your loop (see README)"
NO_FRAMEWORK = "the program never imported PyTorch, JAX or TensorFlow: only telemetry was recorded"


class ProgramController(RunController[ProgramSpec]):
    """Supervises one user's program: `start()` then `wait()`, or `run()`; `cancel()` from any
    thread. `on_stdout` / `on_stderr` get every chunk the program writes, on a thread of their own
    each (the command line writes them to its own stdout and stderr); `stdin_devnull` gives the
    program an empty stdin instead of the caller's (the app has none to give)."""

    _who = "the program"

    def __init__(
        self, spec: ProgramSpec, out_dir: Path | None = None, on_event: ON_EVENT | None = None,
        progress_timeout: float = DEFAULT_PROGRESS_TIMEOUT_S, run_id: str | None = None, *,
        on_stdout: ON_OUTPUT | None = None, on_stderr: ON_OUTPUT | None = None, stdin_devnull: bool = False,
    ) -> None:
        self.spec = spec.resolved()
        self._init_state(run_id, out_dir, on_event, progress_timeout)
        self._sinks: dict[str, ON_OUTPUT | None] = {"stdout": on_stdout, "stderr": on_stderr}
        self._stdin_devnull = stdin_devnull
        self._stderr_tail = bytearray()
        self._pipe: EventPipe | None = None
        self._control: ControlPipe | None = None  # capture requests to the agent (docs/capture.md)
        self._proc: subprocess.Popen[bytes] | None = None  # a user's program always runs here
        self._wake_fds: tuple[int, int] | None = None  # written once the program is gone: readers stop
        self._term_sent = False
        self._exited = threading.Event()  # the program is gone: ranks ending now are no news
        self._ranks: RankServer | None = None  # the ranks of a distributed program (profilers.rank_streams)
        self._deliver_lock = threading.Lock()  # the event reader and each rank's reader deliver

    @property
    def launched_pid(self) -> int | None:
        """The process id of the command itself (a launcher such as torchrun), once started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def stopped_by_stepscope(self) -> bool:
        """Whether Stepscope ended the run (not found, a hang, a broken event stream, ...), so the
        program's exit code is not the outcome."""
        return self._failure is not None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        spec = self.spec
        if find_executable(spec) is None:
            self._fail(f"command not found: {spec.command[0]}")
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        pipe, control = EventPipe.open(), ControlPipe.open()
        self._last_progress = time.monotonic()
        clock_origin = time.perf_counter()
        self._ranks = RankServer.open(self.run_id, clock_origin, self._rank_line, self._rank_sample, self._rank_closed)
        try:
            self._proc = subprocess.Popen(
                list(spec.command), stdin=subprocess.DEVNULL if self._stdin_devnull else None,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=spec.cwd,
                env=program_env(spec, pipe.channel, clock_origin, self.out_dir,
                                unbuffered=self._stdin_devnull or sys.stdout.isatty(), control=control.channel,
                                ranks=str(self._ranks.path) if self._ranks is not None else None),
                start_new_session=True, pass_fds=tuple(fd for fd in (pipe.write_fd, control.read_fd) if fd is not None),
            )
        except (OSError, ValueError) as exc:
            pipe.close()
            control.close()
            self._close_ranks()
            self._fail(f"could not start the program ({exc})")
            return
        pipe.close_write()  # the program holds it now: the read end ends when the program does
        control.close_read()
        self._control = control
        self._launched = PopenLaunched(self._proc)
        self._pipe = pipe
        self._wake_fds = os.pipe()
        self.monitor = HostMonitor(self._proc.pid, clock_origin, with_children=True)
        proc = self._proc
        assert proc.stdout is not None and proc.stderr is not None
        for target, args, name in ((self._read_events, (), "events"), (self._read_output, (proc.stdout, "stdout"), "stdout"),
                                   (self._read_output, (proc.stderr, "stderr"), "stderr"), (self._await_exit, (), "exit")):
            thread = threading.Thread(target=target, args=args, name=f"stepscope-{name}-{self.run_id}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._open_control()

    def request_capture(self, steps: int | None = None, seconds: float | None = None,
                        ranks: tuple[int, ...] | None = None) -> int:
        if not any(e["type"] in ("program", "hello") for e in self.events):
            raise CaptureRefused("the program has not imported PyTorch, JAX or TensorFlow yet: no profiler to arm")
        if steps is not None and not any(e["type"] == "step" for e in self.events):
            raise CaptureRefused("no steps have been detected in the program yet: capture for a number of seconds instead")
        streams = self._ranks
        if streams is not None and any(s.rank is not None for s in streams.streams):  # every rank, or the chosen ones
            return streams.broadcast(self._captures, steps, seconds, ranks if ranks is not None else self.spec.ranks)
        return super().request_capture(steps, seconds, ranks)

    # -- ranks (profilers.rank_streams) ----------------------------------------------
    def _deliver(self, event: dict[str, Any]) -> None:
        with self._deliver_lock:
            super()._deliver(event)

    def _rank_line(self, stream: RankStream, line: bytes) -> None:
        """One event of a rank's stream: checked as the program's, tagged with the rank it said it is."""
        if self._failure is not None:
            return
        try:
            event = parse_line(line)
        except ProtocolError as exc:
            self._fail(f"the event stream of a rank (pid {stream.pid}) broke: {exc}")
            return
        rank = event.setdefault("rank", stream.rank if stream.rank is not None else 0)
        if stream.rank is None:
            stream.rank = rank
        kind = event["type"]
        if kind == "device":
            with self._deliver_lock:
                self.events.append(event)
            if stream.monitor is not None:
                stream.monitor.device_reading(event)
            return
        if kind != "sample":
            self._last_progress = time.monotonic()
        if kind == "hello":
            event["placement"] = self.executor.placement()
            if event["device_kind"] != "cpu" and stream.monitor is not None:
                stream.monitor.watch_gpu()
        self._deliver(event)

    def _rank_sample(self, stream: RankStream, event: dict[str, Any]) -> None:
        if self._failure is None:
            self._deliver(event)

    def _rank_closed(self, stream: RankStream) -> None:
        """A rank's stream ended: without its last line while the program runs, the rank died, and the
        run fails (the others are stopped); with an uncaught exception, it failed."""
        proc = self._proc
        if self._cancelled.is_set() or proc is None or proc.poll() is not None or self._exited.is_set():
            return
        who = f"rank {stream.rank}" if stream.rank is not None else "a rank"
        if not stream.ended:
            self._fail(f"{who} (pid {stream.pid}) died: its process ended without exiting (killed by a signal, or "
                       f"crashed in native code); {self._last_rank_text(stream.rank)}. The other ranks were stopped")
        elif stream.error:
            self._fail(f"{who} (pid {stream.pid}) ended with an uncaught exception ({stream.error}); "
                       "the other ranks were stopped")

    def _last_rank_text(self, rank: int | None) -> str:
        for event in reversed(self.events):
            if event["type"] == "step" and event.get("rank", 0) == rank:
                return f"its last step was {event['index']} at t={event['t']:.1f} s"
        return "it had sent no step"

    def _close_ranks(self) -> None:
        ranks, self._ranks = self._ranks, None
        if ranks is not None:
            ranks.kill_all()
            ranks.close()
            self._threads.extend(ranks.threads)

    def _control_fd(self) -> int | None:
        return self._control.write_fd if self._control is not None else None

    def cancel(self) -> None:
        """Stop the program as Ctrl-C would (SIGINT to its process group); SIGTERM after
        CANCEL_TERM_S, SIGKILL after CANCEL_KILL_S if it is still there."""
        self._cancelled.set()
        self._signal(signal.SIGINT)
        self._wake.set()

    def _cancel_signal(self, elapsed: float) -> int | None:
        if elapsed > CANCEL_KILL_S:
            return signal.SIGKILL
        if elapsed > CANCEL_TERM_S and not self._term_sent:
            self._term_sent = True
            return signal.SIGTERM
        return None

    def _hung_reason(self) -> str:
        return (f"the program made no progress for {self.progress_timeout:.0f} s (no step and no output; "
                f"{self._last_event_text()}); it looks hung and was stopped. If it legitimately works that long "
                "without a step or a line of output, raise --timeout")

    def _after_exit(self) -> None:
        """Kill what is left of the program's process group, let its output drain, then stop the
        readers even if a process outside the group still holds a pipe open."""
        proc = self._proc
        if proc is None:
            return
        self._exited.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # nothing left of it
        self._close_ranks()  # every rank's own session too: no orphan outlives the run
        deadline = time.monotonic() + DRAIN_S
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        if self._wake_fds is not None:
            os.write(self._wake_fds[1], b"x")

    # -- readers ---------------------------------------------------------------------
    def _await_exit(self) -> None:
        assert self._proc is not None
        self._proc.wait()
        self._wake.set()  # wait() notices at once, not at its next poll

    def _read_events(self) -> None:
        assert self._pipe is not None and self._wake_fds is not None
        number = 0

        def on_line(line: bytes) -> None:
            nonlocal number
            number += 1
            self._handle_line(line, number)

        yield_to_workload()
        pump(self._pipe.read_fd, on_line, self.monitor, self._deliver, sampling=lambda: self._failure is None,
             wake_fd=self._wake_fds[0])

    def _read_output(self, stream: IO[bytes], name: str) -> None:
        """Tee one of the program's streams: the sink, the run log, and for stderr the tail that
        explains a failure. A chunk of output counts as progress."""
        assert self._wake_fds is not None
        wake = self._wake_fds[0]
        with stream:
            fd = stream.fileno()
            while True:
                ready, _, _ = select.select([fd, wake], [], [])
                if fd not in ready:
                    break  # woken, and nothing more to read
                chunk = os.read(fd, OUTPUT_CHUNK)
                if not chunk:
                    break
                self._last_progress = time.monotonic()
                with self._log_lock:
                    self._log += chunk
                    if len(self._log) > LOG_LIMIT_BYTES:
                        del self._log[: len(self._log) - LOG_LIMIT_BYTES]
                    if name == "stderr":
                        self._stderr_tail += chunk
                        del self._stderr_tail[: max(len(self._stderr_tail) - STDERR_TAIL_BYTES, 0)]
                sink = self._sinks[name]
                if sink is not None:
                    try:
                        sink(chunk)
                    except Exception as exc:  # a closed terminal must not stop the program or the run
                        log.warning("the program's %s is only kept in the run log from now on: %s", name, exc)
                        self._sinks[name] = None

    # -- outcome ---------------------------------------------------------------------
    def _status(self, code: int | None, log_text: str) -> tuple[str, str | None]:
        if self._cancelled.is_set():
            return "cancelled", "cancelled by the user"
        with self._log_lock:
            fatal = fatal_summary(self._stderr_tail.decode("utf-8", errors="replace"))
        if self._failure is not None:  # a rank that died: its crash report, when it wrote one, says where
            return "failed", self._failure + (f"; the program's stderr: {fatal}" if fatal else "")
        tail = fatal or self.stderr_tail()
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            meaning = SIGNAL_MEANING.get(-code, f"was stopped by {name}").split(";")[0]
            return "failed", f"the program {meaning} ({name}); {self._last_event_text()}" + (f": {tail}" if tail else "")
        if code:
            return "failed", f"the program exited with code {code}" + (f": {tail}" if tail else "")
        return "ok", None

    def stderr_tail(self, lines: int = 3, chars: int = 300) -> str:
        """The last non-empty lines of the program's stderr (a traceback's exception line), short."""
        with self._log_lock:
            text = self._stderr_tail.decode("utf-8", errors="replace")
        kept = [line.strip() for line in text.splitlines()
                if line.strip() and not _NOT_SAID.match(line.strip())][-lines:]
        joined = " | ".join(kept)
        return joined if len(joined) <= chars else "…" + joined[-(chars - 1):]

    def _result(self) -> RunResult[ProgramSpec]:
        proc = self._proc
        code = proc.returncode if proc is not None else None
        log_text = self.log_text()
        status, reason = self._status(code, log_text)
        self._close_fds()
        summary = program_summary(self.events, self.spec, status)
        return RunResult(self.run_id, self.spec, status, reason, list(self.events), log_text, code, self.out_dir, summary)

    def _close_fds(self) -> None:
        """The event pipe and the wake pipe, once no reader is left to use them."""
        if any(thread.is_alive() for thread in self._threads):
            return  # a sink still blocked on a stalled terminal: leave the descriptors to it
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self._wake_fds is not None:
            for fd in self._wake_fds:
                os.close(fd)
            self._wake_fds = None
        if self._control is not None:
            self._control.close()
            self._control = None


def program_summary(events: list[dict[str, Any]], spec: ProgramSpec, status: str) -> dict[str, Any]:
    """The headline figures from the agent's events: `summarize`, with the framework from the
    `program` events where no `hello` came, `steps_from` (the step source in use) and `notices`
    (the agent's, and what Stepscope has to say about a program that ran without steps)."""
    ranks = rank_count(events)
    if ranks > 1:  # the headline figures are rank 0's (and the whole program's samples), as the run's steps
        others = [e for e in events if e.get("rank", 0) != 0 and e["type"] == "notice"]
        events = [e for e in events if e.get("rank", 0) == 0 and not (e["type"] == "sample" and "rank" in e)]
    summary = summarize(events, batch_size=spec.batch_size)
    programs = [e for e in events if e["type"] == "program"]
    if summary["framework"] is None and programs:
        summary["framework"] = programs[0]["framework"]
    if summary["framework_version"] is None:
        summary["framework_version"] = next(
            (e["framework_version"] for e in programs if e["framework"] == summary["framework"]), None)
    summary["workload"] = summary["workload"] or spec.label
    summary["mode"] = summary["mode"] or "train"
    have_steps = any(e["type"] == "step" for e in events)
    sources = [e["source"] for e in events if e["type"] == "step_source"]
    summary["steps_from"] = sources[-1] if sources and have_steps else None
    notices = [e["message"] for e in events if e["type"] == "notice"]
    if ranks > 1:
        summary["ranks"] = ranks
        notices += [f"rank {e['rank']}: {e['message']}" for e in others if e["message"] not in notices]
    if status == "ok" and not have_steps:
        if not programs:
            notices.append(NO_FRAMEWORK)
        notices.append(NO_STEPS)
    summary["notices"] = notices
    return summary


def rank_count(events: list[dict[str, Any]]) -> int:
    """The job's world size: what its ranks' `hello` events say, at least as many as sent events (1: one process)."""
    said = [e.get("world_size") for e in events if e["type"] == "hello"]
    seen = {e["rank"] for e in events if isinstance(e.get("rank"), int)}
    return max([1, len(seen), *(n for n in said if isinstance(n, int) and not isinstance(n, bool))])
