"""A tiny PyTorch training loop for the agent's tests: Adam on an MLP, the loss printed each step.

    python torch_train.py STEPS [--loader] [--bench] [--until SECONDS | --until-since-start SECONDS]

--loader: batches from a DataLoader with two forked workers (batch size 8).
--bench: no per-step prints; prints the mean wall time per step (after 50 warm-up steps) instead.
--until: stop (before STEPS) once SECONDS have passed since the loop's start, sleeping 5 ms a step;
--until-since-start: the same, counted from the program's start (before torch is imported), so a
time window planned before it ends finds the loop running however slowly torch was imported.
"""
import sys
import time

STARTED = time.perf_counter()  # before torch is imported: --until-since-start counts from here

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402


def main() -> None:
    steps = int(sys.argv[1])
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    print("params", sum(p.numel() for p in model.parameters()))
    if "--loader" in sys.argv:
        data = torch.utils.data.TensorDataset(torch.randn(8 * steps, 16), torch.randn(8 * steps, 4))
        batches = torch.utils.data.DataLoader(data, batch_size=8, num_workers=2, multiprocessing_context="fork")
    else:
        x, y = torch.randn(8, 16), torch.randn(8, 4)
        batches = [(x, y)] * steps
    bench = "--bench" in sys.argv
    until = float(sys.argv[sys.argv.index("--until") + 1]) if "--until" in sys.argv else None
    started = 0.0
    begun = time.perf_counter()
    if "--until-since-start" in sys.argv:
        until, begun = float(sys.argv[sys.argv.index("--until-since-start") + 1]), STARTED
    for i, (x, y) in enumerate(batches):
        if bench and i == 50:
            started = time.perf_counter()
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        if not bench:
            print("loss", i, repr(float(loss.detach())))
        if until is not None:
            time.sleep(0.005)
            if time.perf_counter() - begun > until:
                break
    if bench:
        print("per_step_us", (time.perf_counter() - started) / (steps - 50) * 1e6)


if __name__ == "__main__":
    main()
