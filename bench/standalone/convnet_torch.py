"""The convnet as a user would write it in plain PyTorch, timed the plain way. Independent of
Stepscope's code on purpose: it is the yardstick the app's step times are held against. Written
as the app's torch backend writes it (README: "How the built-in models are written, and why"):
channels_last (PyTorch's memory-format tutorial), Adam with fused=True, nn.CrossEntropyLoss on
class indices."""
import argparse
import json
import time

import numpy as np
import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=200)
p.add_argument("--warmup", type=int, default=20)
p.add_argument("--batch-size", type=int, default=64)
a = p.parse_args()
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(32 * 14 * 14, 128), nn.ReLU(), nn.Linear(128, 10)).to(memory_format=torch.channels_last)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, fused=True)
loss_fn = nn.CrossEntropyLoss()
rng = np.random.default_rng(0)
batches = [(torch.from_numpy(rng.random((a.batch_size, 1, 28, 28), dtype=np.float32)).to(memory_format=torch.channels_last),
            torch.from_numpy(rng.integers(0, 10, a.batch_size)).long()) for _ in range(4)]
times = []
for i in range(a.warmup + a.steps):
    x, y = batches[i % 4]
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    loss.item()
    if i >= a.warmup:
        times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"step_ms_median": float(np.median(times))}))
