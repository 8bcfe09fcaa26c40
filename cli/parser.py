"""Every command's arguments: the command line contract (docs/architecture.md, "The command line").

Argument handling only; `cli.commands` runs what was asked.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from cli.sweep_args import add_sweep_parser
from workloads.registry import WORKLOADS
from workloads.spec import DEVICES, FRAMEWORKS, MODES, TRACE_GUARDS

COMMANDS = ("run", "sweep", "report", "compare", "export", "sessions", "env", "import", "scorecard", "attach", "remote",
            "capture")
ON_HELP = ("where the worker runs: local (default), ssh://[user@]host[:port] (a ~/.ssh/config alias works; "
           "run `remote setup` there once) or ray / ray://ADDRESS (docs/executors.md)")


def _add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run one workload (or your own program, after --) headless and print its figures",
                       usage="%(prog)s [options] [-- COMMAND ...]",
                       description="Run one workload in a fresh worker process, with a progress bar and a summary table; "
                                   "or, after --, your own program (e.g. -- python train.py --its --own args) under "
                                   "Stepscope, its output passed through and its steps recorded (docs/programs.md).")
    p.add_argument("--framework", default=None, choices=FRAMEWORKS, help="the built-in workload's framework "
                   "(required without a COMMAND; a program's is detected)")
    p.add_argument("--workload", default="convnet", choices=WORKLOADS)
    p.add_argument("--mode", default="train", choices=MODES)
    p.add_argument("--variant", default=None,
                   help="execution mode: jax compiled|eager, torch eager|compiled, tf xla|compiled|eager "
                        "(default: the framework's fast mode)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="samples per step (default 64; for a COMMAND: tells Stepscope, for the throughput)")
    p.add_argument("--steps", default=None, metavar="N | A:B",
                   help="measured steps, the headline figures come from these (default 50); for a COMMAND: A:B, "
                        "the steps whose trace is recorded (A to B-1)")
    p.add_argument("--warmup", type=int, default=5, help="steps run before measuring, left out of the figures")
    p.add_argument("--trace-steps", type=int, default=5,
                   help="steps in the profiler's trace window, after measuring (0: no trace)")
    p.add_argument("--trace-guard", default=None, choices=TRACE_GUARDS,
                   help="before the trace window: shrink it under the limits that break the framework's profiler "
                        "(default), only warn, or off (built-in workloads; README, \"The trace window\")")
    p.add_argument("--with-stack", action="store_true",
                   help="record Python stacks in the trace (torch; costs up to 40%% on short steps)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--data", default="digits",
                   help="digits (real, shipped), synthetic (seeded noise), or a path to a local MNIST (IDX directory or .npz)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3, dest="learning_rate", help="Adam learning rate")
    p.add_argument("--no-eval", action="store_true", help="skip accuracy / F1 on the held-out split")
    # The scorecard's run settings (docs/scorecard.md, "Run settings"), built-in workloads only.
    p.add_argument("--model-scale", type=float, default=None, metavar="X",
                   help="the model X times as wide (channels, units, d_model; depth kept; default 1)")
    p.add_argument("--data-size", type=int, default=None, metavar="N",
                   help="train on N samples: the first N, or the data repeated with one-pixel shifts (default: all)")
    p.add_argument("--epochs", type=int, default=None, metavar="E",
                   help="measure E whole epochs (reshuffled each, last partial batch dropped) instead of --steps")
    p.add_argument("--target-accuracy", type=float, default=None, metavar="A",
                   help="time to accuracy: train until held-out accuracy >= A (a fraction), --steps the cap")
    p.add_argument("--eval-every", type=int, default=None, metavar="N",
                   help="with --target-accuracy: evaluate every N steps (default 0: once per epoch)")
    p.add_argument("--out-dir", type=Path, default=None, help="where the trace and log go (default: the user data directory)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds without progress before a worker counts as hung (default 600)")
    p.add_argument("--session", type=Path, default=None,
                   help="session file (.stepscope) the run is recorded into "
                        "(default: the user data directory's default session)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run the same spec N times, each in a fresh worker (run-to-run variance)")
    p.add_argument("--on", default="local", metavar="WHERE", help=ON_HELP)
    p.add_argument("--json", action="store_true",
                   help="print the run's figures as one JSON object on stdout (a list with --repeat)")
    p.add_argument("--trace-at", type=float, default=None, metavar="SECONDS",
                   help="for a COMMAND without steps: start the trace this long after the program starts")
    p.add_argument("--trace-for", type=float, default=None, metavar="SECONDS", help="with --trace-at: the trace's length")
    p.add_argument("--name", default=None, help="for a COMMAND: the run's name (default: the script or module it runs)")
    p.add_argument("--ranks", default=None, metavar="R,R",
                   help="for a distributed COMMAND: the ranks whose trace windows are captured (default: all)")
    p.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                   help="your program and its arguments, after --")


def _add_scorecard_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("scorecard", help="the framework scorecard of a `sweep --preset scorecard-...`: metrics x "
                       "frameworks with intervals, and the claims checked")
    p.add_argument("file", type=Path, help="the session the scorecard sweep was recorded into")
    p.add_argument("--sweep", default=None, dest="sweep_id", help="the sweep's id (default: the newest scorecard sweep)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="the scorecard as JSON on stdout")
    out.add_argument("--html", type=Path, default=None, metavar="OUT", help="write it as one self-contained HTML file")
    out.add_argument("--markdown", type=Path, default=None, metavar="OUT", help="write it as Markdown")


def _add_attach_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("attach", help="capture from a running program: its profiler server (HOST:PORT), "
                       "or any Python process's stacks (--pid)",
                       description="HOST:PORT: a trace from the profiler server of a running JAX or TensorFlow "
                                   "program (jax.profiler.start_server, tf.profiler.experimental.server.start), stored "
                                   "as a run. --pid: any Python program's stacks, sampled by py-spy, printed as a call "
                                   "tree and kept as a folded-stacks file. Ctrl+C stops and stores nothing (exit 130).")
    p.add_argument("target", nargs="?", default=None, metavar="HOST:PORT", help="the profiler server's address")
    p.add_argument("--pid", type=int, default=None, help="a running Python process to sample with py-spy instead")
    p.add_argument("--for", default="3s", dest="duration", metavar="DURATION",
                   help="the capture window: 3s (default), 500ms, 1m")
    p.add_argument("--session", type=Path, default=None, dest="attach_session",
                   help="HOST:PORT: session file (.stepscope) the run is stored in (default: the default session)")
    p.add_argument("--logdir", type=Path, default=None,
                   help="HOST:PORT: the folder the server saves its capture in, on its own disk; for a program on "
                        "another machine, a folder both machines share (default: a temporary folder here)")
    p.add_argument("--out", type=Path, default=None,
                   help="--pid: where the folded stacks go (default: the user data directory's stacks/ folder)")
    p.add_argument("--rate", type=int, default=100, help="--pid: samples a second (default 100)")
    p.add_argument("--idle", action="store_true", help="--pid: keep idle threads' stacks too")
    p.add_argument("--nonblocking", action="store_true",
                   help="--pid: read without pausing the program (less cost, some torn stacks)")
    p.add_argument("--limit", type=int, default=15, help="--pid: rows of the hottest functions")
    p.add_argument("--progress-jsonl", action="store_true",
                   help="for programs: the progress as JSON lines on stdout (cli/attach.py says their fields)")


def _add_remote_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = sub.add_parser("remote", help="prepare a remote machine for `run --on ssh://...`")
    actions = remote.add_subparsers(dest="remote_action", required=True)
    setup = actions.add_parser("setup", help="install this version's worker environment on a machine reached over SSH",
                               description="Copies the worker code over SFTP and installs the worker's packages at "
                                           "requirements.txt's pins into a venv under ~/.stepscope there; once per "
                                           "version (a run with --on says when it is needed).")
    setup.add_argument("target", metavar="ssh://[user@]host[:port]")
    setup.add_argument("--python", default=None, metavar="PATH",
                       help="use this interpreter on the remote as it is (its packages already installed) instead of a venv")
    setup.add_argument("--json", action="store_true", help="what was installed, as JSON on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py", description="Stepscope: profile JAX, PyTorch and TensorFlow side by side.",
        epilog="With no command, the desktop app opens (on FILE or --session, else the default session).")
    parser.add_argument("--session", type=Path, default=None, dest="gui_session", metavar="FILE",
                        help="session file (.stepscope) the desktop app opens")
    sub = parser.add_subparsers(dest="command")
    _add_run_parser(sub)
    add_sweep_parser(sub)
    report = sub.add_parser("report", help="one row of headline figures per run of a session")
    report.add_argument("file", type=Path)
    report.add_argument("--json", action="store_true")
    report.add_argument("--ops", metavar="RUN_ID", default=None, help="the top ops of that run's trace window")
    report.add_argument("--by", choices=("self", "total", "count", "mean"), default="self",
                        help="order of --ops (default: self time)")
    report.add_argument("--limit", type=int, default=20, help="rows of --ops")
    report.add_argument("--ranks", metavar="RUN_ID", default=None,
                        help="a multi-rank run's ranks and its straggler table (docs/programs.md)")
    report.add_argument("--families", metavar="RUN_ID", default=None,
                        help="that run's op time by family (convolution, matmul, elementwise, ...), per step")
    imp = sub.add_parser("import", help="add an outside trace (Chrome trace, XPlane, or profile log directory) as a run",
                         description="Read a trace into a session as one run, with a progress bar on stderr; Ctrl+C "
                                     "cancels and stores nothing (exit code 130).")
    imp.add_argument("trace", type=Path, help="a trace file (.json, .json.gz, .xplane.pb[.gz]) or a directory "
                     "(a profile log directory, or one job's per-rank traces)")
    imp.add_argument("--session", type=Path, default=None, dest="import_session",
                     help="session file (.stepscope) to add the run to (default: the default session)")
    imp.add_argument("--framework", choices=FRAMEWORKS, default=None, help="override the detected framework")
    imp.add_argument("--progress-jsonl", action="store_true",
                     help="for programs: the progress as one JSON object a line on stdout instead of the bar "
                          '({"done":, "total":} bytes, {"stage":}, and last {"run_id":, "events":, ...})')
    compare = sub.add_parser("compare",
                             help="compare runs across sessions: deltas, confidence intervals, verdicts, environment")
    compare.add_argument("runs", nargs="+", help="FILE (all its runs) or FILE:RUN_ID; the first run is the baseline")
    compare.add_argument("--json", action="store_true")
    compare.add_argument("--html", type=Path, default=None, metavar="OUT",
                         help="also write the comparison, with op diffs of traced runs, as one self-contained HTML file")
    compare.add_argument("--markdown", type=Path, default=None, metavar="OUT", help="the same report as Markdown")
    _add_scorecard_parser(sub)
    export = sub.add_parser("export", help="export a run's steps and samples (csv, json) or its trace (chrome)")
    export.add_argument("file", type=Path)
    export.add_argument("--run", required=True, dest="run_id")
    export.add_argument("--format", required=True, choices=("csv", "json", "chrome"))
    export.add_argument("--out", required=True, type=Path)
    sessions = sub.add_parser("sessions", help="list the sessions in the default directory (or --dir) with their runs")
    sessions.add_argument("--dir", type=Path, default=None)
    sessions.add_argument("--json", action="store_true")
    sessions.add_argument("--repair", type=Path, default=None, metavar="FILE",
                          help="after a crash: fold the file's -wal into it and mark runs whose writer died "
                               "as interrupted, so the file alone (copied, mailed) holds every run")
    _add_attach_parser(sub)
    env = sub.add_parser("env", help="which frameworks, devices, workloads and variants work here")
    env.add_argument("--quick", action="store_true", help="only import each framework and list its devices")
    env.add_argument("--json", action="store_true")
    env.add_argument("--on", default="local", metavar="WHERE", help=ON_HELP)
    _add_remote_parser(sub)
    _add_capture_parser(sub)
    return parser


def _add_capture_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("capture", help="trace the next N steps (or T seconds) of a run that is running now",
                       description="Arms the framework's own profiler in a running run (a built-in workload or your "
                                   "own program) for its next N steps, or for T seconds where the program has no "
                                   "steps; the window is stored with the run when it ends (docs/capture.md).")
    p.add_argument("run_id", metavar="RUN_ID", help="the running run (its id is in the app's runs list and `run`'s output)")
    amount = p.add_mutually_exclusive_group(required=True)
    amount.add_argument("--steps", type=int, default=None, help="trace the next N steps")
    amount.add_argument("--seconds", type=float, default=None, help="trace for T seconds from now")
    p.add_argument("--ranks", default=None, metavar="R,R", dest="capture_ranks",
                   help="for a distributed program: only these ranks (default: those the run's own --ranks chose, or all)")
    p.add_argument("--session", type=Path, default=None, dest="capture_session",
                   help="the run's session file, to say why a run that is not running here cannot be reached")


