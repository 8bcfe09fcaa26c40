"""Train a small convnet on fake 28x28 images with a plain PyTorch loop.

A DataLoader over a TensorDataset feeds batches (optionally from worker processes), and Adam updates
the model with the usual backward / step / zero_grad sequence.
"""

import argparse
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class SmallConvNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 28 -> 14
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14 -> 7
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def make_dataset(num_samples: int, seed: int = 0) -> TensorDataset:
    """Fake MNIST-like data: the label decides which quadrant of the image is brighter."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (num_samples,), generator=gen)
    images = torch.randn(num_samples, 1, 28, 28, generator=gen) * 0.5
    for i, label in enumerate(labels.tolist()):
        row, col = divmod(label % 4, 2)
        images[i, 0, row * 14 : (row + 1) * 14, col * 14 : (col + 1) * 14] += 1.0 + 0.1 * label
    return TensorDataset(images, labels)


def batches_forever(loader: DataLoader):
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40, help="number of optimizer steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()

    torch.manual_seed(0)
    dataset = make_dataset(2048)
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
    )

    model = SmallConvNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    model.train()
    step_times = []
    batches = batches_forever(loader)
    last = time.perf_counter()
    for step in range(1, args.steps + 1):
        images, labels = next(batches)
        logits = model(images)
        loss = loss_fn(logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

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
