"""The JAX backend on CPU with the real framework: shapes and parameter counts, both modes,
both variants, learning on real digits, the trace hook, and the GPU-missing error."""
from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from profilers.hooks import run_window
from profilers.jax_hooks import make_hook
from tests.workloads.scaled_counts import SCALED_PARAM_COUNTS, SCALES
from workloads import data, registry
from workloads.base import DeviceUnavailable
from workloads.configs import EMBEDDING_STDDEV, scaled
from workloads.jax_backend import gpu_devices, prepare
from workloads.spec import RunSpec

BATCH = 8
CONVNET_STEP_BOUND = 100  # seed 0 passes 0.90 after about 30 steps; the bound leaves room


def _prepared(
    workload: str, mode: str = "train", variant: str | None = None, batch: int = BATCH, data_name: str = "synthetic"
):
    config = registry.model_config(workload)
    spec = RunSpec(
        framework="jax", workload=workload, mode=mode, variant=variant, batch_size=batch, data=data_name, device="cpu"
    ).resolved()
    return config, prepare(spec, config, data.batch_pool(data_name, config, batch, spec.seed), None)


def _example_inputs(config) -> np.ndarray:
    return data.batch_pool("synthetic", config, 3, 1)[0][0]  # 3 examples: predict pads a partial batch


def _logits_shape(config, n: int) -> tuple[int, ...]:
    if hasattr(config, "vocab_size"):
        return (n, config.seq_len, config.vocab_size)
    return (n, config.num_classes)


@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_init_follows_the_shared_scheme_and_the_seed(workload: str) -> None:
    config = registry.model_config(workload)
    build = registry.model_builder(workload, "jax").build

    def leaves(seed: int) -> list:
        return jax.tree_util.tree_leaves_with_path(build(config, seed)[0])

    first, again, other = leaves(0), leaves(0), leaves(1)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, other, strict=True))
    for path, leaf in first:
        name = jax.tree_util.keystr(path)
        assert leaf.dtype == np.float32, name
        if name.endswith("['b']") or name.endswith("['offset']"):
            assert not leaf.any(), name
        elif name.endswith("['scale']"):
            assert (leaf == 1).all(), name
        elif "emb" in name:
            assert abs(leaf.std() - EMBEDDING_STDDEV) < 0.2 * EMBEDDING_STDDEV, name
        else:  # Glorot-uniform: |w| <= sqrt(6 / (fan_in + fan_out)), fans scaled by the kernel area
            area = math.prod(leaf.shape[:-2])
            limit = math.sqrt(6 / (area * (leaf.shape[-2] + leaf.shape[-1])))
            assert np.abs(leaf).max() <= limit and np.abs(leaf).max() > 0.9 * limit, name


@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_train_step_compiles_learns_shapes_and_counts(workload: str) -> None:
    config, run = _prepared(workload)
    assert run.param_count == config.param_count
    assert run.device.kind == "cpu" and run.device.name
    assert run.framework_version
    assert run.device_memory() is None  # the CPU client reports no allocator statistics
    compile_ms = run.compile()
    assert compile_ms is not None and compile_ms > 0
    losses = [run.step(i) for i in range(5)]
    assert all(isinstance(loss, float) and math.isfinite(loss) for loss in losses)
    assert losses[4] < losses[0]  # the pool holds 4 batches: step 4 revisits batch 0, after 4 updates
    logits = run.predict(_example_inputs(config))
    assert logits.shape == _logits_shape(config, 3)
    assert np.isfinite(logits).all()


@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_infer_step_runs_forward_and_loss_only(workload: str) -> None:
    _, run = _prepared(workload, mode="infer")
    assert run.compile() > 0
    losses = [run.step(i) for i in range(5)]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[0] == losses[4]  # same batch (pool of 4), parameters untouched


def test_eager_variant_runs_and_matches_compiled() -> None:
    """One workload is enough: eager runs the very same step function, only un-jitted
    (and op by op it is slow to start, every primitive compiles on first use)."""
    config, eager = _prepared("mlp", variant="eager")
    _, compiled = _prepared("mlp")
    assert eager.compile() is None
    compiled.compile()
    losses = [eager.step(i) for i in range(2)]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[0] == pytest.approx(compiled.step(0), rel=1e-5)
    assert eager.predict(_example_inputs(config)).shape == _logits_shape(config, 3)


def test_convnet_reaches_90_percent_on_digits() -> None:
    config, run = _prepared("convnet", batch=64, data_name="digits")
    split = data.real_split("digits", config)
    labels = data.eval_labels(config, split.y_test)
    run.compile()
    accuracy, steps = 0.0, 0
    while steps < CONVNET_STEP_BOUND and accuracy < 0.90:
        for _ in range(10):
            run.step(steps)
            steps += 1
        accuracy = float((data.eval_predictions(config, run.predict(split.x_test)) == labels).mean())
    assert accuracy >= 0.90, f"test accuracy {accuracy:.3f} after {steps} steps"


def test_trace_hook_writes_a_window_twice_and_stops_safely(tmp_path) -> None:
    _, run = _prepared("mlp")
    run.compile()
    for cycle in range(2):  # a second start/stop in the same process must work
        hook = make_hook(tmp_path / f"trace{cycle}", 2, with_stack=False)
        assert hook.steps_needed == 2
        run_window(hook, run.step)
        hook.stop()  # harmless the second time
        artifacts = hook.artifacts()
        assert "xplane" in {a.kind for a in artifacts}
        assert all(a.size > 0 for a in artifacts)


def test_trace_hook_stop_without_start_is_harmless(tmp_path) -> None:
    make_hook(tmp_path, 2, with_stack=True).stop()


def test_gpu_request_on_a_cpu_machine_says_why() -> None:
    if gpu_devices():
        pytest.skip("this machine has a GPU")
    config = registry.model_config("mlp")
    spec = RunSpec(framework="jax", workload="mlp", device="gpu", data="synthetic").resolved()
    with pytest.raises(DeviceUnavailable, match="jax sees no GPU"):
        prepare(spec, config, data.batch_pool("synthetic", config, BATCH, 0), None)


@pytest.mark.gpu
def test_gpu_run_reports_device_memory() -> None:
    if not gpu_devices():
        pytest.skip("no GPU visible to jax")
    config = registry.model_config("convnet")
    spec = RunSpec(framework="jax", workload="convnet", device="gpu", data="synthetic").resolved()
    run = prepare(spec, config, data.batch_pool("synthetic", config, 64, 0), None)
    assert run.device.kind == "gpu"
    run.compile()
    assert math.isfinite(run.step(0))
    memory = run.device_memory()
    assert memory is not None and memory.peak >= memory.in_use > 0


@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_param_counts_at_every_model_scale_are_the_shared_ones(workload: str) -> None:
    for scale in SCALES:
        spec = RunSpec(framework="jax", workload=workload, batch_size=2, device="cpu", model_scale=scale).resolved()
        config = scaled(registry.model_config(workload), scale)
        run = prepare(spec, config, data.batch_pool("synthetic", config, 2, 0), None)
        assert run.param_count == SCALED_PARAM_COUNTS[workload][scale], scale


def test_a_new_pool_runs_on_the_step_already_compiled() -> None:
    config, run = _prepared("mlp", batch=4)
    run.compile()
    compiled = run._step
    run.load_pool(data.batch_pool("synthetic", config, 4, 7)[:2])
    assert len(run._pool) == 2 and math.isfinite(run.step(1)) and run._step is compiled
