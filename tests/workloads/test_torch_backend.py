"""The PyTorch backend and trace hook on CPU, with tiny batches so the file stays fast."""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from profilers.hooks import run_window
from profilers.torch_hooks import make_hook
from tests.workloads.scaled_counts import SCALED_PARAM_COUNTS, SCALES
from workloads import data, registry, torch_backend
from workloads.base import DeviceUnavailable
from workloads.configs import scaled
from workloads.spec import RunSpec

ACCURACY_STEPS = 60  # seed 0 passes 0.90 after ~30 steps; seeds 0-3 all hold >= 0.92 at 60


def _run(workload: str, mode: str = "train", variant: str | None = None, batch: int = 8, device: str = "cpu"):
    spec = RunSpec(framework="torch", workload=workload, mode=mode, variant=variant, batch_size=batch, device=device).resolved()
    config = registry.model_config(workload)
    return torch_backend.prepare(spec, config, data.batch_pool("synthetic", config, batch, 0), None), config


def _assert_logits(run, config, x: np.ndarray) -> None:
    logits = run.predict(x)
    if hasattr(config, "vocab_size"):
        assert logits.shape == (len(x), config.seq_len, config.vocab_size)
    else:
        assert logits.shape == (len(x), config.num_classes)
    assert np.isfinite(logits).all()


@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_train_steps(workload: str) -> None:
    run, config = _run(workload)
    assert run.param_count == config.param_count
    assert run.framework_version == torch.__version__
    assert run.device.kind == "cpu" and run.device.name
    assert run.compile() is None  # eager
    losses = [run.step(i) for i in range(3)]
    assert all(isinstance(loss, float) and math.isfinite(loss) for loss in losses)
    assert run.device_memory() is None  # torch reports no allocator stats on CPU
    # 11 rows with batch 8: predict splits into batches and keeps the ragged tail
    x, _ = data.batch_pool("synthetic", config, 11, 1)[0]
    _assert_logits(run, config, x)


@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_infer_steps_leave_parameters_alone(workload: str) -> None:
    run, _ = _run(workload, mode="infer")
    before = [p.detach().clone() for p in run.model.parameters()]
    losses = [run.step(i) for i in range(2)]
    assert all(math.isfinite(loss) for loss in losses)
    assert all(torch.equal(a, b) for a, b in zip(before, run.model.parameters(), strict=True))


def test_transformer_init_scheme() -> None:
    config = registry.model_config("transformer")
    builder = registry.model_builder("transformer", "torch")
    model, again = builder.build(config, 0), builder.build(config, 0)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
    assert abs(model.token.weight.std().item() - 0.02) < 0.003
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            assert not p.any(), name
        if ".ln" in name and name.endswith("weight"):
            assert torch.all(p == 1), name
    d = config.d_model  # Glorot bound for a square d x d projection
    assert model.blocks[0].attn.q.weight.abs().max().item() <= math.sqrt(6 / (2 * d))


def test_causal_mask_blocks_the_future() -> None:
    config = registry.model_config("transformer")
    model = registry.model_builder("transformer", "torch").build(config, 0).eval()
    tokens = torch.randint(0, config.vocab_size, (1, config.seq_len))
    changed = tokens.clone()
    changed[0, -1] = (tokens[0, -1] + 1) % config.vocab_size
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    assert torch.allclose(a[0, :-1], b[0, :-1])
    assert not torch.allclose(a[0, -1], b[0, -1])


def test_convnet_learns_digits() -> None:
    config = registry.model_config("convnet")
    split = data.real_split("digits", config)
    spec = RunSpec(framework="torch", workload="convnet").resolved()
    run = torch_backend.prepare(spec, config, data.batch_pool("digits", config, 64, 0), split)
    for i in range(ACCURACY_STEPS):
        run.step(i)
    predictions = data.eval_predictions(config, run.predict(split.x_test))
    accuracy = float(np.mean(predictions == data.eval_labels(config, split.y_test)))
    assert accuracy >= 0.90, f"{accuracy:.3f} after {ACCURACY_STEPS} steps"


@pytest.mark.slow  # torch.compile: ~10-50 s per graph with a cold inductor cache on 2 cores
# inductor's own import of torch.utils.mkldnn uses the deprecated torch.jit.script_method
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("mode", ["train", "infer"])
def test_compiled_variant(mode: str) -> None:
    run, config = _run("mlp", mode=mode, variant="compiled")
    compile_ms = run.compile()
    assert compile_ms is not None and compile_ms > 0
    assert all(math.isfinite(run.step(i)) for i in range(1, 3))
    x, _ = data.batch_pool("synthetic", config, 8, 1)[0]
    _assert_logits(run, config, x)


