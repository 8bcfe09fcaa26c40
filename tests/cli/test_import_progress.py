"""`import` with its progress: JSON lines for the app, a bar on a terminal, and Cancel (SIGINT,
SIGTERM, or a cancel that lands while the run is being written) that stores nothing and exits 130.

The traces are generated here in Kineto's shape (torch.profiler's Chrome JSON); the one for the
cancel tests (1,200,000 events: 8 MB gzipped, 150 MB of JSON) takes over a second to read here."""
from __future__ import annotations

import gzip
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessions.store import Session
from sessions.traces import import_trace, load_trace
from traces.progress import ReadCancelled, ReadProgress

ROOT = Path(__file__).resolve().parents[2]
BIG_STEPS, BIG_OPS_PER_STEP = 2_000, 599  # 1,200,000 X events


def kineto_trace_text(steps: int, ops_per_step: int, rank: int | None = None) -> str:
    """`steps` ProfilerStep#N windows of 10 ms (step N from 1), each holding `ops_per_step` 10 µs
    aten::mm ops on one CPU thread, in a torch.profiler-shaped document."""
    events = ['{"ph":"M","name":"process_name","ts":0,"pid":7,"tid":0,"args":{"name":"python"}}']
    base = 1_700_000_000_000  # epoch µs, as Kineto writes them
    for step in range(1, steps + 1):
        start = base + step * 10_000
        events.append(f'{{"ph":"X","cat":"user_annotation","name":"ProfilerStep#{step}","pid":7,"tid":7,'
                      f'"ts":{start},"dur":10000,"args":{{"External id":{step}}}}}')
        events.extend(f'{{"ph":"X","cat":"cpu_op","name":"aten::mm","pid":7,"tid":7,"ts":{start + 1 + k * 16},'
                      f'"dur":10,"args":{{"External id":{step * 1000 + k}}}}}' for k in range(ops_per_step))
    distributed = f'"distributedInfo":{{"backend":"nccl","rank":{rank},"world_size":2}},' if rank is not None else ""
    return ('{"schemaVersion":1,"deviceProperties":[],' + distributed + '"displayTimeUnit":"ms","traceEvents":[\n'
            + ",\n".join(events) + "\n]}")


def write_kineto_trace(path: Path, steps: int, ops_per_step: int, rank: int | None = None) -> int:
    """The trace at `path` (gzipped when it ends in .gz); returns its event count (X events)."""
    text = kineto_trace_text(steps, ops_per_step, rank).encode()
    path.write_bytes(gzip.compress(text, compresslevel=1) if path.suffix == ".gz" else text)
    return steps * (ops_per_step + 1)


@pytest.fixture(scope="module")
def big_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.pt.trace.json.gz"
    write_kineto_trace(path, BIG_STEPS, BIG_OPS_PER_STEP)
    return path


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "main.py", "import", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def _runs(session: Path) -> list[str]:
    if not session.exists():
        return []
    with Session.open_readonly(session) as s:
        return [r.run_id for r in s.runs()]


def test_progress_lines_then_stages_then_the_run(tmp_path: Path) -> None:
    trace = tmp_path / "small.json"
    events = write_kineto_trace(trace, steps=3, ops_per_step=4)
    session = tmp_path / "s.stepscope"
    with _cli(str(trace), "--session", str(session), "--progress-jsonl") as proc:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    progress = [r for r in records if "done" in r]
    stages = [r["stage"] for r in records if "stage" in r]
    size = trace.stat().st_size
    assert progress and all(r["total"] == size for r in progress)  # bytes of the file as stored
    assert progress[-1]["done"] == size
    assert [r["done"] for r in progress] == sorted(r["done"] for r in progress)
    assert stages == ["summarising", "storing"]
    assert records.index(progress[-1]) < records.index({"stage": "summarising"})
    final = records[-1]
    assert final["events"] == events == 15 and final["session"] == str(session)
    assert _runs(session) == [final["run_id"]]
    with Session.open_readonly(session) as s:
        (record,) = s.runs()
        assert record.kind == "imported" and record.step_count == 3
        assert len(load_trace(s, final["run_id"])[0]) == events


def test_ctrl_c_on_a_terminal_cancels_the_read_exits_130_and_stores_nothing(big_trace: Path, tmp_path: Path) -> None:
    """stderr on a terminal: the rich bar is drawn there; Ctrl+C (SIGINT) while it reads."""
    session = tmp_path / "s.stepscope"
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "main.py", "import", str(big_trace), "--session", str(session)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=slave, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm", COLUMNS="120"))
    os.close(slave)
    shown = b""
    try:
        deadline = time.monotonic() + 60
        while b"reading big.pt.trace.json.gz" not in shown and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                shown += os.read(master, 65536)
        assert b"reading big.pt.trace.json.gz" in shown, shown[-2000:]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal's other end closed with the process
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
    assert proc.returncode == 130
    assert f"stepscope import: cancelled; nothing was stored in {session}".encode() in shown.replace(b"\r\n", b"")
    assert b"Traceback" not in shown and out == ""
    assert _runs(session) == []


def test_sigterm_from_the_app_cancels_mid_read_and_stores_nothing(big_trace: Path, tmp_path: Path) -> None:
    """The app's Cancel: SIGTERM once the child has reported bytes read."""
    session = tmp_path / "s.stepscope"
    with _cli(str(big_trace), "--session", str(session), "--progress-jsonl") as proc:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["total"] == big_trace.stat().st_size
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [f"stepscope import: cancelled; nothing was stored in {session}"]
    assert "run_id" not in rest
    assert all(json.loads(line).get("done", 0) < first["total"] for line in rest.splitlines())  # stopped mid-read
    assert _runs(session) == []


def test_a_cancel_while_the_run_is_written_takes_it_all_back(tmp_path: Path) -> None:
    """The run, its steps and its trace are one transaction: a cancel that lands after every row
    was written (but before the commit) leaves the session as it was, its earlier run intact."""
    trace = tmp_path / "t.json"
    write_kineto_trace(trace, steps=2, ops_per_step=3)
    session = tmp_path / "s.stepscope"
    kept, _, _ = import_trace(session, trace)
    progress = ReadProgress()
    stages: list[str] = []

    def on_stage(name: str) -> None:
        stages.append(name)
        if name == "storing":
            progress.cancel()

    with pytest.raises(ReadCancelled, match="cancelled; nothing was stored"):
        import_trace(session, trace, progress=progress, on_stage=on_stage)
    assert stages == ["summarising", "storing"]
    assert _runs(session) == [kept]
    with Session.open_readonly(session) as s:
        assert len(load_trace(s, kept)[0]) == 8
        assert s.orphaned_runs() == []
