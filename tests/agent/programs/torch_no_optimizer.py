"""PyTorch used without an optimizer (manual SGD under no_grad): no step source fires. It also
prints what the agent's patches must leave as they were (names, signatures, docstrings)."""
import inspect

import torch
from torch import nn
from torch.nn import functional as F
from torch.profiler import profile
from torch.utils.data import DataLoader

for function in (torch.Tensor.backward, DataLoader.__iter__, profile.step, profile.start, profile.stop):
    print(function.__qualname__, inspect.signature(function), len(function.__doc__ or ""))
torch.manual_seed(0)
model = nn.Linear(16, 4)
x, y = torch.randn(8, 16), torch.randn(8, 4)
for i in range(5):
    model.zero_grad()
    loss = F.mse_loss(model(x), y)
    print("backward returns", loss.backward())
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.01 * p.grad
    print("loss", i, repr(float(loss.detach())))
