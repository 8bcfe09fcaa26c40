"""The TensorFlow and Keras hooks (agent/stepscope_agent/tf_agent.py, keras_agent.py) in real TF
programs run the way the controller runs them (tests/agent/harness.py). Importing TensorFlow takes
seconds, so each program runs once per module and several tests read its events."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.agent.harness import AgentRun, run_under_agent
from traces.analysis import step_windows
from traces.readers import read_trace

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None,
                                reason="TensorFlow and Keras are not installed")

PROGRAMS = Path(__file__).parent / "programs"
KERAS = str(PROGRAMS / "keras_fit.py")
LOOP = str(PROGRAMS / "tf_loop.py")
TIMEOUT = 180.0


def _printed(stdout: str, word: str) -> list[float]:
    return [float(line.split()[2]) for line in stdout.splitlines() if line.startswith(word + " ")]


def _xplane_steps(run: AgentRun) -> list[int]:
    artifacts = run.of("artifact")
    assert [a["kind"] for a in artifacts] == ["xplane"], run.events
    path = artifacts[0]["path"]
    assert path.endswith(".xplane.pb") and os.path.getsize(path) == artifacts[0]["bytes"]
    numbers, _, _ = step_windows(read_trace(path))
    return [int(n) for n in numbers]


@pytest.fixture(scope="module")
def keras_fit(tmp_path_factory: pytest.TempPathFactory) -> AgentRun:
    out = tmp_path_factory.mktemp("keras-fit")
    return run_under_agent([sys.executable, KERAS, "fit"], plan={"steps": [3, 6], "out_dir": str(out)}, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def tf_loop(tmp_path_factory: pytest.TempPathFactory) -> AgentRun:
    out = tmp_path_factory.mktemp("tf-loop")
    return run_under_agent([sys.executable, LOOP, "8"], plan={"steps": [3, 6], "out_dir": str(out)}, timeout=TIMEOUT)


def test_keras_fit_batches_are_the_steps_with_keras_loss_batch_size_and_params(keras_fit: AgentRun) -> None:
    run = keras_fit
    assert run.returncode == 0, run.stderr[-3000:]
    steps = run.steps
    # 2 epochs x 4 training batches; fit's validation, the evaluate and predict after fit are not steps
    assert [s["index"] for s in steps] == list(range(8))
    assert [s["phase"] for s in steps] == ["warmup", "measure", "measure", "trace", "trace", "trace", "measure", "measure"]
    assert [e["source"] for e in run.of("step_source")] == ["keras"]
    assert [s["loss"] for s in steps] == _printed(run.stdout, "batch")  # the program's own callback saw the same logs
    assert all(s["samples_per_s"] == pytest.approx(16 * 1000.0 / s["step_ms"], rel=1e-3) for s in steps)
    params = int(run.stdout.split("params ")[1].split()[0])
    assert params == 161
    hello = run.of("hello")
    assert len(hello) == 1 and hello[0]["framework"] == "tf" and hello[0]["param_count"] == params
    assert hello[0]["device_kind"] == "cpu"
    assert "callbacks unchanged True" in run.stdout  # the list passed to fit (positionally) was not touched
    assert not run.of("notice"), run.of("notice")


def test_keras_capture_window_holds_exactly_steps_3_to_5(keras_fit: AgentRun) -> None:
    assert keras_fit.returncode == 0, keras_fit.stderr[-3000:]
    assert [(e["name"], e["edge"]) for e in keras_fit.of("phase")] == [("trace", "start"), ("trace", "end")]
    assert _xplane_steps(keras_fit) == [3, 4, 5]


def test_an_inference_script_gets_its_steps_from_predict_batches(tmp_path: Path) -> None:
    run = run_under_agent([sys.executable, KERAS, "predict"], plan={"out_dir": str(tmp_path)}, timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout == "predicted (64, 1)\n"
    assert [s["index"] for s in run.steps] == [0, 1, 2, 3]
    assert [e["source"] for e in run.of("step_source")] == ["keras"]
    assert all(s["loss"] is None and s["samples_per_s"] is not None for s in run.steps)
    assert run.of("hello")[0]["param_count"] == 161


def test_a_custom_loop_steps_are_the_hot_tf_function_calls(tf_loop: AgentRun) -> None:
    run = tf_loop
    assert run.returncode == 0, run.stderr[-3000:]
    steps = run.steps
    assert [s["index"] for s in steps] == list(range(8))  # init() ran once and predict() only inside train_step
    assert [s["phase"] for s in steps] == ["warmup", "measure", "measure", "trace", "trace", "trace", "measure", "measure"]
    sources = run.of("step_source")
    assert [e["source"] for e in sources] == ["tf.function"] and sources[0]["detail"].endswith(": train_step")
    assert [s["loss"] for s in steps] == _printed(run.stdout, "loss")
    assert all(s["samples_per_s"] is None for s in steps)  # the batch size is not known
    assert run.of("hello")[0]["param_count"] is None
    assert _xplane_steps(run) == [3, 4, 5]


def test_the_programs_output_is_its_own(tf_loop: AgentRun) -> None:
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("STEPSCOPE_")}
    plain = subprocess.run([sys.executable, LOOP, "8"], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=True)
    assert tf_loop.stdout == plain.stdout and plain.stdout.count("\n") == 8


def test_trace_blocks_are_the_steps_and_the_programs_own_profiler_skips_the_window(tmp_path: Path) -> None:
    own = tmp_path / "own"
    run = run_under_agent([sys.executable, LOOP, "5", "--trace", "--own-profiler", str(own)],
                          plan={"steps": [2, 4], "out_dir": str(tmp_path / "ours")}, timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.endswith("own profile written\n")
    assert [s["index"] for s in run.steps] == list(range(5))
    assert [e["source"] for e in run.of("step_source")] == ["tf.profiler.Trace"]  # not tf.function: Trace ranks higher
    notices = [e["message"] for e in run.of("notice")]
    assert len(notices) == 1 and "own tf.profiler" in notices[0] and "skipped" in notices[0]
    assert not run.of("artifact") and not run.of("phase")
    assert list(own.glob("plugins/profile/*/*.xplane.pb"))  # the program's own profile is intact
