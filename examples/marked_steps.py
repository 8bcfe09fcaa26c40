"""Fit a small regression MLP with hand-written SGD in PyTorch, marking each step for Stepscope.

There is no torch.optim optimizer: parameters are updated in place under torch.no_grad(), and the
one-line stepscope.step(...) call at the end of each iteration tells Stepscope where a step ends.
"""

import argparse
import statistics
import time

import stepscope
import torch
from torch import nn


def make_data(num_samples: int, num_features: int = 32, seed: int = 0):
    """Random regression problem: a noisy nonlinear function of the inputs."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_samples, num_features, generator=gen)
    w = torch.randn(num_features, 1, generator=gen) / num_features**0.5
    y = torch.tanh(x @ w) + 0.05 * torch.randn(num_samples, 1, generator=gen)
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40, help="number of SGD steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()

    torch.manual_seed(0)
    x, y = make_data(4096)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    step_times = []
    order = torch.randperm(len(x))
    position = 0
    last = time.perf_counter()
    for step in range(1, args.steps + 1):
        if position + args.batch_size > len(x):
            order = torch.randperm(len(x))
            position = 0
        idx = order[position : position + args.batch_size]
        position += args.batch_size

        loss = nn.functional.mse_loss(model(x[idx]), y[idx])
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= args.lr * p.grad

        stepscope.step(loss=loss.item(), batch_size=args.batch_size)

        now = time.perf_counter()
        step_times.append(now - last)
        last = now
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.4f}")

    timed = step_times[2:] or step_times
    ms_per_step = statistics.median(timed) * 1000 if timed else float("nan")
    print(f"done: {args.steps} steps, {ms_per_step:.2f} ms/step (own timing)")


if __name__ == "__main__":
    main()
