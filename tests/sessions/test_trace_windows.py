"""Schema v4 (docs/capture.md): several trace windows per run. A v3 session's one trace becomes its
window 0 (read-only in memory, and in place for a writer); the frozen v4 fixture opens with its two
windows; windows are stored and read by number, and a missing one is a clear SessionError."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sessions import schema
from sessions.blob_store import TraceWindow
from sessions.store import Session, SessionError
from sessions.traces import load_trace

DATA = Path(__file__).resolve().parents[1] / "data"
RUN_ID = "20250101-120000-aaaaaa"  # the fixtures' torch run, with a parsed trace


def test_a_v3_trace_becomes_window_0_for_readers_and_writers(tmp_path: Path) -> None:
    path = tmp_path / "v3.stepscope"
    shutil.copy(DATA / "session-v3.stepscope", path)
    with Session.open_readonly(path) as session:
        assert session.file_version == 3
        assert session.trace_windows(RUN_ID) == [TraceWindow(0, "", None, None, 693)]
        table, _ = load_trace(session, RUN_ID)
        assert len(table) == 693
    with Session.create_or_open(path) as session:
        assert [a.window for a in session.artifacts(RUN_ID)] == [None, None]  # written before windows existed
    with Session.open_readonly(path) as session:
        assert session.file_version == schema.SCHEMA_VERSION
        assert len(load_trace(session, RUN_ID, 0)[0]) == 693
        assert len(session.runs()) == 3 and len(session.sweeps()) == 1


def test_the_v4_fixture_opens_with_both_windows(tmp_path: Path) -> None:
    with Session.open_readonly(DATA / "session-v4.stepscope") as session:
        assert session.file_version == 4
        windows = session.trace_windows(RUN_ID)
        assert [(w.window, w.title, w.first_step, w.last_step) for w in windows] == [
            (0, "trace window", None, None), (1, "steps 6–7", 6, 7)]
        assert len(load_trace(session, RUN_ID, 1)[0]) == windows[1].events
        with pytest.raises(SessionError, match=f"run {RUN_ID} has no trace window 5"):
            load_trace(session, RUN_ID, 5)
        assert [a.window for a in session.artifacts(RUN_ID)] == [0, None]


def test_windows_are_stored_by_number_and_the_summary_counts_the_first(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    shutil.copy(DATA / "session-v4.stepscope", path)
    with Session.create_or_open(path) as session:
        blobs, events, description = session.trace(RUN_ID, 1) or ({}, 0, "")
        session.store_trace(RUN_ID, blobs, events, description, None, TraceWindow(2, "capture: steps 9–9", 9, 9, 0))
        session.store_trace(RUN_ID, blobs, 11, description, None, TraceWindow(1, "replaced", 1, 2, 0))
    with Session.open_readonly(path) as session:
        assert [(w.window, w.label, w.events) for w in session.trace_windows(RUN_ID)] == [
            (0, "", 693), (1, "replaced", 11), (2, "capture: steps 9–9", 693)]
        assert session.run(RUN_ID).summary["trace_events"] == 693
