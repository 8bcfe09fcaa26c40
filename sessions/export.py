"""Exports of one stored run: steps and samples as CSV or JSON, the trace as Chrome-trace JSON.

The Chrome trace is the run's own when the framework wrote one (PyTorch, JAX); for an XPlane
only (TensorFlow) it is converted with xprof's trace_viewer tool, which imports no framework.
"""
from __future__ import annotations

import csv
import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sessions.headline import headline
from sessions.store import Session, SessionError

FORMATS = ("csv", "json", "chrome")


def _rows(columns: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    names = list(columns)
    if not names:
        return []
    values = [np.asarray(columns[n]).tolist() for n in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]  # a run's columns share one length


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(_rows(columns))


def chrome_trace_bytes(session: Session, run_id: str) -> bytes:
    """The run's trace as Chrome-trace JSON bytes, or SessionError if it has none: from its
    parsed event table when stored, else from the raw artifact."""
    if session.trace(run_id) is not None:
        from sessions.traces import load_trace
        from traces.export import chrome_trace_dict

        table, _ = load_trace(session, run_id)
        return json.dumps(chrome_trace_dict(table), separators=(",", ":")).encode()
    artifacts = session.artifacts(run_id)
    chrome = [a for a in artifacts if a.kind == "chrome-trace"]
    if chrome:
        data = session.artifact_bytes(run_id, chrome[0].name)
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    xplanes = [a for a in artifacts if a.kind == "xplane"]
    if not xplanes:
        raise SessionError(f"run {run_id} has no trace (it ran with --trace-steps 0, or failed before its trace window)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from xprof.convert import raw_to_tool_data

    with tempfile.TemporaryDirectory(prefix="stepscope-xplane-") as tmp:
        path = Path(tmp) / "run.xplane.pb"
        path.write_bytes(session.artifact_bytes(run_id, xplanes[0].name))
        try:
            result = raw_to_tool_data.xspace_to_tool_data([str(path)], "trace_viewer", {"use_saved_result": False})
        except Exception as exc:  # xprof raises whatever its parser hit
            raise SessionError(f"run {run_id}: xprof could not read the XPlane ({type(exc).__name__}: {exc})") from None
    data = result[0] if isinstance(result, tuple) else result
    if not data:
        raise SessionError(f"run {run_id}: xprof produced no trace from the XPlane")
    return data.encode() if isinstance(data, str) else data


def export_run(path: Path, run_id: str, fmt: str, out: Path) -> list[Path]:
    """Write the export; returns the files written."""
    if fmt not in FORMATS:
        raise SessionError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    with Session.open_readonly(path) as session:
        record = session.run(run_id)
        steps = session.steps(run_id)
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "chrome":
            out.write_bytes(chrome_trace_bytes(session, run_id))
            return [out]
        samples = session.samples(run_id)
        if fmt == "json":
            payload = {"run": headline(record, steps), "spec": record.spec, "environment": record.environment,
                       "steps": _rows(steps), "samples": _rows(samples)}
            out.write_text(json.dumps(payload, indent=1, default=str))
            return [out]
        samples_path = out.with_name(f"{out.stem}-samples{out.suffix or '.csv'}")
        _write_csv(out, steps)
        _write_csv(samples_path, samples)
        return [out, samples_path]
