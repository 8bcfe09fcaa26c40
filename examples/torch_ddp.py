"""Data-parallel PyTorch on CPU: DistributedDataParallel over the gloo backend, for `torchrun`.

Each rank trains the same small MLP on its own seeded noise; DDP all-reduces the gradients in
backward, and Adam steps. Start it with `torchrun --nproc-per-node 2 examples/torch_ddp.py`. Prints
`step 10 loss ...` every 10 steps from rank 0, then `done: N steps, X.XX ms/step (own timing)`.
"""

import argparse
import statistics
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32, help="per rank")
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()

    dist.init_process_group("gloo")  # RANK, WORLD_SIZE, MASTER_ADDR/PORT from torchrun
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = DistributedDataParallel(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(rank)
    times = []
    for step in range(args.steps):
        start = time.perf_counter()
        x = torch.randn(args.batch_size, 64, generator=gen)
        y = torch.randint(0, 10, (args.batch_size,), generator=gen)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
        if rank == 0 and (step + 1) % 10 == 0:
            print(f"step {step + 1} loss {loss.item():.4f}", flush=True)
    if rank == 0:
        own = statistics.median(times[2:]) * 1000 if len(times) > 2 else float("nan")
        print(f"done: {args.steps} steps, {own:.2f} ms/step (own timing)", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
