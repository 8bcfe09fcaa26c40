"""The shared initialisation scheme drawn on the host with numpy's seeded Generator.

Used by the JAX models: initialising with jax.random compiles one small XLA program per shape,
which cost seconds of start-up per run on CPU.
"""
from __future__ import annotations

import math

import numpy as np


def glorot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Glorot-uniform; for a conv kernel (kh, kw, in, out) both fans include kh*kw."""
    receptive = math.prod(shape[:-2])
    limit = math.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def dense(rng: np.random.Generator, n_in: int, n_out: int) -> dict[str, np.ndarray]:
    """A dense layer's parameters: Glorot-uniform weights, zero biases."""
    return {"w": glorot(rng, (n_in, n_out)), "b": np.zeros((n_out,), np.float32)}
