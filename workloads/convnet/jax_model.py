"""The convnet in plain JAX: parameters are a dict pytree and the forward pass a pure function,
so the backend can jit, differentiate and optimise it without any layer library.

Parameters are drawn on the host with numpy's seeded Generator: initialising with jax.random
compiles one small XLA program per shape, which cost seconds of start-up per run on CPU.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from workloads.configs import ConvNetConfig

Params = dict[str, Any]


def _glorot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Glorot-uniform; for a conv kernel (kh, kw, in, out) both fans include kh*kw."""
    receptive = math.prod(shape[:-2])
    limit = math.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _dense(rng: np.random.Generator, n_in: int, n_out: int) -> dict[str, np.ndarray]:
    return {"w": _glorot(rng, (n_in, n_out)), "b": np.zeros((n_out,), np.float32)}


def init(config: ConvNetConfig, seed: int) -> Params:
    c_in = config.image_shape[2]
    rng = np.random.default_rng(seed)
    return {
        "conv": {
            "w": _glorot(rng, (3, 3, c_in, config.conv_channels)),
            "b": np.zeros((config.conv_channels,), np.float32),
        },
        "hidden": _dense(rng, config.flat_features, config.hidden),
        "out": _dense(rng, config.hidden, config.num_classes),
    }


def apply(params: Params, x: jax.Array) -> jax.Array:
    """Logits [B, num_classes] for NHWC images [B, H, W, C]."""
    y = jax.lax.conv_general_dilated(
        x, params["conv"]["w"], window_strides=(1, 1), padding="SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    y = jax.nn.relu(y + params["conv"]["b"])
    y = jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    y = y.reshape(y.shape[0], -1)
    y = jax.nn.relu(y @ params["hidden"]["w"] + params["hidden"]["b"])
    return y @ params["out"]["w"] + params["out"]["b"]


def build(config: ConvNetConfig, seed: int) -> tuple[Params, Callable[[Params, jax.Array], jax.Array]]:
    """Initial parameters (numpy host arrays: the backend places them on its device) and the
    pure forward function."""
    return init(config, seed), apply
