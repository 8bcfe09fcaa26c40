"""`stepscope remote setup ssh://...`: the worker environment on a machine reached over SSH
(profilers.executors.ssh_setup says what goes where), and what was installed there."""
from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from profilers.executors.base import ExecutorError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def remote_command(args: argparse.Namespace) -> int:
    from profilers.executors.ssh import SshExecutor
    from profilers.executors.ssh_setup import setup_environment

    console = Console(stderr=True)
    if not str(args.target).startswith("ssh://"):
        console.print(f"stepscope remote setup: {escape(args.target)} is not an ssh:// target "
                      "(a Ray cluster's workers are set up by Ray: docs/executors.md)")
        return EXIT_USAGE
    try:
        executor = SshExecutor.from_target(args.target)
    except ExecutorError as exc:
        console.print(f"stepscope remote setup: {escape(str(exc))}", soft_wrap=True)
        return EXIT_USAGE
    try:
        conn = executor.connect()
    except ExecutorError as exc:
        console.print(f"stepscope remote setup: {escape(str(exc))}", soft_wrap=True)
        return EXIT_FAILED
    try:
        report = setup_environment(conn, args.python, lambda line: console.print(escape(line), soft_wrap=True))
    except ExecutorError as exc:
        console.print(f"stepscope remote setup: {escape(str(exc))}", soft_wrap=True)
        return EXIT_FAILED
    finally:
        conn.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return EXIT_OK
    table = Table(title=f"worker environment on {report.host}", show_header=False)
    table.add_row("directory", report.env_dir)
    table.add_row("python", f"{report.python} ({report.python_version})")
    table.add_row("packages", "installed now (a new venv)" if report.venv_created else
                  "already there (reused as it is)")
    for name, version in report.packages.items():
        table.add_row(f"  {name}", version)
    table.add_row("worker code", f"{report.code_files} files copied")
    Console().print(table)
    console.print(f"ready: `./stepscope run --on {escape(args.target)} --framework torch`")
    return EXIT_OK
