"""Runs the command the parsed arguments name; each command's work and printing lives in its
own module (`cli.run`, `cli.program_run`, `cli.env`, `cli.trace_import`, `cli.session_commands`),
imported only when asked for."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workloads.spec import RunSpec, SpecError

EXIT_USAGE = 2


def dispatch(args: argparse.Namespace) -> int:
    """Exit codes: 0 success, 1 the run failed (the session keeps what it streamed), 2 bad
    arguments or an unreadable file, 130 interrupted; `run -- COMMAND`: the program's own."""
    if args.command == "run":
        if args.program:
            from cli.program_run import program_run

            if args.on != "local":
                print("stepscope run: --on runs built-in workloads elsewhere; your own program runs here "
                      "(copy it to the machine and run Stepscope there)", file=sys.stderr)
                return EXIT_USAGE
            return program_run(args)
        return _run(args)
    if args.command == "sweep":
        from cli.sweep import sweep_command

        return sweep_command(args)
    if args.command == "scorecard":
        from cli.scorecard import scorecard_command

        return scorecard_command(args.file, args.sweep_id, args.json, args.html, args.markdown)
    if args.command == "env":
        from cli.env import env_command

        return env_command(quick=args.quick, as_json=args.json, on=args.on)
    if args.command == "remote":
        from cli.remote import remote_command

        return remote_command(args)
    if args.command == "import":
        from cli.trace_import import import_command

        return import_command(args.trace, args.import_session, args.framework, args.progress_jsonl)
    if args.command == "capture":
        from cli.capture import capture_command

        return capture_command(args.run_id, args.steps, args.seconds, args.capture_session, args.capture_ranks)
    if args.command == "attach":
        from cli.attach import attach_command

        return attach_command(args)
    from cli import session_commands as commands

    if args.command == "report":
        if args.ops:
            return commands.ops_command(args.file, args.ops, args.json, args.by, args.limit)
        if args.families:
            return commands.families_command(args.file, args.families, args.json)
        if args.ranks:
            from cli.rank_report import rank_report_command

            return rank_report_command(args.file, args.ranks, args.json, args.limit)
        return commands.report_command(args.file, args.json)
    if args.command == "compare":
        return commands.compare_command(args.runs, args.json, args.html, args.markdown)
    if args.command == "export":
        return commands.export_command(args.file, args.run_id, args.format, args.out)
    if args.command == "sessions":
        if args.repair is not None:
            return commands.repair_command(args.repair, args.json)
        return commands.sessions_command(args.dir, args.json)
    raise ValueError(f"unknown command {args.command!r}")


def _run(args: argparse.Namespace) -> int:
    from cli.run import run_command

    try:
        if args.framework is None:
            raise SpecError("--framework is required (or give your own program after --: run -- python train.py)")
        for option in ("trace_at", "trace_for", "name", "ranks"):
            if getattr(args, option) is not None:
                raise SpecError(f"--{option.replace('_', '-')} is for your own program, given after --")
        try:
            steps = 50 if args.steps is None else int(args.steps)
        except ValueError:
            raise SpecError(f"--steps takes a number of measured steps here, not {args.steps!r} "
                            "(A:B is for your own program, given after --)") from None
        spec = RunSpec(
            framework=args.framework, workload=args.workload, mode=args.mode, variant=args.variant,
            batch_size=64 if args.batch_size is None else args.batch_size, steps=steps, warmup=args.warmup,
            trace_steps=args.trace_steps,
            device=args.device, data=args.data, seed=args.seed, learning_rate=args.learning_rate,
            with_stack=args.with_stack, evaluate=not args.no_eval, trace_guard=args.trace_guard or "shrink",
            model_scale=1.0 if args.model_scale is None else args.model_scale, data_size=args.data_size,
            epochs=args.epochs, target_accuracy=args.target_accuracy, eval_every=args.eval_every or 0,
        ).resolved()
        if args.data not in ("digits", "synthetic") and not Path(args.data).exists():
            raise SpecError(f"--data {args.data}: no such file or directory")
        if args.repeat < 1:
            raise SpecError("--repeat must be at least 1")
    except SpecError as exc:
        print(f"stepscope run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_command(spec, args.json, args.out_dir, args.timeout, args.session, args.repeat, on=args.on)
