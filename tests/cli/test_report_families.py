"""`report FILE --families RUN_ID`: a real JAX run's op time by family (its XPlane's HLO modules
say what XLA:CPU's ynn_fusions hold, so nothing is left as "other"), a stored PyTorch trace's
totals against its self times, and one line with exit 2 for a run that is not there."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sessions.store import Session
from tests.conftest import copy_session
from traces.analysis import describe_source, step_windows
from traces.op_families import FAMILIES
from traces.readers import read_trace
from traces.self_time import self_times
from traces.table import Kind, table_to_blobs

ROOT = Path(__file__).resolve().parents[2]
TORCH_TRACE = ROOT / "tests" / "data" / "traces" / "torch_convnet.trace.json.gz"


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "main.py", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)


def only_run(session: Path) -> str:
    proc = cli("report", str(session), "--json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    return str(row["run_id"])


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory: pytest.TempPathFactory, traced_run_session: Callable[[str], Path]) -> tuple[Path, str]:
    """A copy of the session's shared small jax run with its two-step trace window (tests/conftest.py)."""
    path = copy_session(traced_run_session("jax"), tmp_path_factory.mktemp("families") / "jax.stepscope")
    return path, only_run(path)


def test_a_jax_run_by_family(jax_run: tuple[Path, str]) -> None:
    path, run_id = jax_run
    proc = cli("report", str(path), "--families", run_id, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    shares = {f["family"]: f["share"] for f in result["families"]}
    assert list(shares) == list(FAMILIES)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["other"] == 0.0  # the XPlane's modules resolve every ynn_fusion
    # the convnet's parts are all found (their sizes vary run to run on a shared CPU); the
    # optimizer's update is optax's, known from the Python stack each op records
    assert all(shares[f] > 0 for f in ("convolution", "matmul", "reduction", "optimizer update"))
    assert len(result["steps"]) == 2 and all(len(f["per_step_ms"]) == 2 for f in result["families"])
    assert any("HLO" in n for n in result["notes"])
    text = cli("report", str(path), "--families", run_id)
    assert text.returncode == 0, text.stderr
    assert "Op time by family" in text.stdout and "convolution" in text.stdout and "ynn_fusion" in text.stdout


def test_a_stored_pytorch_trace_counts_each_op_once(tmp_path: Path) -> None:
    session = tmp_path / "torch.stepscope"
    table = read_trace(TORCH_TRACE)
    with Session.create_or_open(session) as writer:  # a run that kept only its parsed trace, as an imported one does
        writer.begin_run("t1", {"framework": "torch", "workload": "convnet"})
        writer.finish_run("t1", "ok", None, {}, "")
        writer.store_trace("t1", table_to_blobs(table), len(table), describe_source(table), str(TORCH_TRACE))
    result = json.loads(cli("report", str(session), "--families", "t1", "--json").stdout)
    ops = (table.kind == Kind.FRAMEWORK_OP) & np.isin(table.step, step_windows(table)[0])
    assert result["op_ms"] == pytest.approx(int(self_times(table)[ops].sum()) / 1e6)
    assert sum(f["self_ms"] for f in result["families"]) == pytest.approx(result["op_ms"])
    assert {f["family"]: f["count"] for f in result["families"]}["optimizer update"] > 0


def test_an_unknown_run_is_one_line_and_exit_2(jax_run: tuple[Path, str]) -> None:
    proc = cli("report", str(jax_run[0]), "--families", "no-such-run")
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "no-such-run" in proc.stderr
