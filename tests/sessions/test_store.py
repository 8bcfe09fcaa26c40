"""The session file: every event type round-trips, artifacts come back byte-identical, bad files
are refused with one line naming them, old files open and migrate, readers never write."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sessions import blob_store, run_reader, schema
from sessions.store import Session, SessionError, default_session_path, list_sessions

FIXTURE_V1 = Path(__file__).resolve().parents[1] / "data" / "session-v1.stepscope"
SPEC = {"framework": "torch", "workload": "convnet", "mode": "train", "variant": "eager", "batch_size": 8}


def stream(tmp_path: Path, steps: int = 12) -> list[dict[str, Any]]:
    """A whole run's events, one of every type, with two artifact files on disk."""
    trace = tmp_path / "torch.trace.json.gz"
    durations = np.random.default_rng(0).random(2000).tolist()
    trace.write_bytes(gzip.compress(json.dumps({"traceEvents": [{"name": "op", "dur": d} for d in durations]}).encode()))
    xplane = tmp_path / "host.xplane.pb"
    xplane.write_bytes(b"\x0a\x04host" + b"\x12\x08op-stats" * 5000)
    events: list[dict[str, Any]] = [
        {"type": "hello", "t": 0.1, "protocol": 1, "framework": "torch", "framework_version": "2.13.0+cpu",
         "device_kind": "cpu", "device_name": "cpu (AVX2)", "host": {"hostname": "box", "cpu_count": 2},
         "spec": SPEC, "param_count": 804554, "pid": 99, "frameworks_loaded": ["torch"]},
        {"type": "phase", "t": 0.2, "name": "compile", "edge": "start"},
        {"type": "compile", "t": 0.9, "ms": 700.0, "what": "torch compiled: first call"},
        {"type": "phase", "t": 0.9, "name": "compile", "edge": "end"},
    ]
    for i in range(steps):
        phase = "warmup" if i < 2 else "trace" if i >= steps - 2 else "measure"
        events.append({"type": "step", "t": 1.0 + i * 0.03, "index": i, "phase": phase, "step_ms": 30.0 + i / 7,
                       "samples_per_s": 8000.0 / (30.0 + i / 7), "loss": None if phase == "trace" else 2.0 / (i + 1)})
        events.append({"type": "sample", "t": 1.0 + i * 0.03, "host_rss": 500_000_000 + i, "cpu_percent": 150.5,
                       "device_in_use": None if i % 2 else 1000 + i, "device_peak": None if i % 2 else 2000,
                       "device_memory_source": None if i % 2 else "torch.cuda", "gpu_util": None if i % 2 else 55.0,
                       "gpu_mem_used": None, "gpu_util_source": None if i % 2 else "nvml-sampled"})
    events += [
        {"type": "artifact", "t": 2.0, "kind": "chrome-trace", "path": str(trace), "bytes": trace.stat().st_size},
        {"type": "artifact", "t": 2.0, "kind": "xplane", "path": str(xplane), "bytes": xplane.stat().st_size},
        {"type": "eval", "t": 2.5, "accuracy": 0.8, "macro_f1": 0.75, "loss": 0.6, "samples": 360},
        {"type": "summary", "t": 2.6, "summary": {"steps": steps - 4, "step_ms_median": 31.0}},
    ]
    return events


def write_run(path: Path, events: list[dict[str, Any]], run_id: str = "r1", batch: int = 5, finish: bool = True) -> None:
    with Session.create_or_open(path) as session:
        session.begin_run(run_id, SPEC)
        for start in range(0, len(events), batch):
            session.append_events(run_id, events[start:start + batch])
        if finish:
            session.finish_run(run_id, "ok", None, {"steps": 8, "final": float("nan")}, "stderr line\n")


