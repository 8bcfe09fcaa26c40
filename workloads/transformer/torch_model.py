"""The small causal language model in PyTorch, attention written out from dense layers.

Separate q/k/v/out projections (d_model x d_model, with bias) instead of
nn.MultiheadAttention, whose fused in_proj would give a different parameter layout and
init than the JAX and TensorFlow versions.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from workloads.configs import EMBEDDING_STDDEV, TransformerConfig


class CausalSelfAttention(nn.Module):
    causal: torch.Tensor  # the [T, T] lower-triangular mask, registered as a buffer below

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.d_model
        if d % config.num_heads:
            raise ValueError(f"d_model {d} is not divisible by num_heads {config.num_heads}")
        self.num_heads = config.num_heads
        self.head_dim = d // config.num_heads
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
        mask = torch.ones(config.seq_len, config.seq_len, dtype=torch.bool).tril()
        self.register_buffer("causal", mask, persistent=False)  # a buffer, not a parameter

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # [B, H, T, Dh]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        scores = scores.masked_fill(~self.causal[:t, :t], float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v  # [B, H, T, Dh]
        out: torch.Tensor = self.out(y.transpose(1, 2).reshape(b, t, d))
        return out


class Block(nn.Module):
    """Pre-LN: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.ln1 = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.mlp = nn.Sequential(nn.Linear(d, config.d_ff), nn.ReLU(), nn.Linear(config.d_ff, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        out: torch.Tensor = x + self.mlp(self.ln2(x))
        return out


class Transformer(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.d_model)
        self.position = nn.Parameter(torch.empty(config.seq_len, config.d_model))
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.head = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.token(tokens) + self.position[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        logits: torch.Tensor = self.head(self.ln_f(x))  # [B, T, vocab]
        return logits


def build(config: TransformerConfig, seed: int) -> nn.Module:
    """The model with the shared init drawn from `seed`: Glorot-uniform dense weights, zero
    biases, layer-norm scale 1 / offset 0, both embeddings normal(0, EMBEDDING_STDDEV)."""
    model = Transformer(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        nn.init.normal_(model.token.weight, 0.0, EMBEDDING_STDDEV, generator=generator)
        nn.init.normal_(model.position, 0.0, EMBEDDING_STDDEV, generator=generator)
        for module in model.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight, generator=generator)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
    return model


def inputs(x: np.ndarray) -> torch.Tensor:
    """int32 token ids as an int64 CPU tensor, the index type nn.Embedding is fastest with."""
    return torch.from_numpy(np.asarray(x)).long()
