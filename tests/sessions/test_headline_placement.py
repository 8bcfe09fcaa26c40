"""`report --json` says where each run ran: the placement its hello stored, here for older runs."""
from __future__ import annotations

from typing import Any

import numpy as np

from sessions.headline import CONTRACT_FIELDS, headline
from sessions.run_reader import RunRecord


def _record(kind: str, environment: dict[str, Any]) -> RunRecord:
    return RunRecord(run_id="r", kind=kind, spec={"framework": "torch"}, environment=environment, status="ok",
                     reason=None, summary={}, started_at=0.0, finished_at=1.0, step_count=0, updated_at=1.0)


def _row(kind: str, environment: dict[str, Any]) -> dict[str, Any]:
    return headline(_record(kind, environment), {"step_ms": np.empty(0), "phase": np.empty(0)})


def test_a_remote_run_names_its_executor_and_host() -> None:
    row = _row("run", {"placement": {"executor": "ssh", "host": "gpu1"}, "host": {"hostname": "laptop"}})
    assert (row["executor"], row["host"]) == ("ssh", "gpu1")
    assert list(row) == list(CONTRACT_FIELDS)


def test_a_run_from_before_executors_ran_here() -> None:
    assert (lambda r: (r["executor"], r["host"]))(_row("run", {"host": {"hostname": "laptop"}})) == ("local", "laptop")


def test_an_imported_trace_ran_nowhere_we_know() -> None:
    assert (lambda r: (r["executor"], r["host"]))(_row("imported", {})) == (None, None)
