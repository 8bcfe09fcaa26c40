"""The convnet in PyTorch: conv 3x3 (SAME) -> ReLU -> max-pool 2x2 -> dense -> ReLU -> dense.

PyTorch's image shape is NCHW, so `inputs` transposes the NHWC numpy images once, when the
backend moves its batch pool to the device, into the plain contiguous format; the backend then
puts images and model in the memory format its formulation names (channels_last, measured
faster on CPU: README, "How the built-in models are written, and why"). The plain copy is asked
for explicitly: with one channel, `permute(0, 3, 1, 2).contiguous()` (and numpy's
`ascontiguousarray`) is a no-op that keeps strides (784, 1, 28, 1), which torch also reads as
channels_last, so the layout would be chosen by accident rather than by the formulation.

`inplace_relu` (the backend sets it from its formulation) applies ReLU in place, as torchvision's
models write it (`nn.ReLU(inplace=True)`): eager PyTorch otherwise allocates a fresh activation
the size of the conv output every step, and at serving batches those allocations (fresh pages,
faulted in) cost more than the ReLU itself. Autograd allows it: neither the convolution's nor the
linear layer's backward needs its output.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workloads.configs import ConvNetConfig


class ConvNet(nn.Module):
    def __init__(self, config: ConvNetConfig) -> None:
        super().__init__()
        c_in = config.image_shape[2]
        self.conv = nn.Conv2d(c_in, config.conv_channels, kernel_size=3, stride=1, padding="same", bias=True)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.hidden = nn.Linear(config.flat_features, config.hidden)
        self.head = nn.Linear(config.hidden, config.num_classes)
        self.inplace_relu = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv(x), inplace=self.inplace_relu))
        x = torch.flatten(x, start_dim=1)
        logits: torch.Tensor = self.head(F.relu(self.hidden(x), inplace=self.inplace_relu))
        return logits


def build(config: ConvNetConfig, seed: int) -> nn.Module:
    """The model with the shared init (Glorot-uniform weights, zero biases) drawn from `seed`.

    torch's xavier_uniform_ takes fan_in = in_ch*kh*kw and fan_out = out_ch*kh*kw for a
    conv kernel, the same Glorot fans the other frameworks use."""
    model = ConvNet(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (model.conv, model.hidden, model.head):
            nn.init.xavier_uniform_(layer.weight, generator=generator)
            assert layer.bias is not None  # every layer is built with a bias
            nn.init.zeros_(layer.bias)
    return model


def inputs(x: np.ndarray) -> torch.Tensor:
    """NHWC float32 numpy images as an NCHW CPU tensor with the standard contiguous strides."""
    nchw = torch.from_numpy(np.asarray(x, dtype=np.float32)).permute(0, 3, 1, 2)
    return nchw.clone(memory_format=torch.contiguous_format)
