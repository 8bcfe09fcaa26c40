"""Measures what the agent adds to a tiny CPU training step, inside one program run under the agent.
The hooks are put in and taken out (the unpatched Tensor.backward, no global optimizer step hook)
every other step, and the two calls they touch, `backward()` and `optimizer.step()`, are timed one
by one (the optimizer's share includes freeing the step's loss and graph, which the hooks may do
first): the medians with and without, over thousands of steps, compare. Timed by the thread's CPU
time, which a busy machine disturbs less than wall time; step-by-step interleaving and medians keep
preemptions and the machine's load changes out of the difference (and also the channel's write,
once per 50 ms: a few hundredths of a microsecond per step at this step rate).

    python torch_overhead.py [STEPS]  ->  "step_us X" (a whole step without the hooks),
    "agent_us_per_step Y" (= backward_us + optimizer_us), "agent_percent Z"
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


def step() -> tuple[float, float, float]:
    clock = time.thread_time_ns
    begun = clock()
    optimizer.zero_grad()
    loss = F.mse_loss(model(x), y)
    a = clock()
    loss.backward()
    b = clock()
    optimizer.step()
    del loss  # its graph is freed here, or in the hooks' step end that lets go of it first: timed either way
    c = clock()
    return (c - begun) / 1e3, (b - a) / 1e3, (c - b) / 1e3


steps = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
for i in range(200):
    hooks_in(i % 2 == 0)
    step()
times: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
for i in range(steps):
    on = (i % 4) in (0, 3)  # on, off, off, on: neither side always goes first
    hooks_in(on)
    times[on].append(step())


def median(on: bool, part: int) -> float:
    return statistics.median(t[part] for t in times[on])


base = median(False, 0)
backward_us = median(True, 1) - median(False, 1)
optimizer_us = median(True, 2) - median(False, 2)
added = backward_us + optimizer_us
print(f"step_us {base:.1f}")
print(f"backward_us {backward_us:.2f}")
print(f"optimizer_us {optimizer_us:.2f}")
print(f"agent_us_per_step {added:.2f}")
print(f"agent_percent {added / base * 100:.2f}")
