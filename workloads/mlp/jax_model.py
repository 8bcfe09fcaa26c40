"""The MLP in plain JAX: a list of dense layers as a pytree and a pure forward function.

Parameters are drawn on the host with numpy's seeded Generator: initialising with jax.random
compiles one small XLA program per shape, which cost seconds of start-up per run on CPU.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import jax
import numpy as np

from workloads.configs import MLPConfig
from workloads.host_init import dense

Params = list[dict[str, Any]]


def init(config: MLPConfig, seed: int) -> Params:
    widths = (math.prod(config.image_shape), *config.hidden, config.num_classes)
    rng = np.random.default_rng(seed)
    return [dense(rng, n_in, n_out) for n_in, n_out in pairwise(widths)]


def apply(params: Params, x: jax.Array) -> jax.Array:
    """Logits [B, num_classes] for images [B, H, W, C] (flattened here)."""
    y = x.reshape(x.shape[0], -1)
    for layer in params[:-1]:
        y = jax.nn.relu(y @ layer["w"] + layer["b"])
    logits: jax.Array = y @ params[-1]["w"] + params[-1]["b"]
    return logits


def build(config: MLPConfig, seed: int) -> tuple[Params, Callable[[Params, jax.Array], jax.Array]]:
    """Initial parameters (numpy host arrays: the backend places them on its device) and the
    pure forward function."""
    return init(config, seed), apply
