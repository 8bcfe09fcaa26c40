"""The runs of the open session, Qt-free: one row of headline figures per run, read from the file.

A run of the user's own program stores no framework in its spec (it is not known until the
program imports one): its figures take it from the stored environment (the `hello`/`program`
event's) or summary, so the list, the legends and the comparison view name it like any run.

Reading happens through a fresh read-only Session each time (a Session belongs to one thread, and
the recorder writes the same file from its own), so the list is always what the file holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sessions.blob_store import TraceWindow
from sessions.headline import headline
from sessions.schema import SessionError
from sessions.store import RunRecord, Session

COLUMNS = (  # (key, header, format)
    ("framework", "Framework", "{}"), ("workload", "Workload", "{}"), ("variant", "Variant", "{}"),
    ("batch_size", "Batch", "{}"), ("status", "Status", "{}"), ("where", "Ran on", "{}"), ("steps", "Steps", "{}"),
    ("step_ms_median", "Median step (ms)", "{:.2f}"), ("step_ms_p95", "p95 (ms)", "{:.2f}"),
    ("samples_per_s", "Samples/s", "{:,.0f}"), ("compile_ms", "Compile (ms)", "{:,.0f}"),
    ("peak_host_mb", "Peak host (MB)", "{:,.0f}"), ("peak_device_mb", "Peak device (MB)", "{:,.0f}"),
    ("accuracy", "Accuracy", "{:.3f}"), ("run_id", "Run", "{}"),
)


def is_program(record: RunRecord) -> bool:
    return record.kind == "program" or record.spec.get("kind") == "program"


def figures_of(record: RunRecord, steps: dict[str, np.ndarray]) -> dict[str, Any]:
    """`sessions.headline`'s figures, with a program run's framework (and version) filled in from
    what it stored besides its spec, and `where`: its executor and host ("ssh: gpu1")."""
    figures = headline(record, steps)
    if figures.get("executor"):
        figures["where"] = f"{figures['executor']}: {figures['host']}" if figures.get("host") else figures["executor"]
    if figures["framework"] is None:
        for source in (record.environment, record.summary):
            framework = (source or {}).get("framework")
            if isinstance(framework, str) and framework:
                figures["framework"] = framework
                figures["framework_version"] = figures["framework_version"] or source.get("framework_version")
                break
    return figures


def format_cell(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    fmt = next(f for k, _, f in COLUMNS if k == key)
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


@dataclass
class RunRow:
    record: RunRecord
    figures: dict[str, Any]
    windows: list[TraceWindow] = field(default_factory=list)  # its stored trace windows (docs/capture.md)

    @property
    def shows_windows(self) -> bool:
        """Whether the list shows the run's windows as rows of their own: it has captures on demand."""
        return any(w.window > 0 for w in self.windows)

    @property
    def run_id(self) -> str:
        return self.record.run_id


class RunsModel:
    """Rows for every run of `path`; `reload()` re-reads the file (raises SessionError)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.rows: list[RunRow] = []

    def reload(self) -> None:
        self.rows = []
        if self.path is None or not Path(self.path).exists():
            return
        with Session.open_readonly(self.path) as session:
            for record in session.runs():
                self.rows.append(RunRow(record, figures_of(record, session.steps(record.run_id)),
                                        session.trace_windows(record.run_id)))

    def row(self, run_id: str) -> RunRow | None:
        return next((r for r in self.rows if r.run_id == run_id), None)

    def curves(self, run_id: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[dict[str, Any]]]:
        """Steps, samples and phase edges of one run, for the plots."""
        with self._open() as session:
            return session.steps(run_id), session.samples(run_id), session.phases(run_id)

    def log(self, run_id: str) -> str:
        with self._open() as session:
            return session.log(run_id)

    def _open(self) -> Session:
        if self.path is None:
            raise SessionError("no session file is open")
        return Session.open_readonly(self.path)
