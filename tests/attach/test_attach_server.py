"""`attach HOST:PORT` against real programs serving their framework's profiler (JAX, TF), each
capture stored as a run that `report --ops` reads; and each reason a capture gives nothing,
produced for real: nothing listening, an HTTP server, a gRPC server without the profiler
service, a profiler server whose program does nothing. Windows are 2 s or less."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from profilers.server_capture import failure_reason
from sessions.run_reader import RunRecord
from sessions.store import Session
from tests.attach.targets import (
    GRPC_BARE,
    HTTP_SERVER,
    JAX_IDLE,
    JAX_LOOP,
    ROOT,
    TF_LOOP,
    attach,
    free_port,
    running,
)


def _ops(session: Path, run_id: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "main.py", "report", str(session), "--ops", run_id, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _one_run(session: Path) -> RunRecord:
    with Session.open_readonly(session) as opened:
        runs = opened.runs()
    assert len(runs) == 1
    return runs[0]


def _no_runs(session: Path) -> bool:
    if not session.exists():
        return True
    with Session.open_readonly(session) as opened:
        return not opened.runs()


def test_a_jax_programs_profiler_server_gives_a_run_with_its_hlo_ops(tmp_path: Path) -> None:
    port = free_port()
    session = tmp_path / "s.stepscope"
    with running(JAX_LOOP, port):
        done = attach(f"localhost:{port}", "--for", "2s", "--session", str(session))
    assert done.returncode == 0, done.stderr
    assert "stored as run" in done.stdout
    run = _one_run(session)
    assert run.kind == "imported" and run.status == "ok"
    assert run.spec["attached_to"] == f"localhost:{port}" and run.spec["framework"] == "jax"
    ops = _ops(session, run.run_id)
    assert "hlo_op" in {op["kind"] for op in ops["ops"]}, ops
    assert run.step_count > 10  # the loop's StepTraceAnnotation windows, as the run's steps


def test_a_tf_programs_profiler_server_gives_a_run_with_its_framework_ops(tmp_path: Path) -> None:
    port = free_port()
    session = tmp_path / "s.stepscope"
    with running(TF_LOOP, port):
        done = attach(f"localhost:{port}", "--for", "2s", "--session", str(session))
    assert done.returncode == 0, done.stderr
    run = _one_run(session)
    assert run.spec["framework"] == "tf"
    names = {op["name"] for op in _ops(session, run.run_id)["ops"]}
    assert "Tanh" in names, names


def _fails_with(target: str, session: Path, *words: str) -> str:
    done = attach(target, "--for", "1s", "--session", str(session))
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stepscope attach: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert _no_runs(session)
    return lines[0]


def test_a_port_with_nothing_listening_says_connection_refused(tmp_path: Path) -> None:
    _fails_with(f"localhost:{free_port()}", tmp_path / "s.stepscope", "nothing is listening", "connection refused")


def test_the_reason_survives_a_user_who_quiets_tensorflows_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TF_CPP_MIN_LOG_LEVEL=3 (a common way to quiet TensorFlow) must not hide the client's native
    log, which is where "Connection refused" is read from."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    _fails_with(f"localhost:{free_port()}", tmp_path / "s.stepscope", "nothing is listening", "connection refused")


def test_an_http_server_is_not_a_profiler_server(tmp_path: Path) -> None:
    port = free_port()
    with running(HTTP_SERVER, port):
        _fails_with(f"localhost:{port}", tmp_path / "s.stepscope", "is not a profiler server", "gRPC")


def test_a_grpc_server_without_the_profiler_service_is_a_mismatch(tmp_path: Path) -> None:
    port = free_port()
    with running(GRPC_BARE, port):
        _fails_with(f"localhost:{port}", tmp_path / "s.stepscope", "no profiler service", "version mismatch")


def test_a_profiler_server_whose_program_does_nothing_says_nothing_ran(tmp_path: Path) -> None:
    port = free_port()
    with running(JAX_IDLE, port):
        _fails_with(f"localhost:{port}", tmp_path / "s.stepscope", "nothing ran", "1 s window")


def test_a_bad_address_or_duration_is_a_usage_error(tmp_path: Path) -> None:
    for args in (("nohost",), ("localhost:99999",), ("localhost:1", "--for", "soon"), (), ("localhost:1", "--idle"),
                 ("localhost:1", "--pid", "1")):
        done = attach(*args, "--session", str(tmp_path / "s.stepscope"))
        assert done.returncode == 2 and done.stderr.startswith("stepscope attach: "), (args, done.stderr)


def test_ctrl_c_stops_the_capture_and_stores_nothing(tmp_path: Path) -> None:
    port = free_port()
    session = tmp_path / "s.stepscope"
    with running(JAX_LOOP, port):
        process = subprocess.Popen([sys.executable, "main.py", "attach", f"localhost:{port}", "--for", "30s",
                                    "--session", str(session)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        time.sleep(2.0)
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl+C: to the capture child as well
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert time.monotonic() - started < 10
    assert "nothing was stored" in stderr
    assert _no_runs(session)


def test_the_clients_native_log_lines_become_the_reason() -> None:
    """The lines xprof's client logs for each failure (copied from real runs of it)."""
    refused = ("W0000 capture_profile.cc:181] localhost:9 returned UNAVAILABLE: failed to connect to all addresses; "
               "last error: UNKNOWN: ipv4:127.0.0.1:9: Failed to connect to remote host: Connection refused")
    dns = ("W0000 capture_profile.cc:181] nosuchhost.invalid:9000 returned UNAVAILABLE: errors resolving "
           "nosuchhost.invalid:9000: [field:hostname lookup error:address lookup failed for nosuchhost.invalid:9000: "
           "Domain name not found]")
    busy = "W0000 capture_profile.cc:181] h:1 returned FAILED_PRECONDITION: Another profiling session active."
    error = "UNAVAILABLE: No trace event was collected because there were no responses from clients"
    assert "connection refused" in failure_reason("localhost:9", 2, error, refused)
    assert "cannot be resolved" in failure_reason("nosuchhost.invalid:9000", 2, error, dns)
    assert "Another profiling session active" in failure_reason("h:1", 2, error, busy)
    assert "nothing ran" in failure_reason("h:1", 2, error, "W0000 No trace event is collected from h:1")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None or not Path("/dev/shm").is_dir(),
                    reason="needs root, unshare and /dev/shm to give the program a disk of its own")
def test_a_program_on_another_disk_needs_a_shared_logdir(tmp_path: Path) -> None:
    """The server saves its capture on its own disk: with a /tmp of its own (as on another
    machine) the default folder stays empty here, which the reason says; a folder both see
    (--logdir) gives the run."""
    if any(Path(p).resolve().is_relative_to("/tmp") for p in (ROOT, sys.executable)):
        pytest.skip("the checkout or its Python lies under /tmp, which the program's own /tmp would hide")
    port = free_port()
    session = tmp_path / "s.stepscope"
    with running(JAX_LOOP, port, own_tmp=True), tempfile.TemporaryDirectory(dir="/dev/shm") as shared:
        line = _fails_with(f"localhost:{port}", session, "saved it on its own machine", "--logdir")
        assert "nothing ran" not in line
        done = attach(f"localhost:{port}", "--for", "1s", "--session", str(session), "--logdir", shared)
        assert done.returncode == 0, done.stderr
        assert list(Path(shared).rglob("*.xplane.pb"))  # the user's folder is kept
    assert _one_run(session).spec["attached_to"] == f"localhost:{port}"
