"""A PyTorch loop that runs its own torch.profiler.

    python torch_own_profiler.py STEPS OUT_DIR            # a scheduled profiler stepped with prof.step()
    python torch_own_profiler.py STEPS OUT_DIR --late     # a plain profiler around steps 2 and 3 only
"""
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F
from torch.profiler import ProfilerActivity, profile, schedule


def main() -> None:
    steps, out_dir = int(sys.argv[1]), sys.argv[2]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    x, y = torch.randn(8, 16), torch.randn(8, 4)

    def train(i: int) -> None:
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        print("loss", i, repr(float(loss.detach())))

    if "--late" in sys.argv:
        for i in range(steps):
            if i == 2:
                own = profile(activities=[ProfilerActivity.CPU])
                own.start()
            train(i)
            if i == 3:
                own.stop()
                own.export_chrome_trace(os.path.join(out_dir, "own.json"))
        return

    def save(prof: profile) -> None:
        prof.export_chrome_trace(os.path.join(out_dir, "own.json"))

    with profile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=1, warmup=1, active=2, repeat=1),
                 on_trace_ready=save) as prof:
        for i in range(steps):
            train(i)
            prof.step()
    print("own trace", os.path.exists(os.path.join(out_dir, "own.json")))


if __name__ == "__main__":
    main()
