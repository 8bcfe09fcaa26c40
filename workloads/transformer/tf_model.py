"""The causal transformer LM in Keras 3 (TensorFlow backend), built from the shared CONFIG.

Attention is written by hand from four Dense projections (not keras.layers.MultiHeadAttention,
whose kernels are [d_model, heads, head_dim] and initialised with a different fan) so the
parameter layout and initialisation match the other frameworks. Each initializer gets its own
integer seed drawn from `seed`: Keras initializers with the same integer seed would otherwise
give q, k and v identical weights.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from workloads.configs import EMBEDDING_STDDEV, TransformerConfig

Init = Callable[[], keras.initializers.Initializer]


def _dense(units: int, init: Init, name: str, activation: str | None = None) -> keras.layers.Dense:
    return keras.layers.Dense(units, activation=activation, kernel_initializer=init(), bias_initializer="zeros", name=name)


class Embeddings(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type information: Layer is Any
    """Token embedding plus a learned embedding of each position 0..T-1."""

    def __init__(self, config: TransformerConfig, init: Init, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tokens = keras.layers.Embedding(config.vocab_size, config.d_model, embeddings_initializer=init(), name="tokens")
        self.positions = keras.layers.Embedding(config.seq_len, config.d_model, embeddings_initializer=init(), name="positions")

    def call(self, ids: tf.Tensor) -> tf.Tensor:
        return self.tokens(ids) + self.positions(tf.range(tf.shape(ids)[1]))[None]


class CausalSelfAttention(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type information: Layer is Any
    """Multi-head self-attention where position t attends to positions <= t only."""

    def __init__(self, d_model: int, num_heads: int, init: Init, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.q, self.k, self.v, self.out = (_dense(d_model, init, name) for name in ("q", "k", "v", "out"))

    def _heads(self, x: tf.Tensor) -> tf.Tensor:  # [B, T, D] -> [B, H, T, Dh]
        b, t = tf.shape(x)[0], tf.shape(x)[1]
        return tf.transpose(tf.reshape(x, (b, t, self.num_heads, self.head_dim)), (0, 2, 1, 3))

    def call(self, x: tf.Tensor) -> tf.Tensor:
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        scores = tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(self.head_dim))
        t = tf.shape(x)[1]
        causal = tf.linalg.band_part(tf.ones((t, t), dtype=tf.bool), -1, 0)
        scores = tf.where(causal, scores, tf.constant(np.finfo(np.float32).min, scores.dtype))
        mixed = tf.matmul(tf.nn.softmax(scores, axis=-1), v)  # [B, H, T, Dh]
        mixed = tf.transpose(mixed, (0, 2, 1, 3))
        return self.out(tf.reshape(mixed, tf.shape(x)))


class Block(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type information: Layer is Any
    """Pre-LN block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: TransformerConfig, init: Init, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ln1 = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="ln1")
        self.attn = CausalSelfAttention(config.d_model, config.num_heads, init, name="attn")
        self.ln2 = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="ln2")
        self.ff1 = _dense(config.d_ff, init, "ff1", activation="relu")
        self.ff2 = _dense(config.d_model, init, "ff2")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.ff2(self.ff1(self.ln2(x)))


def build(config: TransformerConfig, seed: int) -> keras.Model:
    """int32 token ids [B, T] -> next-token logits [B, T, vocab_size]."""
    if config.d_model % config.num_heads:
        raise ValueError(f"d_model {config.d_model} is not divisible by num_heads {config.num_heads}")
    rng = np.random.default_rng(seed)

    def glorot() -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=int(rng.integers(2**31 - 1)))

    def normal() -> keras.initializers.Initializer:
        return keras.initializers.RandomNormal(stddev=EMBEDDING_STDDEV, seed=int(rng.integers(2**31 - 1)))

    ids = keras.Input(shape=(config.seq_len,), dtype="int32")
    x = Embeddings(config, normal, name="embed")(ids)
    for i in range(config.num_layers):
        x = Block(config, glorot, name=f"block_{i}")(x)
    x = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="ln_final")(x)
    logits = _dense(config.vocab_size, glorot, "lm_head")(x)
    return keras.Model(ids, logits, name="transformer")
