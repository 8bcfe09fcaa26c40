"""The MLP in PyTorch: flatten -> (dense -> ReLU) per hidden width -> dense to classes.

The model flattens whatever layout it gets, so the NHWC numpy images are used as they are.
"""
from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
from torch import nn

from workloads.configs import MLPConfig


def build(config: MLPConfig, seed: int) -> nn.Module:
    """The model with the shared init (Glorot-uniform weights, zero biases) drawn from `seed`."""
    h, w, c = config.image_shape
    widths = (h * w * c, *config.hidden, config.num_classes)
    layers: list[nn.Module] = [nn.Flatten(start_dim=1)]
    for i, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight, generator=generator)
                nn.init.zeros_(layer.bias)
    return model


def inputs(x: np.ndarray) -> torch.Tensor:
    """NHWC float32 numpy images as a CPU tensor (layout kept: the model flattens it)."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
