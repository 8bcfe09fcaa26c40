"""The ways each backend can write its step (workloads/*_backend.py `*Formulation`): every
alternative bench/model_formulations.py measures is the same function as the kept form, so the
bench compares speed only, and the kept forms train and keep the parameter counts equal."""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # read when TensorFlow loads

from workloads import data, registry, tf_backend  # noqa: I001  tf_backend sets KERAS_BACKEND before TensorFlow loads
from workloads import jax_backend, torch_backend
from workloads.spec import RunSpec

import jax
import jax.numpy as jnp
import tensorflow as tf
import torch

BATCH = 8
RNG = np.random.default_rng(7)
# Class scores [B, C] for the image models and [B, T, V] for the transformer, with integer targets.
LOGITS = {"images": RNG.normal(0.0, 3.0, (16, 10)).astype(np.float32),
          "tokens": RNG.normal(0.0, 3.0, (4, 8, 32)).astype(np.float32)}
LABELS = {"images": RNG.integers(0, 10, (16,)).astype(np.int32), "tokens": RNG.integers(0, 32, (4, 8)).astype(np.int32)}


def _reference_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean of logsumexp(z) - z[label], in float64: the value every formulation must give."""
    z = logits.astype(np.float64)
    top = z.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(z, labels[..., None].astype(np.int64), axis=-1)[..., 0]
    return float((lse - picked).mean())


@pytest.mark.parametrize("kind", sorted(LOGITS))
def test_jax_one_hot_and_integer_label_losses_are_the_same_function(kind: str) -> None:
    logits, labels = jnp.asarray(LOGITS[kind]), jnp.asarray(LABELS[kind])
    expected = _reference_cross_entropy(LOGITS[kind], LABELS[kind])
    values, grads = {}, {}
    for loss in ("one_hot", "integer_labels"):
        value, grad = jax.value_and_grad(jax_backend.cross_entropy)(logits, labels, loss)
        values[loss], grads[loss] = float(value), np.asarray(grad)
    assert values["one_hot"] == pytest.approx(expected, rel=1e-6)
    assert values["integer_labels"] == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(grads["one_hot"], grads["integer_labels"], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", sorted(LOGITS))
def test_torch_class_index_and_one_hot_losses_are_the_same_function(kind: str) -> None:
    expected = _reference_cross_entropy(LOGITS[kind], LABELS[kind])
    targets = torch.from_numpy(LABELS[kind]).long()
    grads = {}
    for loss in ("class_indices", "one_hot"):
        logits = torch.from_numpy(LOGITS[kind]).requires_grad_()
        value = torch_backend.cross_entropy(logits, targets, loss)
        value.backward()
        assert value.item() == pytest.approx(expected, rel=1e-6), loss
        assert logits.grad is not None
        grads[loss] = logits.grad.numpy()
    np.testing.assert_allclose(grads["class_indices"], grads["one_hot"], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", sorted(LOGITS))
def test_tf_sparse_and_one_hot_losses_are_the_same_function(kind: str) -> None:
    expected = _reference_cross_entropy(LOGITS[kind], LABELS[kind])
    labels, grads = tf.constant(LABELS[kind]), {}
    for loss in ("sparse", "one_hot"):
        logits = tf.Variable(LOGITS[kind])
        with tf.GradientTape() as tape:
            value = tf_backend.cross_entropy(labels, logits, loss)
        assert float(value) == pytest.approx(expected, rel=1e-6), loss
        grads[loss] = tape.gradient(value, logits).numpy()
    np.testing.assert_allclose(grads["sparse"], grads["one_hot"], rtol=1e-6, atol=1e-9)


def test_unknown_formulations_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown loss formulation"):
        jax_backend.cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2,), jnp.int32), "squared")
    with pytest.raises(ValueError, match="convnet only"):
        _prepare("jax", "mlp", jax_backend.JaxFormulation(max_pool="reshape_max"))
    with pytest.raises(ValueError, match="unknown memory format"):
        _prepare("torch", "convnet", torch_backend.TorchFormulation(memory_format="NHWC"))


# -- whole runs: every alternative trains the same model to the same losses ------------------

KEPT = {"jax": jax_backend.JaxFormulation(), "torch": torch_backend.TorchFormulation(), "tf": tf_backend.TFFormulation()}
BACKENDS = {"jax": jax_backend, "torch": torch_backend, "tf": tf_backend}
# (framework, workload, field, alternative): the bench's alternatives, each on one workload it applies to.
ALTERNATIVES = [
    ("jax", "convnet", "loss", "integer_labels"), ("jax", "transformer", "loss", "integer_labels"),
    ("jax", "mlp", "donate", False), ("jax", "convnet", "conv_layout", "NCHW"),
    ("jax", "convnet", "max_pool", "reshape_max"),
    ("torch", "convnet", "loss", "one_hot"), ("torch", "mlp", "adam", "for_loop"),
    ("torch", "convnet", "memory_format", "contiguous"),
    ("tf", "convnet", "loss", "one_hot"),
]


def _prepare(framework: str, workload: str, formulation: object, variant: str | None = None) -> object:
    spec = RunSpec(framework=framework, workload=workload, batch_size=BATCH, device="cpu", data="synthetic",
                   variant=variant).resolved()
    config = registry.model_config(workload)
    return BACKENDS[framework].prepare(spec, config, data.batch_pool("synthetic", config, BATCH, spec.seed), None,
                                       formulation)


def _losses(run: object, steps: int = 5) -> list[float]:
    run.compile()
    return [run.step(i) for i in range(steps)]


@pytest.mark.parametrize(("framework", "workload", "field", "alternative"), ALTERNATIVES)
def test_each_alternative_trains_the_same_model_to_the_same_losses(
    framework: str, workload: str, field: str, alternative: object
) -> None:
    kept_run = _prepare(framework, workload, KEPT[framework])
    other_run = _prepare(framework, workload, dataclasses.replace(KEPT[framework], **{field: alternative}))
    assert other_run.param_count == kept_run.param_count == registry.model_config(workload).param_count
    kept, other = _losses(kept_run), _losses(other_run)
    assert all(math.isfinite(loss) for loss in kept + other)
    assert kept[4] < kept[0]  # the pool holds 4 batches: step 4 revisits batch 0 after 4 updates
    np.testing.assert_allclose(other, kept, rtol=2e-4)


def test_jax_nchw_convnet_predicts_what_nhwc_predicts() -> None:
    """The NCHW alternative reads transposed images and reorders the dense rows to match, so the
    logits (not only the loss) are the NHWC model's."""
    x = data.batch_pool("synthetic", registry.model_config("convnet"), 3, 1)[0][0]
    nhwc = _prepare("jax", "convnet", KEPT["jax"])
    nchw = _prepare("jax", "convnet", jax_backend.JaxFormulation(conv_layout="NCHW"))
    np.testing.assert_allclose(nchw.predict(x), nhwc.predict(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("framework", sorted(KEPT))
@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_kept_forms_train_with_equal_parameter_counts(framework: str, workload: str) -> None:
    """Each built-in model, written the kept way, learns (the loss on a revisited batch falls) and
    has the parameter count every framework shares."""
    variant = "compiled" if (framework, workload) == ("tf", "transformer") else None  # XLA's compile takes seconds
    run = _prepare(framework, workload, KEPT[framework], variant)
    assert run.param_count == registry.model_config(workload).param_count
    losses = _losses(run)
    assert losses[4] < losses[0]