def test_every_event_type_round_trips(tmp_path: Path) -> None:
    events = stream(tmp_path)
    path = tmp_path / "s.stepscope"
    write_run(path, events)
    with Session.open_readonly(path) as session:
        (record,) = session.runs()
        assert record == session.run("r1")
        assert (record.status, record.reason, record.kind, record.step_count) == ("ok", None, "run", 12)
        assert record.spec == SPEC
        assert record.environment["framework_version"] == "2.13.0+cpu" and record.environment["host"]["cpu_count"] == 2
        assert record.environment["variant"] == "eager" and "spec" not in record.environment
        assert record.summary["steps"] == 8 and np.isnan(record.summary["final"])
        assert record.finished_at >= record.started_at
        sent = [e for e in events if e["type"] == "step"]
        steps = session.steps("r1")
        assert steps["index"].tolist() == [e["index"] for e in sent]
        assert steps["phase"].tolist() == [e["phase"] for e in sent]
        for key in ("t", "step_ms", "samples_per_s"):
            assert steps[key].tolist() == [e[key] for e in sent]  # exact: float64 all the way
        assert np.array_equal(steps["loss"], np.array([e["loss"] for e in sent], dtype=float), equal_nan=True)
        samples = session.samples("r1")
        sent = [e for e in events if e["type"] == "sample"]
        assert samples["host_rss"].tolist() == [e["host_rss"] for e in sent]
        assert np.array_equal(samples["device_in_use"], np.array([e["device_in_use"] for e in sent], dtype=float),
                              equal_nan=True)
        assert samples["device_memory_source"].tolist() == [e["device_memory_source"] or "" for e in sent]
        assert samples["gpu_util_source"][0] == "nvml-sampled"
        assert session.compiles("r1") == [{"t": 0.9, "ms": 700.0, "what": "torch compiled: first call"}]
        assert session.evals("r1") == [{"t": 2.5, "accuracy": 0.8, "macro_f1": 0.75, "loss": 0.6, "samples": 360}]
        assert [(p["name"], p["edge"]) for p in session.phases("r1")] == [("compile", "start"), ("compile", "end")]
        assert session.log("r1") == "stderr line\n"


def test_artifacts_are_stored_compressed_and_read_back_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blob_store, "CHUNK_BYTES", 10_000)  # several chunks per file
    events = stream(tmp_path)
    path = tmp_path / "s.stepscope"
    write_run(path, events)
    originals = {Path(e["path"]).name: Path(e["path"]).read_bytes() for e in events if e["type"] == "artifact"}
    for name in originals:
        (tmp_path / name).unlink()  # the session alone holds them now
    with Session.open_readonly(path) as session:
        records = {a.name: a for a in session.artifacts("r1")}
        assert set(records) == set(originals)
        xplane, trace = records["host.xplane.pb"], records["torch.trace.json.gz"]
        assert xplane.codec == "zlib" and xplane.stored_size < xplane.size / 10 and xplane.kind == "xplane"
        assert trace.codec == "raw" and trace.stored_size == trace.size  # gzip already: not squeezed twice
        for name, data in originals.items():
            assert records[name].size == len(data)
            assert session.artifact_bytes("r1", name) == data
        with pytest.raises(SessionError, match="no artifact"):
            session.artifact_bytes("r1", "nope.pb")


def test_missing_artifact_file_and_repeated_names(tmp_path: Path) -> None:
    data = tmp_path / "a.pb"
    data.write_bytes(b"x" * 100)
    path = tmp_path / "s.stepscope"
    art = {"type": "artifact", "t": 1.0, "kind": "xplane", "bytes": 100}
    write_run(path, [{**art, "path": str(data)}, {**art, "path": str(data)}, {**art, "path": str(tmp_path / "gone.pb")}])
    with Session.open_readonly(path) as session:
        assert [a.name for a in session.artifacts("r1")] == ["a.pb", "2-a.pb", "gone.pb"]
        assert session.artifact_bytes("r1", "2-a.pb") == b"x" * 100
        assert session.artifacts("r1")[2].codec == "missing"
        with pytest.raises(SessionError, match="not stored"):
            session.artifact_bytes("r1", "gone.pb")


