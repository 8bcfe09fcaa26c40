"""Measures what the agent adds to a tiny CPU training step, inside one program run under the agent:
blocks of real training steps with the agent's hooks in place alternate with blocks where they are
taken out (the unpatched Tensor.backward, no global optimizer step hook), and the medians compare.
Timed by the thread's CPU time, which a busy machine disturbs less than wall time.

    python torch_overhead.py  ->  "step_us X" (without the hooks) and "agent_us_per_step Y"
"""
import statistics
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

torch.manual_seed(0)
torch.set_num_threads(1)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
x, y = torch.randn(8, 16), torch.randn(8, 4)
post_hooks = sys.modules["torch.optim.optimizer"]._global_optimizer_post_hooks
patched_backward = torch.Tensor.backward
saved_hooks = dict(post_hooks)


def hooks_in(on: bool) -> None:
    torch.Tensor.backward = patched_backward if on else getattr(patched_backward, "__wrapped__", patched_backward)
    post_hooks.clear()
    if on:
        post_hooks.update(saved_hooks)


def block(n: int) -> float:
    started = time.thread_time()
    for _ in range(n):
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
    return (time.thread_time() - started) / n * 1e6


block(100)
with_hooks, without = [], []
for _ in range(10):
    hooks_in(False)
    without.append(block(150))
    hooks_in(True)
    with_hooks.append(block(150))
base = statistics.median(without)
added = statistics.median(with_hooks) - base
print(f"step_us {base:.1f}")
print(f"agent_us_per_step {added:.2f}")
print(f"agent_percent {added / base * 100:.2f}")
