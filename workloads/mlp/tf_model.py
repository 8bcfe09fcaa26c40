"""The MLP in Keras 3 (TensorFlow backend), built from the shared CONFIG.

Each initializer gets its own integer seed drawn from `seed`, because Keras initializers with
the same integer seed draw the same numbers for same-shaped weights.
"""
from __future__ import annotations

import keras
import numpy as np

from workloads.configs import MLPConfig


def build(config: MLPConfig, seed: int) -> keras.Model:
    """NHWC images -> flatten -> (dense + ReLU) per hidden width -> logits [B, num_classes]."""
    rng = np.random.default_rng(seed)

    def glorot() -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=int(rng.integers(2**31 - 1)))

    layers: list[keras.layers.Layer] = [
        keras.Input(shape=config.image_shape, dtype="float32"),
        keras.layers.Flatten(name="flatten"),
    ]
    for i, width in enumerate(config.hidden):
        layers.append(
            keras.layers.Dense(
                width, activation="relu", kernel_initializer=glorot(), bias_initializer="zeros", name=f"hidden_{i}"
            )
        )
    layers.append(keras.layers.Dense(config.num_classes, kernel_initializer=glorot(), bias_initializer="zeros", name="logits"))
    return keras.Sequential(layers, name="mlp")
