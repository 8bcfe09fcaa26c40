"""The convnet in Keras 3 (TensorFlow backend), built from the shared CONFIG.

Keras' GlorotUniform already takes fan_in = kh*kw*in_ch and fan_out = kh*kw*out_ch for a
conv kernel, which is the scheme every framework uses. Each initializer gets its own integer
seed drawn from `seed`, because Keras initializers with the same integer seed draw the same
numbers for same-shaped weights.
"""
from __future__ import annotations

import keras
import numpy as np

from workloads.configs import ConvNetConfig


def build(config: ConvNetConfig, seed: int) -> keras.Model:
    """NHWC images -> logits [B, num_classes]."""
    rng = np.random.default_rng(seed)

    def glorot() -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=int(rng.integers(2**31 - 1)))

    return keras.Sequential(
        [
            keras.Input(shape=config.image_shape, dtype="float32"),
            keras.layers.Conv2D(
                config.conv_channels,
                3,
                padding="same",
                activation="relu",
                kernel_initializer=glorot(),
                bias_initializer="zeros",
                name="conv",
            ),
            keras.layers.MaxPooling2D(pool_size=2, strides=2, name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(
                config.hidden, activation="relu", kernel_initializer=glorot(), bias_initializer="zeros", name="hidden"
            ),
            keras.layers.Dense(config.num_classes, kernel_initializer=glorot(), bias_initializer="zeros", name="logits"),
        ],
        name="convnet",
    )
