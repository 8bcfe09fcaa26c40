"""Framework-free model descriptions: every framework builds its model from the same numbers.

Initialisation scheme, shared by all frameworks: weights of dense, convolution and attention
projections Glorot-uniform; biases zero; layer-norm scale one and offset zero; embeddings
normal with standard deviation 0.02. Optimiser: Adam (beta1 0.9, beta2 0.999, eps 1e-8).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeAlias

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
EMBEDDING_STDDEV = 0.02


@dataclass(frozen=True)
class ImageClassifierConfig:
    """Images in NHWC float32 in [0, 1], integer class labels."""

    data_kind: str
    image_shape: tuple[int, int, int]
    num_classes: int


@dataclass(frozen=True)
class ConvNetConfig(ImageClassifierConfig):
    """3x3 conv (SAME) -> ReLU -> 2x2 max-pool -> dense -> ReLU -> dense."""

    conv_channels: int
    hidden: int

    @property
    def flat_features(self) -> int:
        h, w, _ = self.image_shape
        return (h // 2) * (w // 2) * self.conv_channels

    @property
    def param_count(self) -> int:
        c_in = self.image_shape[2]
        conv = 3 * 3 * c_in * self.conv_channels + self.conv_channels
        dense1 = self.flat_features * self.hidden + self.hidden
        dense2 = self.hidden * self.num_classes + self.num_classes
        return conv + dense1 + dense2


@dataclass(frozen=True)
class MLPConfig(ImageClassifierConfig):
    """Flattened image -> dense+ReLU for each hidden width -> dense to classes."""

    hidden: tuple[int, ...]

    @property
    def param_count(self) -> int:
        h, w, c = self.image_shape
        widths = (h * w * c, *self.hidden, self.num_classes)
        return sum(a * b + b for a, b in pairwise(widths))


@dataclass(frozen=True)
class TransformerConfig:
    """A small causal language model: token + learned position embeddings, pre-layer-norm
    blocks of multi-head self-attention (causal mask) and a ReLU MLP, final layer norm,
    untied LM head with bias. Inputs are int32 token ids [B, T]; targets are the next tokens."""

    data_kind: str
    vocab_size: int
    seq_len: int
    d_model: int
    num_heads: int
    d_ff: int
    num_layers: int
    layer_norm_eps: float = 1e-5

    @property
    def param_count(self) -> int:
        d, f = self.d_model, self.d_ff
        attention = 4 * (d * d + d)
        mlp = d * f + f + f * d + d
        block = attention + mlp + 2 * (2 * d)
        return self.vocab_size * d + self.seq_len * d + self.num_layers * block + 2 * d + d * self.vocab_size + self.vocab_size


# What registry.model_config returns: the data and the backends branch on which of the two it is.
ModelConfig: TypeAlias = ImageClassifierConfig | TransformerConfig


def _width(width: int, scale: float, multiple: int = 1) -> int:
    """`width * scale` rounded half up to a multiple of `multiple`, never below one multiple."""
    return multiple * max(1, math.floor(width * scale / multiple + 0.5))


def scaled(config: ModelConfig, scale: float) -> ModelConfig:
    """The workload `scale` times as wide (RunSpec.model_scale): convnet channels and dense units,
    MLP hidden units, transformer d_model (a multiple of the heads) and feed-forward width; depth,
    heads and data unchanged. Every backend builds from this one config, so the frameworks' parameter
    counts stay equal at every scale."""
    if scale == 1.0:
        return config
    if isinstance(config, ConvNetConfig):
        return dataclasses.replace(config, conv_channels=_width(config.conv_channels, scale),
                                   hidden=_width(config.hidden, scale))
    if isinstance(config, MLPConfig):
        return dataclasses.replace(config, hidden=tuple(_width(w, scale) for w in config.hidden))
    if isinstance(config, TransformerConfig):
        return dataclasses.replace(config, d_model=_width(config.d_model, scale, config.num_heads),
                                   d_ff=_width(config.d_ff, scale))
    raise TypeError(f"no width to scale in {type(config).__name__}")
