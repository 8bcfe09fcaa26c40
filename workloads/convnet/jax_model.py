"""The convnet in plain JAX: parameters are a dict pytree and the forward pass a pure function,
so the backend can jit, differentiate and optimise it without any layer library.

Parameters are drawn on the host with numpy's seeded Generator: initialising with jax.random
compiles one small XLA program per shape, which cost seconds of start-up per run on CPU.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from workloads.configs import ConvNetConfig
from workloads.host_init import dense, glorot

Params = dict[str, Any]


def init(config: ConvNetConfig, seed: int) -> Params:
    c_in = config.image_shape[2]
    rng = np.random.default_rng(seed)
    return {
        "conv": {
            "w": glorot(rng, (3, 3, c_in, config.conv_channels)),
            "b": np.zeros((config.conv_channels,), np.float32),
        },
        "hidden": dense(rng, config.flat_features, config.hidden),
        "out": dense(rng, config.hidden, config.num_classes),
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
    logits: jax.Array = y @ params["out"]["w"] + params["out"]["b"]
    return logits


def build(config: ConvNetConfig, seed: int) -> tuple[Params, Callable[[Params, jax.Array], jax.Array]]:
    """Initial parameters (numpy host arrays: the backend places them on its device) and the
    pure forward function."""
    return init(config, seed), apply
