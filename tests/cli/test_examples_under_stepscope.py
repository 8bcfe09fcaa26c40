"""Issue 13's acceptance: every program of examples/ under `stepscope run --steps 10:13`, each
with no Stepscope code (but the one marked with stepscope.step()): as many steps recorded as the
program ran, the stored trace's step markers are exactly steps 10, 11, 12, the loss where the
source gives one, the program's own stdout unchanged, its exit code passed on."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sessions.store import Session
from sessions.traces import load_trace
from traces.analysis import step_windows

ROOT = Path(__file__).resolve().parents[2]
STEPS = 16
# example, extra arguments, the step source it must be found by, whether that source gives the loss
EXAMPLES = [
    ("torch_loop.py", [], "torch.optim", True),
    ("torch_loop.py", ["--workers", "2"], "torch.optim", True),  # forked DataLoader workers
    ("jax_optax.py", [], "jax.jit", True),
    ("keras_fit.py", [], "keras", True),
    ("tf_custom_loop.py", [], "tf.function", True),
    ("marked_steps.py", [], "stepscope.step", True),
]
TIMING = re.compile(r"[0-9.]+ ms/step")


def own_output(text: str) -> str:
    """The program's stdout with its own timing figure masked (it differs from run to run)."""
    return TIMING.sub("X ms/step", text)


def python_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "agent"), COLUMNS="200")  # bare: `import stepscope` resolves too


@pytest.mark.slow
@pytest.mark.parametrize(("example", "extra", "source", "has_loss"), EXAMPLES, ids=lambda v: str(v))
def test_each_example_under_stepscope(tmp_path: Path, example: str, extra: list[str], source: str, has_loss: bool) -> None:
    program = [sys.executable, str(ROOT / "examples" / example), "--steps", str(STEPS), *extra]
    session = tmp_path / "s.stepscope"
    # The bare run only gives the output to compare with: it runs beside the recorded one, on the
    # core a single run leaves idle, rather than before it (into files: no pipe to fill meanwhile).
    bare_out, bare_err = tmp_path / "bare.stdout", tmp_path / "bare.stderr"
    with bare_out.open("w") as out, bare_err.open("w") as err:
        bare = subprocess.Popen(program, cwd=tmp_path, env=python_env(), stdout=out, stderr=err, text=True)
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "--session", str(session), "--out-dir",
                               str(tmp_path / "out"), "--steps", "10:13", "--json", "--", *program],
                              cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200"),
                              capture_output=True, text=True, timeout=180)
        bare.wait(timeout=120)
    finally:
        if bare.poll() is None:
            bare.kill()
            bare.wait()
    assert bare.returncode == 0, bare_err.read_text()
    assert proc.returncode == 0, proc.stderr[-3000:]
    output, brace, record_text = proc.stdout.rpartition("\n{")
    assert own_output(output + "\n") == own_output(bare_out.read_text())
    record = json.loads(brace.strip() + record_text)
    assert record["status"] == "ok" and record["exit_code"] == 0
    assert record["steps_from"].startswith(source), record["steps_from"]
    with Session.open_readonly(session) as stored:
        (run,) = stored.runs()
        steps = stored.steps(run.run_id)
        table, _ = load_trace(stored, run.run_id)
    assert steps["index"].tolist() == list(range(STEPS))
    phases = steps["phase"].tolist()
    assert phases[0] == "warmup" and phases[10:13] == ["trace"] * 3 and set(phases[1:10] + phases[13:]) == {"measure"}
    assert step_windows(table)[0].tolist() == [10, 11, 12]
    if has_loss:
        assert np.isfinite(steps["loss"]).all()
