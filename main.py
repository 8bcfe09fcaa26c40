"""Stepscope's one entry point: no arguments opens the desktop app; sub-commands run headless.

Thin on purpose: it parses arguments and calls into the packages. Nothing here imports a
framework; runs happen in worker processes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workloads.registry import WORKLOADS
from workloads.spec import DEVICES, FRAMEWORKS, MODES, RunSpec, SpecError

EXIT_USAGE = 2


def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run one workload headless and print its figures",
                       description="Run one workload in a fresh worker process, with a progress bar and a summary table.")
    p.add_argument("--framework", required=True, choices=FRAMEWORKS)
    p.add_argument("--workload", default="convnet", choices=WORKLOADS)
    p.add_argument("--mode", default="train", choices=MODES)
    p.add_argument("--variant", default=None,
                   help="execution mode: jax compiled|eager, torch eager|compiled, tf xla|compiled|eager (default: the framework's fast mode)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=50, help="measured steps (the headline figures come from these)")
    p.add_argument("--warmup", type=int, default=5, help="steps run before measuring, left out of the figures")
    p.add_argument("--trace-steps", type=int, default=5, help="steps in the profiler's trace window, after measuring (0: no trace)")
    p.add_argument("--with-stack", action="store_true", help="record Python stacks in the trace (torch; costs up to 40%% on short steps)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--data", default="digits",
                   help="digits (real, shipped), synthetic (seeded noise), or a path to a local MNIST (IDX directory or .npz)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3, dest="learning_rate", help="Adam learning rate")
    p.add_argument("--no-eval", action="store_true", help="skip accuracy / F1 on the held-out split")
    p.add_argument("--out-dir", type=Path, default=None, help="where the trace and log go (default: the user data directory)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds without progress before a worker counts as hung (default 600)")
    p.add_argument("--json", action="store_true", help="print the run's figures as one JSON object on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python main.py", description="Stepscope: profile JAX, PyTorch and TensorFlow side by side.")
    sub = parser.add_subparsers(dest="command")
    _add_run_parser(sub)
    env = sub.add_parser("env", help="which frameworks, devices, workloads and variants work here")
    env.add_argument("--quick", action="store_true", help="only import each framework and list its devices")
    env.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        from profilers.run_command import run_command

        try:
            spec = RunSpec(
                framework=args.framework, workload=args.workload, mode=args.mode, variant=args.variant,
                batch_size=args.batch_size, steps=args.steps, warmup=args.warmup, trace_steps=args.trace_steps,
                device=args.device, data=args.data, seed=args.seed, learning_rate=args.learning_rate,
                with_stack=args.with_stack, evaluate=not args.no_eval,
            ).resolved()
            if args.data not in ("digits", "synthetic") and not Path(args.data).exists():
                raise SpecError(f"--data {args.data}: no such file or directory")
        except SpecError as exc:
            print(f"stepscope run: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return run_command(spec, args.json, args.out_dir, args.timeout)
    if args.command == "env":
        from profilers.compat import env_command

        return env_command(quick=args.quick, as_json=args.json)
    parser.print_help()
    print("\nThe desktop app is not part of this build yet; use the headless commands above.", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
