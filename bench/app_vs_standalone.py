"""Is the step time the app reports the step time a user's own script sees?

For each framework, alternately runs `main.py run` (convnet, train, synthetic data, no trace)
and the plain script in bench/standalone/, several rounds, and compares the medians.

    python -m bench.app_vs_standalone [--frameworks torch,jax,tf] [--rounds 3] [--steps 200]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from bench.common import run_python


def app_median(framework: str, steps: int, warmup: int) -> float:
    out = run_python(["main.py", "run", "--framework", framework, "--workload", "convnet", "--steps", str(steps),
                      "--warmup", str(warmup), "--trace-steps", "0", "--no-eval", "--data", "synthetic",
                      "--device", "cpu", "--json"])
    return float(json.loads(out)["step_ms_median"])


def standalone_median(framework: str, steps: int, warmup: int) -> float:
    out = run_python([f"bench/standalone/convnet_{framework}.py", "--steps", str(steps), "--warmup", str(warmup)])
    return float(json.loads(out.strip().splitlines()[-1])["step_ms_median"])


def measure(framework: str, rounds: int, steps: int, warmup: int) -> dict[str, object]:
    app, alone = [], []
    for r in range(rounds):
        first, second = (app_median, standalone_median) if r % 2 == 0 else (standalone_median, app_median)
        for fn in (first, second):
            (app if fn is app_median else alone).append(fn(framework, steps, warmup))
    # Rounds drift (±20 % here); the two runs of a round share the drift, so the figure is the
    # median of the per-round ratios.
    ratio = float(np.median(np.array(app) / np.array(alone)))
    return {"framework": framework, "app_ms_median_per_round": app, "standalone_ms_median_per_round": alone,
            "app_ms": float(np.median(app)), "standalone_ms": float(np.median(alone)), "ratio": round(ratio, 4)}


def main() -> list[dict[str, object]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frameworks", default="torch,jax,tf")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    return [measure(fw, args.rounds, args.steps, args.warmup) for fw in args.frameworks.split(",")]


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