def test_a_reader_sees_a_running_run_and_finishing_merges_step_blocks(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    events = stream(tmp_path, steps=40)
    writer = Session.create_or_open(path)
    writer.begin_run("r1", SPEC)
    for start in range(0, 60, 3):
        writer.append_events("r1", events[start:start + 3])
    with Session.open_readonly(path) as reader:
        assert reader.runs()[0].status == "running"  # its writer (this process) is alive
        seen = reader.steps("r1")["index"].tolist()
        assert seen == [e["index"] for e in events[:60] if e["type"] == "step"]
    writer.append_events("r1", events[60:])
    writer.finish_run("r1", "failed", "boom", {}, "")
    writer.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM step_blocks").fetchone()[0] == 1
    conn.close()
    with Session.open_readonly(path) as reader:
        assert reader.steps("r1")["index"].tolist() == list(range(40))
        assert (reader.run("r1").status, reader.run("r1").reason) == ("failed", "boom")


def _set_writer(path: Path, **columns: Any) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for name, value in columns.items():
            conn.execute(f"UPDATE runs SET {name} = ?", (value,))
    conn.close()


def test_a_running_run_whose_writer_is_gone_reads_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    write_run(path, stream(tmp_path), finish=False)
    with Session.open_readonly(path) as session:
        assert session.run("r1").status == "running"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _set_writer(path, writer_pid=gone.pid)
    with Session.open_readonly(path) as session:
        assert session.run("r1").status == "interrupted"
    _set_writer(path, writer_pid=os.getpid(), writer_started=1.0)  # our pid, but a different process (pid reuse)
    with Session.open_readonly(path) as session:
        assert session.run("r1").status == "interrupted"
    _set_writer(path, writer_host="elsewhere", updated_at=time.time())
    with Session.open_readonly(path) as session:
        assert session.run("r1").status == "running"  # another host, heard from recently
    _set_writer(path, updated_at=time.time() - run_reader.STALE_AFTER_S - 1)
    with Session.open_readonly(path) as session:
        assert session.run("r1").status == "interrupted"


def _session_with_newer_schema(path: Path) -> None:
    Session.create_or_open(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()


def _truncated(path: Path) -> None:
    write_run(path, stream(path.parent))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    conn.close()


BAD_FILES = {
    "truncated": (_truncated, "truncated"),
    "random bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(10_000)), "not an SQLite database"),
    "text": (lambda p: p.write_text('{"not": "a session"}'), "not an SQLite database"),
    "short header": (lambda p: p.write_bytes(b"SQLite format 3\0" + b"\0" * 20), "truncated"),
    "foreign sqlite": (_foreign_sqlite, "not a Stepscope session"),
    "empty": (lambda p: p.write_bytes(b""), "empty"),
    "newer schema": (_session_with_newer_schema, "newer Stepscope (session schema v99)"),
    "a folder": (lambda p: p.mkdir(), "not a file"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_are_refused_with_one_line_naming_the_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.stepscope"
    make, words = BAD_FILES[kind]
    make(path)
    before = path.read_bytes() if path.is_file() else None
    openers = [Session.open_readonly] + ([] if kind == "empty" else [Session.create_or_open])
    for opener in openers:
        with pytest.raises(SessionError) as caught:
            opener(path)
        message = str(caught.value)
        assert str(path) in message and words in message and "\n" not in message, message
    if before is not None:
        assert path.read_bytes() == before  # refusing never writes


def test_newer_schema_message_says_which_schema_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "new.stepscope"
    _session_with_newer_schema(path)
    with pytest.raises(SessionError, match=rf"reads schema v{schema.SCHEMA_VERSION} and older.*reads v99"):
        Session.open_readonly(path)


def test_damaged_pages_raise_session_error_not_sqlite_error(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    write_run(path, stream(tmp_path))
    data = bytearray(path.read_bytes())
    data[4096:] = np.random.default_rng(1).bytes(len(data) - 4096)  # page 1 (header, schema) intact
    path.write_bytes(bytes(data))
    with pytest.raises(SessionError, match="s.stepscope"):
        with Session.open_readonly(path) as session:
            session.runs()
            session.steps("r1")
            session.samples("r1")


def test_an_empty_file_becomes_a_session_when_opened_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "s.stepscope"
    path.parent.mkdir(parents=True)
    path.touch()
    Session.create_or_open(path).close()
    with Session.open_readonly(path) as session:
        assert session.runs() == [] and session.file_version == schema.SCHEMA_VERSION


def test_the_v1_fixture_opens_and_reads(tmp_path: Path) -> None:
    path = tmp_path / FIXTURE_V1.name  # a copy: readers leave -wal/-shm files beside a WAL database
    shutil.copy(FIXTURE_V1, path)
    with Session.open_readonly(path) as session:
        assert session.file_version == 1
        runs = {r.run_id: r for r in session.runs()}
        assert [r.status for r in runs.values()] == ["ok", "failed", "interrupted"]
        ok = runs["20250101-120000-aaaaaa"]
        assert ok.environment["framework"] == "torch" and ok.spec["batch_size"] == 32 and ok.summary["steps"] == 12
        steps = session.steps(ok.run_id)
        assert steps["index"].tolist() == list(range(16)) and set(steps["phase"]) == {"warmup", "measure", "trace"}
        assert len(session.samples(ok.run_id)["t"]) == 8 and session.evals(ok.run_id)[0]["accuracy"] == 0.8
        assert session.compiles(ok.run_id)[0]["ms"] == 1000.0 and "line 2" in session.log(ok.run_id)
        assert gzip.decompress(session.artifact_bytes(ok.run_id, "torch.trace.json.gz")).startswith(b'{"traceEvents"')
        assert len(session.artifact_bytes(ok.run_id, "host.xplane.pb")) == 2006
        assert "NaN" in runs["20250101-120100-bbbbbb"].reason
    with Session.create_or_open(path) as session:  # and a writer can add to it
        session.begin_run("new", SPEC)
        assert len(session.runs()) == 4


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE trace_events (run INTEGER NOT NULL, data BLOB)")


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_migrations_run_in_memory_for_readers_and_in_place_for_writers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.stepscope"
    shutil.copy(FIXTURE_V1, path)
    monkeypatch.setattr(schema, "MIGRATIONS", [_v1_to_v2])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    before = _digest(path)
    with Session.open_readonly(path) as session:
        assert session.file_version == 1 and len(session.runs()) == 3
        assert session._conn.execute("SELECT COUNT(*) FROM trace_events").fetchone() == (0,)
    assert _digest(path) == before
    with Session.create_or_open(path) as session:
        assert session.file_version == 1
    with Session.open_readonly(path) as session:
        assert session.file_version == 2 and len(session.runs()) == 3
    monkeypatch.setattr(schema, "MIGRATIONS", [])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    with pytest.raises(SessionError, match="schema v2"):
        Session.open_readonly(path)


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.stepscope"
    shutil.copy(FIXTURE_V1, path)

    def broken(conn: sqlite3.Connection) -> None:
        _v1_to_v2(conn)
        raise RuntimeError("migration bug")

    monkeypatch.setattr(schema, "MIGRATIONS", [broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    with pytest.raises(SessionError, match="migration bug"):
        Session.create_or_open(path)
    monkeypatch.setattr(schema, "MIGRATIONS", [])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    with Session.open_readonly(path) as session:
        assert session.file_version == 1
        assert session._conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'trace_events'").fetchone() == (0,)


def test_reading_never_modifies_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    write_run(path, stream(tmp_path))
    before = _digest(path)
    with Session.open_readonly(path) as session:
        for run in session.runs():
            session.steps(run.run_id), session.samples(run.run_id), session.log(run.run_id)
            [session.artifact_bytes(run.run_id, a.name) for a in session.artifacts(run.run_id)]
        session.copy_to(tmp_path / "copy.stepscope")
        with pytest.raises(SessionError, match="read-only"):
            session.begin_run("r2", SPEC)
    assert _digest(path) == before


def test_copy_to_snapshots_a_session_that_is_being_written(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    events = stream(tmp_path)
    with Session.create_or_open(path) as writer:
        writer.begin_run("r1", SPEC)
        writer.append_events("r1", events)
        target = tmp_path / "saved" / "copy.stepscope"
        writer.copy_to(target)
        writer.copy_to(target)  # over an existing file
    with Session.open_readonly(target) as copy:
        assert copy.steps("r1")["index"].tolist() == list(range(12))
        assert len(copy.artifacts("r1")) == 2
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".partial")] == []


def test_writer_errors_are_session_errors(tmp_path: Path) -> None:
    with Session.create_or_open(tmp_path / "s.stepscope") as session:
        session.begin_run("r1", SPEC)
        with pytest.raises(SessionError, match="already exists"):
            session.begin_run("r1", SPEC)
        with pytest.raises(SessionError, match="no run 'r2'"):
            session.append_events("r2", [])
        with pytest.raises(SessionError, match="cannot finish as 'running'"):
            session.finish_run("r1", "running", None, {}, "")
        with pytest.raises(SessionError, match="no run"):
            session.steps("zzz")
        session.append_events("r1", [{"type": "step", "t": 1.0}, {"type": "telepathy", "t": 1.0}])  # skipped
        assert session.run("r1").step_count == 0


def test_default_location_and_listing(tmp_path: Path) -> None:
    default = default_session_path()
    assert default.name == "default.stepscope" and default.parent.name == "sessions"
    assert list_sessions(tmp_path / "none") == []
    for name in ("a.stepscope", "b.stepscope", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    os.utime(tmp_path / "a.stepscope", (1, 1))
    assert [p.name for p in list_sessions(tmp_path)] == ["b.stepscope", "a.stepscope"]
