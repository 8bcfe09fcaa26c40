"""The child process of `attach HOST:PORT` (profilers/attach_server.py starts it):

    python -m profilers.server_capture HOST:PORT SECONDS LOGDIR

asks a running JAX/TensorFlow profiler server (jax.profiler.start_server,
tf.profiler.experimental.server.start; both serve the same gRPC ProfilerService) for a trace of
SECONDS, through xprof's C client (`_pywrap_profiler_plugin.trace`: ctypes over one shared
library, no framework imported), and prints one JSON line: {"ok": true, "xplanes": [...]} or
{"ok": false, "reason": "..."}.

The client's Python error is the same for every failure ("No trace event was collected"); the
real reason is in its native log on fd 2, which is read back here and said in one sentence.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

SERVER_HINT = "jax.profiler.start_server(PORT) or tf.profiler.experimental.server.start(PORT)"
_RETURNED = re.compile(r"returned (?P<status>[A-Z_]+): (?P<message>[^\n]*)")


def failure_reason(address: str, seconds: float, error: str, log: str) -> str:
    """One sentence for a capture that gave no trace, from the client's error and native log."""
    returned = _RETURNED.findall(log)
    status, message = returned[-1] if returned else ("", "")
    text = f"{message} {error}"
    if "Connection refused" in text:
        return (f"nothing is listening on {address} (connection refused): is the program running, and did it "
                f"start its profiler server on that port ({SERVER_HINT})?")
    if re.search(r"hostname lookup|DNS resolution failed|Domain name not found|Name or service not known", text):
        return f"the host of {address} cannot be resolved (no such host name)"
    if "HTTP/2" in text or "SETTINGS frame" in text or "Socket closed" in text or "Connection reset" in text:
        return (f"{address} is not a profiler server: something listens there but does not answer gRPC "
                f"(the profiler server is started by {SERVER_HINT})")
    if status == "UNIMPLEMENTED":
        return (f"{address} answers gRPC but has no profiler service: it is not a profiler server, or its "
                f"framework's profiler does not match this client ({_client_version()}): a version mismatch")
    if status in ("INVALID_ARGUMENT", "INTERNAL", "DATA_LOSS") and re.search(r"parse|proto|version", text, re.I):
        return (f"{address} answered in a form this client cannot read ({status}: {message.strip()}): "
                f"a version mismatch between its framework's profiler and {_client_version()}")
    if status == "DEADLINE_EXCEEDED" or "Timeout occurred" in text:
        return f"{address} did not answer in time (a firewall dropping the connection, or the program is stuck)"
    if status == "UNAVAILABLE":
        return f"{address} cannot be reached ({message.strip() or status})"
    if status:
        return f"{address} refused the capture ({status}: {message.strip()})"
    return (f"the profiler server at {address} answered, but nothing ran in its program during the "
            f"{seconds:g} s window (no op, no step: the program was idle, waiting, or done); "
            "capture while it works, or for longer (--for)")


def saved_elsewhere(address: str, logdir: Path) -> str:
    """A profiler server saves its capture under the folder the client names, on its own disk
    (tsl's ProfilerService: SaveXSpace(repository_root, ...)), so a program on another machine
    keeps it there unless that folder is shared."""
    return (f"the profiler server at {address} captured a trace but saved it on its own machine, under {logdir} "
            "(a profiler server writes its capture to that folder on its own disk): for a program on another "
            "machine give --logdir a folder both machines share, or copy that folder here and `import` it")


def _client_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"xprof {version('xprof')}"
    except PackageNotFoundError:
        return "xprof"


def xplanes_under(logdir: Path) -> list[Path]:
    return sorted(p for p in logdir.rglob("*.xplane.pb*") if p.is_file())


def capture(address: str, seconds: float, logdir: Path) -> dict[str, object]:
    """Ask for the trace with fd 2 pointed at a file, so the client's native log can be read. The
    log's level is reset first: a TF_CPP_MIN_LOG_LEVEL of 2 or 3 in the user's environment (common,
    to quiet TensorFlow) would hide the client's "returned UNAVAILABLE: Connection refused" lines,
    and every failure would read as an idle program."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # read once, when the client's library first logs
    try:
        from xprof.convert import _pywrap_profiler_plugin as plugin
    except ImportError as exc:
        return {"ok": False, "reason": f"the profiler client cannot load (xprof: {exc}); run scripts/setup.sh"}
    error = ""
    with tempfile.TemporaryFile(mode="w+b") as native_log:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(native_log.fileno(), 2)
        try:
            plugin.trace(address.removeprefix("grpc://"), str(logdir), "", True, max(1, round(seconds * 1000)), 1, {})
        except RuntimeError as exc:
            error = str(exc)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        native_log.seek(0)
        log = native_log.read().decode("utf-8", "replace")
    sys.stderr.write(log)  # the whole client log stays available to whoever started this process
    xplanes = xplanes_under(logdir)
    if error:
        return {"ok": False, "reason": failure_reason(address, seconds, error, log)}
    if not xplanes:  # the server said it has a trace, and wrote it where we asked: on its own disk
        return {"ok": False, "reason": saved_elsewhere(address, logdir)}
    return {"ok": True, "xplanes": [str(p) for p in xplanes]}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m profilers.server_capture HOST:PORT SECONDS LOGDIR", file=sys.stderr)
        return 2
    address, seconds, logdir = argv[0], float(argv[1]), Path(argv[2])
    print(json.dumps(capture(address, seconds, logdir)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
