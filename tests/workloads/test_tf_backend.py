"""The TensorFlow backend and trace hook on CPU with tiny batches: real TF, no mocks."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from profilers.hooks import ArtifactError, run_window
from tests.workloads.scaled_counts import SCALED_PARAM_COUNTS, SCALES
from workloads import data, registry
from workloads.base import DeviceMemory, DeviceUnavailable
from workloads.configs import scaled
from workloads.spec import RunSpec

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # read when TensorFlow loads

from workloads import tf_backend  # noqa: I001  before tensorflow: it sets KERAS_BACKEND, which TensorFlow's keras reads
import tensorflow as tf
from profilers import tf_hooks

REPO = Path(__file__).resolve().parents[2]
ACCURACY_STEP_BOUND = 100  # convnet reaches 0.90 on the digits test split in ~30-40 steps at batch 64


def _prepare(workload: str, batch: int = 8, data_name: str = "synthetic", **fields: object) -> tf_backend.TFRun:
    spec = RunSpec(framework="tf", workload=workload, batch_size=batch, device="cpu", data=data_name, **fields).resolved()
    config = registry.model_config(workload)
    return tf_backend.prepare(spec, config, data.batch_pool(data_name, config, batch, spec.seed), None)


def _input_shape(workload: str) -> tuple[int, ...]:
    config = registry.model_config(workload)
    return (config.seq_len,) if workload == "transformer" else config.image_shape


@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_train_and_infer(workload: str) -> None:
    config = registry.model_config(workload)
    run = _prepare(workload)
    assert run.param_count == config.param_count
    assert run.framework_version and run.device.kind == "cpu"
    compile_ms = run.compile()
    assert compile_ms is not None and compile_ms > 0
    losses = [run.step(i) for i in range(3)]
    assert all(isinstance(loss, float) and math.isfinite(loss) for loss in losses)
    x = np.zeros((11, *_input_shape(workload)), dtype=np.int32 if workload == "transformer" else np.float32)
    logits = run.predict(x)  # 11 examples in chunks of 8: exercises the padded last chunk
    expected = (11, config.seq_len, config.vocab_size) if workload == "transformer" else (11, config.num_classes)
    assert logits.shape == expected and np.isfinite(logits).all()

    # The transformer's XLA compile takes seconds and its XLA path is covered by the train
    # step above, so its infer step runs as a plain graph.
    infer = _prepare(workload, mode="infer", variant="compiled" if workload == "transformer" else None)
    assert infer.compile() > 0
    assert all(math.isfinite(infer.step(i)) for i in range(2))


def test_model_init_follows_the_shared_scheme() -> None:
    """Glorot-uniform kernels (bounded by sqrt(6 / (fan_in + fan_out))), zero biases,
    unit layer-norm scales, N(0, 0.02) embeddings, distinct weights for q and k, and the
    same weights again for the same seed."""
    config = registry.model_config("transformer")
    model = registry.model_builder("transformer", "tf").build(config, 0)
    weights = {w.path: w.numpy() for w in model.weights}
    q, k = weights["block_0/attn/q/kernel"], weights["block_0/attn/k/kernel"]
    assert not np.allclose(q, k)
    assert np.abs(q).max() <= math.sqrt(6 / (2 * config.d_model))
    assert not weights["block_0/attn/q/bias"].any() and (weights["block_0/ln1/gamma"] == 1).all()
    assert abs(weights["embed/tokens/embeddings"].std() - 0.02) < 0.003
    mlp = registry.model_config("mlp")
    first, again = (registry.model_builder("mlp", "tf").build(mlp, 0) for _ in range(2))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first.weights, again.weights, strict=True))


def test_convnet_learns_digits() -> None:
    config = registry.model_config("convnet")
    split = data.real_split("digits", config)
    run = _prepare("convnet", batch=64, data_name="digits")
    run.compile()  # one step on batch 0
    labels = data.eval_labels(config, split.y_test)
    accuracy, steps = 0.0, 1
    while steps < ACCURACY_STEP_BOUND and accuracy < 0.90:
        for _ in range(10):
            run.step(steps)
            steps += 1
        accuracy = float(np.mean(data.eval_predictions(config, run.predict(split.x_test)) == labels))
    assert accuracy >= 0.90, f"test accuracy {accuracy:.3f} after {steps} steps"


@pytest.mark.parametrize("variant", ["compiled", "eager"])
def test_other_variants(variant: str) -> None:
    run = _prepare("convnet", variant=variant)
    compile_ms = run.compile()
    assert (compile_ms is None) if variant == "eager" else compile_ms > 0
    assert all(math.isfinite(run.step(i)) for i in range(2))
    assert run.predict(np.zeros((3, 28, 28, 1), np.float32)).shape == (3, 10)


def _check_device_memory_is_what_tf_reports() -> str:
    """Figures exactly when TF's CPU allocator keeps statistics (TF's own, and they move with a real
    allocation), None when it keeps none: never invented. Returns which branch ran."""
    run = _prepare("mlp")
    run.compile()
    memory = run.device_memory()
    try:
        reported = tf.config.experimental.get_memory_info("CPU:0")
    except ValueError:
        assert memory is None
        return "no statistics"
    assert memory == DeviceMemory(reported["current"], reported["peak"], "tf.config.experimental.get_memory_info('CPU:0')")
    held = tf.zeros((16, 1024, 1024))  # 64 MiB, alive until the figures are read
    grown = run.device_memory()
    assert grown is not None and grown.in_use - memory.in_use >= 64 * 2**20 and grown.peak >= grown.in_use
    assert held.shape == (16, 1024, 1024)
    return "figures"


def test_device_memory_on_cpu_follows_the_allocator() -> None:
    """TF's default CPU allocator: either branch, whichever TF takes here (TF 2.21's raised on
    one machine and reported on another)."""
    assert _check_device_memory_is_what_tf_reports() in ("figures", "no statistics")


def test_device_memory_with_the_bfc_allocator_reports_figures() -> None:
    """The BFC allocator always keeps statistics, so the figures branch runs on every machine."""
    code = ("import sys; sys.path.insert(0, '.'); from tests.workloads.test_tf_backend import "
            "_check_device_memory_is_what_tf_reports as check; print('BRANCH', check())")
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "BRANCH figures" in proc.stdout


def test_gpu_request_without_gpu() -> None:
    spec = RunSpec(framework="tf", device="gpu").resolved()
    config = registry.model_config("convnet")
    with pytest.raises(DeviceUnavailable, match="TensorFlow sees no GPU"):
        tf_backend.prepare(spec, config, data.batch_pool("synthetic", config, 4, 0), None)


def test_trace_hook_twice(tmp_path: Path) -> None:
    run = _prepare("mlp")
    run.compile()
    for cycle in range(2):  # a second profile in the same process must work
        hook = tf_hooks.make_hook(tmp_path, 2, False)
        assert hook.steps_needed == 2
        run_window(hook, run.step)
        hook.stop()  # harmless
        (artifact,) = hook.artifacts()
        assert artifact.kind == "xplane" and artifact.size > 0, cycle


def test_hook_stop_after_failed_start(tmp_path: Path) -> None:
    hook = tf_hooks.make_hook(tmp_path / "never", 2, False)
    hook.stop()  # never started
    with pytest.raises(ArtifactError):
        hook.artifacts()
    tf.profiler.experimental.start(str(tmp_path / "other"))  # only one profile may run per process
    try:
        with pytest.raises(tf.errors.AlreadyExistsError):
            hook.start()
        hook.stop()  # must not stop the other profile
    finally:
        tf.profiler.experimental.stop()


def test_runs_with_jax_blocked() -> None:
    """The TF worker refuses `import jax`; the backend and the hook must not need it."""
    script = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("jax", "jaxlib"):
            raise ImportError(name + " is blocked")
sys.meta_path.insert(0, Block())
from profilers import tf_hooks
from workloads import data, registry, tf_backend
from workloads.spec import RunSpec
config = registry.model_config("mlp")
spec = RunSpec(framework="tf", workload="mlp", variant="eager", batch_size=4, device="cpu").resolved()
run = tf_backend.prepare(spec, config, data.batch_pool("synthetic", config, 4, 0), None)
print("loss", run.step(0), "jax" in sys.modules)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("False")


@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_param_counts_at_every_model_scale_are_the_shared_ones(workload: str) -> None:
    for scale in SCALES:
        spec = RunSpec(framework="tf", workload=workload, batch_size=2, device="cpu", model_scale=scale).resolved()
        config = scaled(registry.model_config(workload), scale)
        run = tf_backend.prepare(spec, config, data.batch_pool("synthetic", config, 2, 0), None)
        assert run.param_count == SCALED_PARAM_COUNTS[workload][scale], scale


def test_a_new_pool_is_not_traced_again() -> None:
    run = _prepare("mlp", batch=4)
    run.compile()
    config = registry.model_config("mlp")
    run.load_pool(data.batch_pool("synthetic", config, 4, 7)[:2])
    assert len(run._pool) == 2 and math.isfinite(run.step(1))
    assert run._step.experimental_get_tracing_count() == 1