def test_trace_hook_writes_chrome_trace_twice(tmp_path: Path) -> None:
    run, _ = _run("mlp")
    make_hook(tmp_path / "never", 2, False).stop()  # stop without start is harmless
    for cycle, with_stack in enumerate((False, True)):
        hook = make_hook(tmp_path / str(cycle), 2, with_stack)
        assert hook.steps_needed == 3
        first = 10 * cycle  # the window's markers carry the run's step numbers (its first is the warm-up)
        run_window(hook, run.step, first)
        hook.stop()  # second stop is harmless
        (artifact,) = hook.artifacts()
        assert artifact.kind == "chrome-trace" and artifact.size > 0
        with gzip.open(artifact.path, "rt") as f:
            names = {e.get("name") for e in json.load(f)["traceEvents"]}
        assert {n for n in names if str(n).startswith("ProfilerStep#")} == {f"ProfilerStep#{first + 1}",
                                                                            f"ProfilerStep#{first + 2}"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_request_without_gpu_is_refused() -> None:
    with pytest.raises(DeviceUnavailable, match="sees no GPU"):
        _run("mlp", device="gpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_run_reports_memory() -> None:
    run, config = _run("convnet", device="gpu", batch=64)
    assert run.device.kind == "gpu"
    assert math.isfinite(run.step(0))
    memory = run.device_memory()
    assert memory is not None and 0 < memory.in_use <= memory.peak


def test_convnet_layout_is_the_formulations_not_an_accident_of_strides() -> None:
    """A one-channel NHWC batch permuted to NCHW keeps strides torch also reads as channels_last,
    and the conv then picks channels_last kernels. `inputs` gives the plain layout, and the backend
    sets the formulation's memory format explicitly: channels_last by default (as the standalone
    script does), plain NCHW when asked, so each runs the computation it names."""
    from workloads.convnet.torch_model import inputs

    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    t = inputs(x)
    assert t.shape == (4, 1, 28, 28)
    assert t.stride() == torch.empty(4, 1, 28, 28).stride()
    assert np.array_equal(t.numpy(), x.transpose(0, 3, 1, 2))
    run, _ = _run("convnet")
    assert run.formulation.memory_format == "channels_last"
    assert run._pool[0][0].is_contiguous(memory_format=torch.channels_last)
    assert run.model.conv(run._pool[0][0]).is_contiguous(memory_format=torch.channels_last)
    spec = RunSpec(framework="torch", workload="convnet", batch_size=8, device="cpu").resolved()
    config = registry.model_config("convnet")
    plain = torch_backend.prepare(spec, config, data.batch_pool("synthetic", config, 8, 0), None,
                                  torch_backend.TorchFormulation(memory_format="contiguous"))
    assert plain._pool[0][0].stride() == torch.empty(8, 1, 28, 28).stride()
    assert not plain.model.conv(plain._pool[0][0]).is_contiguous(memory_format=torch.channels_last)


def test_the_convnets_relus_in_place_train_and_predict_exactly_as_out_of_place() -> None:
    """The in-place ReLU (the kept formulation) is the same function with the same gradients:
    after the same steps both forms hold bit-identical weights and predictions."""
    spec = RunSpec(framework="torch", workload="convnet", batch_size=8, device="cpu").resolved()
    config = registry.model_config("convnet")
    pool = data.batch_pool("synthetic", config, 8, 0)
    kept = torch_backend.prepare(spec, config, pool, None)
    fresh = torch_backend.prepare(spec, config, pool, None, torch_backend.TorchFormulation(relu="out_of_place"))
    assert kept.model.inplace_relu and not fresh.model.inplace_relu
    assert [kept.step(i) for i in range(3)] == [fresh.step(i) for i in range(3)]
    for a, b in zip(kept.model.parameters(), fresh.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert np.array_equal(kept.predict(pool[0][0]), fresh.predict(pool[0][0]))
    with pytest.raises(ValueError, match="unknown ReLU formulation"):
        torch_backend.prepare(spec, config, pool, None, torch_backend.TorchFormulation(relu="fused"))


@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_param_counts_at_every_model_scale_are_the_shared_ones(workload: str) -> None:
    for scale in SCALES:
        spec = RunSpec(framework="torch", workload=workload, batch_size=2, device="cpu", model_scale=scale).resolved()
        config = scaled(registry.model_config(workload), scale)
        run = torch_backend.prepare(spec, config, data.batch_pool("synthetic", config, 2, 0), None)
        assert run.param_count == SCALED_PARAM_COUNTS[workload][scale], scale


def test_a_new_pool_replaces_the_old_one() -> None:
    run, config = _run("mlp", batch=4)
    first = run.step(0)
    run.load_pool(data.batch_pool("synthetic", config, 4, 7)[:2])
    assert len(run._pool) == 2 and run._pool[0][0].device.type == "cpu"
    assert math.isfinite(run.step(0)) and run.step(0) != first
