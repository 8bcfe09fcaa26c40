"""Stepscope's one entry point: no arguments opens the desktop app; sub-commands run headless.

Thin on purpose: the command line lives in `cli/`, the app in `gui/`. Nothing here imports a
framework; runs happen in worker processes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.parser import COMMANDS, build_parser


def _gui(argv: list[str]) -> int:
    """No sub-command: open the desktop app, on `FILE.stepscope`, `--session FILE` or the default."""
    parser = argparse.ArgumentParser(prog="python main.py", description="Open the Stepscope desktop app.")
    parser.add_argument("file", type=Path, nargs="?", help="a session file (.stepscope) to open")
    parser.add_argument("--session", type=Path, default=None, help="the same, as an option")
    args = parser.parse_args(argv)
    if args.file and args.session:
        parser.error("give the session either as FILE or as --session, not both")
    from gui.app import main as gui_main

    return gui_main(args.file or args.session)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not any(a in COMMANDS for a in argv) and not any(a in ("-h", "--help") for a in argv):
        return _gui(argv)
    args = build_parser().parse_args(argv)
    if args.command is None:
        return _gui(argv)
    from cli.commands import dispatch

    return dispatch(args)


if __name__ == "__main__":
    sys.exit(main())
