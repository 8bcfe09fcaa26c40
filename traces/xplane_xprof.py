"""xprof's own analyses of one XPlane (`read_xprof_tool`: its per-step input-pipeline table,
TensorFlow op statistics, ...), for showing beside Stepscope's numbers. xprof converts without
importing TensorFlow. The event table is never read through here (`xplane_reader` reads the
protobuf itself)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from traces.bounded_read import GZIP_MAGIC, read_bytes
from traces.table import Limits, TraceError

XPROF_TOOLS = ("framework_op_stats", "input_pipeline_analyzer", "memory_profile", "overview_page", "op_profile", "hlo_stats")


def read_xprof_tool(path: str | os.PathLike[str], tool: str, limits: Limits | None = None) -> Any:
    """xprof's own analysis of one XPlane as parsed JSON (e.g. "input_pipeline_analyzer":
    its per-step table; "framework_op_stats": TensorFlow op statistics), for showing beside
    Stepscope's numbers. On CPU several are empty (op_profile, hlo_stats)."""
    if tool not in XPROF_TOOLS:
        raise ValueError(f"tool must be one of {', '.join(XPROF_TOOLS)}")
    p, limits = Path(path), limits or Limits()
    with PlainXPlane(p, limits) as plain:
        raw = xprof_tool_data(plain, tool, p, limits)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise TraceError(p, f"xprof's {tool} output is not JSON ({exc})") from None


def _host(p: Path) -> str:
    return p.name.removesuffix(".gz").removesuffix(".xplane.pb")


class PlainXPlane:
    """A path xprof can open: the file itself, or a bounded gunzip into a temporary folder."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.path, self.limits = path, limits
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                head = f.read(2)
        except OSError as exc:
            raise TraceError(self.path, f"cannot be read ({exc.strerror or exc})") from None
        if size == 0:
            raise TraceError(self.path, "is empty")
        if head != GZIP_MAGIC:
            if size > self.limits.max_bytes:
                raise TraceError(self.path, f"is {size:,} bytes, over the {self.limits.max_bytes:,}-byte limit")
            return self.path
        data = read_bytes(self.path, self.limits)
        self._tmp = tempfile.TemporaryDirectory(prefix="stepscope-xplane-")
        plain = Path(self._tmp.name) / f"{_host(self.path)}.xplane.pb"
        plain.write_bytes(data)
        return plain

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def xprof_tool_data(plain: Path, tool: str, shown: Path, limits: Limits) -> str | bytes:
    """xprof's conversion of one XPlane (`use_saved_result: False`: no cache files beside it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # xprof's C++ logging, before its first import
    try:
        from xprof.convert import raw_to_tool_data
    except ImportError as exc:
        raise TraceError(shown, f"needs xprof for its own analyses ({exc})") from None
    try:
        out = raw_to_tool_data.xspace_to_tool_data([str(plain)], tool, {"use_saved_result": False})
    except Exception as exc:  # xprof raises whatever its C++ side reports
        raise TraceError(shown, f"xprof could not convert it ({type(exc).__name__}: {exc})") from None
    data = out[0] if isinstance(out, tuple) else out
    if not isinstance(data, (str, bytes)):  # None: xprof found nothing it could read
        raise TraceError(shown, "xprof could not read this XPlane (not an XPlane, truncated, or from an incompatible version)")
    if len(data) > limits.max_bytes:
        raise TraceError(shown, f"converts to more than {limits.max_bytes:,} bytes (raise Limits.max_bytes)")
    return data
