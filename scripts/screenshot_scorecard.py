"""Remakes resources/screenshots/scorecard.png: the Scorecard window on a session filled by a real
scorecard sweep (`sweep --preset scorecard-quick`, run here through the CLI unless the session
already holds a finished one; about ten minutes on a laptop CPU, resumable).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_scorecard.py \
        [--session /tmp/sc-shot.stepscope] [--preset scorecard-quick] [--tab N] [--out PATH] [--dark]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from screenshot_common import save_screenshot  # noqa: E402  (beside this script: its folder is on the path when it runs)

from gui.app import apply_theme, make_app  # noqa: E402  (importable only after the sys.path insert above)
from gui.scorecard.scorecard_window import TABS, ScorecardWindow  # noqa: E402  (the same)
from sessions.schema import SessionError  # noqa: E402  (the same)
from sessions.store import Session  # noqa: E402  (the same)


def has_finished_sweep(session: Path, preset: str) -> bool:
    if not session.exists():
        return False
    try:
        with Session.open_readonly(session) as opened:
            return any(s.status == "done" and s.name == preset for s in opened.sweeps())
    except SessionError:
        return False


def run_sweep(session: Path, preset: str) -> None:
    """The real sweep, through the command line as a user runs it (a failing point is kept with
    its reason and the sweep goes on; only a sweep that could not run at all stops here)."""
    proc = subprocess.run([sys.executable, "main.py", "sweep", "--preset", preset, "--session", str(session),
                           "--out-dir", str(session.parent / f"{session.stem}-runs")],
                          check=False, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if proc.returncode not in (0, 1):
        raise SystemExit(f"the {preset} sweep did not run (exit {proc.returncode})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--session", type=Path, default=Path("/tmp/sc-shot.stepscope"))
    parser.add_argument("--preset", default="scorecard-quick")
    parser.add_argument("--size", default="1400x860", help="window size WxH")
    parser.add_argument("--tab", type=int, default=0, help=", ".join(f"{i} {name}" for i, name in enumerate(TABS)))
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots" / "scorecard.png")
    parser.add_argument("--dark", action="store_true")
    args = parser.parse_args()
    if not has_finished_sweep(args.session, args.preset):
        run_sweep(args.session, args.preset)
    app = make_app()
    if args.dark:
        apply_theme(app, dark=True)
    window = ScorecardWindow(args.session)
    window.resize(*(int(v) for v in args.size.lower().split("x")))
    window.show()
    deadline = time.monotonic() + 60
    while (window.scorecard is None or window.loader.busy) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    if window.scorecard is None:
        print(f"no scorecard could be read from {args.session}: {window.header.text()}", file=sys.stderr)
        return 1
    window.tabs.setCurrentIndex(args.tab)
    save_screenshot(app, window, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
