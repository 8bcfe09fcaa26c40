"""The convnet in plain JAX: parameters are a dict pytree and the forward pass a pure function,
so the backend can jit, differentiate and optimise it without any layer library.

Parameters are drawn on the host with numpy's seeded Generator: initialising with jax.random
compiles one small XLA program per shape, which cost seconds of start-up per run on CPU.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
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


def _max_pool_2x2(y: jax.Array, channels_last: bool, pool: str) -> jax.Array:
    """2x2 max-pool, stride 2. "reduce_window" is how JAX's and Flax's docs write it (flax.linen.max_pool);
    "reshape_max" (a max over a reshaped window axis: the same values, and the same gradient
    except between exactly tied maxima) is the alternative bench/model_formulations.py measures."""
    if pool == "reduce_window":
        window = (1, 2, 2, 1) if channels_last else (1, 1, 2, 2)
        pooled: jax.Array = jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, window, window, "VALID")
        return pooled
    if pool == "reshape_max":
        if channels_last:
            b, h, w, c = y.shape
            return y.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
        b, c, h, w = y.shape
        return y.reshape(b, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    raise ValueError(f"unknown max-pool formulation {pool!r}")


def apply(params: Params, x: jax.Array, layout: str = "NHWC", pool: str = "reduce_window") -> jax.Array:
    """Logits [B, num_classes] for images [B, H, W, C], or [B, C, H, W] with layout "NCHW" (the
    alternative bench/model_formulations.py measures), whose features flatten in C, H, W order."""
    channels_last = layout == "NHWC"
    y = jax.lax.conv_general_dilated(
        x, params["conv"]["w"], window_strides=(1, 1), padding="SAME", dimension_numbers=(layout, "HWIO", layout)
    )
    bias = params["conv"]["b"] if channels_last else params["conv"]["b"][:, None, None]
    y = _max_pool_2x2(jax.nn.relu(y + bias), channels_last, pool)
    y = y.reshape(y.shape[0], -1)
    y = jax.nn.relu(y @ params["hidden"]["w"] + params["hidden"]["b"])
    logits: jax.Array = y @ params["out"]["w"] + params["out"]["b"]
    return logits


def build(
    config: ConvNetConfig, seed: int, layout: str = "NHWC", pool: str = "reduce_window"
) -> tuple[Params, Callable[[Params, jax.Array], jax.Array]]:
    """Initial parameters (numpy host arrays: the backend places them on its device) and the
    pure forward function for images in `layout` ("NHWC" or "NCHW") with max-pool `pool`."""
    if layout not in ("NHWC", "NCHW"):
        raise ValueError(f"unknown image layout {layout!r}; use NHWC or NCHW")
    if pool not in ("reduce_window", "reshape_max"):
        raise ValueError(f"unknown max-pool formulation {pool!r}")
    params = init(config, seed)
    if layout == "NCHW":  # the same function: the dense rows reordered to the C, H, W flatten order
        h, w, c = config.image_shape[0] // 2, config.image_shape[1] // 2, config.conv_channels
        rows = params["hidden"]["w"]
        params["hidden"]["w"] = np.ascontiguousarray(rows.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1))
    return params, partial(apply, layout=layout, pool=pool)
