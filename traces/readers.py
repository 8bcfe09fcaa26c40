"""Trace files -> EventTable: PyTorch Chrome traces (.json / .json.gz), XPlanes (.xplane.pb,
also gzipped) decoded here from their protobuf, TensorBoard profile log directories, and anyone's Chrome
trace. `read_trace(path)` recognises which it is and hands it to its reader
(`chrome_reader`, `xplane_reader`, `logdir_reader`).

Every failure a file can cause is a TraceError with one line naming the file and the problem;
input is decompressed piece by piece with a cap (`bounded_read`, `Limits.max_bytes`), so a gzip
bomb stops at the cap instead of filling memory, and a Chrome trace is decoded as a stream
(`stream_decode`), never held whole. `progress` (`traces.progress.ReadProgress`) hears the
bytes of the files as stored consumed, and cancels the read. Framework-free: nothing here imports torch, jax or
tensorflow (nor xprof, which only `xplane_xprof.read_xprof_tool` uses for its own analyses).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from traces.bounded_read import read_bytes
from traces.chrome_reader import read_chrome_trace
from traces.heap_reuse import reused_heap
from traces.logdir_reader import read_logdir
from traces.progress import ReadProgress
from traces.table import EventTable, Limits, TraceError
from traces.xplane_reader import read_xplane

__all__ = ["read_bytes", "read_trace"]  # read_bytes: kept importable from here, where callers have always found it

log = logging.getLogger("stepscope.traces")


def read_trace(path: str | os.PathLike[str], limits: Limits | None = None, framework: str | None = None,
               progress: ReadProgress | None = None) -> EventTable:
    """Read any supported trace: a directory is a profile log directory (XPlanes under
    plugins/profile/<run>/, or Chrome traces); `*.xplane.pb[.gz]` to the XPlane decoder; other
    files are Chrome-trace JSON, plain or gzipped. `framework` ("torch", "jax", "tf") overrides
    the guess recorded in `table.source`. `progress` is started with the bytes to read (for a
    directory, those of the files it reads), advanced as they are consumed and finished; its
    `cancel()` stops the read with ReadCancelled."""
    with reused_heap():
        return _read(Path(path), limits or Limits(), framework, progress)


def _read(p: Path, limits: Limits, framework: str | None, progress: ReadProgress | None) -> EventTable:
    if not p.exists():
        raise TraceError(p, "no such file or directory")
    try:
        if p.is_dir():
            return read_logdir(p, limits, framework=framework, progress=progress)
        if _is_xplane_name(p):
            return read_xplane(p, limits, framework=framework, progress=progress)  # starts and finishes `progress`
        if progress is not None:
            progress.start(p.stat().st_size)
        table = read_chrome_trace(p, limits, framework=framework, progress=progress)
        if progress is not None:
            progress.finish()
        return table
    except TraceError:
        raise
    except OSError as exc:
        raise TraceError(p, f"cannot be read ({exc.strerror or exc})") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
        # a reader bug must not take the app down with it: report it as this file's problem
        log.exception("internal error reading %s", p)
        raise TraceError(p, f"internal error while reading ({type(exc).__name__}: {exc}); please report it") from exc


def _is_xplane_name(p: Path) -> bool:
    return p.name.endswith((".xplane.pb", ".xplane.pb.gz"))
