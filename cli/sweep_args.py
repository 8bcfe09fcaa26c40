"""`sweep`'s arguments (kept beside `cli.parser`, which calls `add_sweep_parser`): each axis
option takes a comma list; one value is a fixed setting, several are an axis of the sweep."""
from __future__ import annotations

import argparse
from pathlib import Path

from workloads.spec import DEVICES


def add_sweep_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sweep", help="run a grid of workloads (frameworks x variants x workloads x modes x batch sizes x model "
             "scales x dataset sizes), resumable",
        description="Every point of the grid runs in a fresh worker and is recorded into the session as one sweep; "
                    "interrupted (Ctrl+C, a crash), the same command again resumes it without rerunning finished points. "
                    "A point that fails is recorded with its reason and the sweep goes on.")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="a scorecard sweep: scorecard-quick (a laptop CPU in ~10 minutes), scorecard-full or "
                        "scorecard-smoke; it fixes the grids (only --frameworks, --repeat, --device and the "
                        "session options combine with it); then `scorecard SESSION`")
    p.add_argument("--frameworks", default=None,
                   help="comma list (default: jax,torch,tf; with --preset: those installed here)")
    p.add_argument("--workloads", default="convnet", help="comma list of convnet, mlp, transformer (default convnet)")
    p.add_argument("--modes", default="train", help="comma list of train, infer (default train)")
    p.add_argument("--variants", default="default",
                   help="comma list of variant names, 'default' (each framework's fast mode) or 'all' (every variant)")
    p.add_argument("--batch-sizes", default="64", help="comma list (default 64)")
    p.add_argument("--model-scales", default=None, metavar="X,X",
                   help="comma list of width multipliers (e.g. 0.5,1,2: equal parameter counts in every framework)")
    p.add_argument("--data-sizes", default=None, metavar="N,N",
                   help="comma list of training-set sizes (e.g. 512,1024,2048); with --epochs, time per epoch")
    p.add_argument("--epochs", type=int, default=None, metavar="E",
                   help="each point's measured phase is E whole epochs instead of --steps steps")
    p.add_argument("--repeat", type=int, default=None,
                   help="each point N times, interleaved (run-to-run variance; default 1, a preset's own)")
    p.add_argument("--steps", type=int, default=50, help="measured steps per point (default 50)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--trace-steps", type=int, default=0, help="trace window per point (default 0: none)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--data", default="digits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-eval", action="store_true", help="skip accuracy / F1 on the held-out split")
    p.add_argument("--name", default=None, help="the sweep's name in the session")
    p.add_argument("--session", type=Path, default=None, help="session file (default: the default session)")
    p.add_argument("--out-dir", type=Path, default=None, help="where each point's trace and log go")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds without progress before a worker counts as hung")
    p.add_argument("--json", action="store_true", help="print the points and their figures as JSON on stdout")
    p.add_argument("--on", default="local", metavar="WHERE",
                   help="where the points run: local (default, one at a time), ssh://[user@]host[:port], or a Ray "
                        "cluster: ray (a Ray runtime started here), ray:auto or ray://HOST:PORT (join one); on Ray "
                        "several points run at once, as the cluster's resources allow")
    p.add_argument("--gpus-per-run", type=float, default=0, metavar="N",
                   help="with --on ray: GPUs each point reserves (default 0: none, CPU only)")
    p.add_argument("--cpus-per-run", type=float, default=1, metavar="N",
                   help="with --on ray: CPUs each point reserves (default 1); the cluster's CPUs over this "
                        "is how many CPU points run at once")
