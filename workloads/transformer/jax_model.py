"""The causal transformer in plain JAX, attention written out from dense projections so the
parameter layout and initialisation match the other frameworks one for one.

Parameters are drawn on the host with numpy's seeded Generator: initialising with jax.random
compiles one small XLA program per shape, which cost seconds of start-up per run on CPU.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from workloads.configs import EMBEDDING_STDDEV, TransformerConfig
from workloads.host_init import dense

Params = dict[str, Any]


def _layer_norm_params(d: int) -> Params:
    return {"scale": np.ones((d,), np.float32), "offset": np.zeros((d,), np.float32)}


def _block(rng: np.random.Generator, d: int, f: int) -> Params:
    return {
        "ln1": _layer_norm_params(d),
        "q": dense(rng, d, d),
        "k": dense(rng, d, d),
        "v": dense(rng, d, d),
        "o": dense(rng, d, d),
        "ln2": _layer_norm_params(d),
        "ff1": dense(rng, d, f),
        "ff2": dense(rng, f, d),
    }


def init(config: TransformerConfig, seed: int) -> Params:
    d = config.d_model
    rng = np.random.default_rng(seed)
    return {
        "tok_emb": rng.normal(0.0, EMBEDDING_STDDEV, size=(config.vocab_size, d)).astype(np.float32),
        "pos_emb": rng.normal(0.0, EMBEDDING_STDDEV, size=(config.seq_len, d)).astype(np.float32),
        "blocks": [_block(rng, d, config.d_ff) for _ in range(config.num_layers)],
        "ln_f": _layer_norm_params(d),
        "head": dense(rng, d, config.vocab_size),
    }


def _linear(p: Params, x: jax.Array) -> jax.Array:
    y: jax.Array = x @ p["w"] + p["b"]
    return y


def _layer_norm(p: Params, x: jax.Array, eps: float) -> jax.Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = jnp.square(x - mean).mean(axis=-1, keepdims=True)
    normed: jax.Array = (x - mean) * jax.lax.rsqrt(var + eps) * p["scale"] + p["offset"]
    return normed


def _attention(p: Params, x: jax.Array, num_heads: int) -> jax.Array:
    b, t, d = x.shape
    head_dim = d // num_heads

    def heads(y: jax.Array) -> jax.Array:
        return y.reshape(b, t, num_heads, head_dim)

    q, k, v = heads(_linear(p["q"], x)), heads(_linear(p["k"], x)), heads(_linear(p["v"], x))
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(head_dim)
    causal = jnp.tril(jnp.ones((t, t), dtype=bool))
    lowest = jnp.finfo(scores.dtype).min  # type: ignore[no-untyped-call]  # jnp.finfo is ml_dtypes.finfo, unannotated
    scores = jnp.where(causal, scores, lowest)
    weights = jax.nn.softmax(scores, axis=-1)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, d)
    return _linear(p["o"], out)


def apply(params: Params, tokens: jax.Array, *, num_heads: int, eps: float) -> jax.Array:
    """Logits [B, T, vocab_size] for int32 token ids [B, T]."""
    x = params["tok_emb"][tokens] + params["pos_emb"][: tokens.shape[1]]
    for blk in params["blocks"]:
        x = x + _attention(blk, _layer_norm(blk["ln1"], x, eps), num_heads)
        h = jax.nn.relu(_linear(blk["ff1"], _layer_norm(blk["ln2"], x, eps)))
        x = x + _linear(blk["ff2"], h)
    return _linear(params["head"], _layer_norm(params["ln_f"], x, eps))


def build(config: TransformerConfig, seed: int) -> tuple[Params, Callable[[Params, jax.Array], jax.Array]]:
    """Initial parameters (numpy host arrays: the backend places them on its device) and the
    pure forward function, with head count and layer-norm eps bound in."""
    if config.d_model % config.num_heads:
        raise ValueError(f"d_model {config.d_model} is not divisible by num_heads {config.num_heads}")
    return init(config, seed), partial(apply, num_heads=config.num_heads, eps=config.layer_norm_eps)
