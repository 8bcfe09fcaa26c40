"""Remakes resources/screenshots/compare-view.png: the comparison window over a session holding
one small ConvNet run per framework (made here through the CLI unless --session names one;
a minute or two on a laptop CPU).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_compare.py [--session FILE] [--out PATH] [--dark] [--tab N]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from screenshot_common import save_screenshot  # noqa: E402  (beside this script: its folder is on the path when it runs)

from gui.app import apply_theme, make_app  # noqa: E402  (importable only after the sys.path insert above)
from gui.compare.compare_view import CompareWindow  # noqa: E402  (the same)


def make_session(path: Path, steps: int) -> None:
    """One run per framework, each with a two-step trace window, into `path`."""
    for framework in ("jax", "torch", "tf"):
        proc = subprocess.run([sys.executable, "main.py", "run", "--framework", framework, "--workload", "convnet",
                               "--batch-size", "16", "--steps", str(steps), "--warmup", "3", "--trace-steps", "2",
                               "--session", str(path), "--out-dir", str(path.parent / "out")],
                              check=False, cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if proc.returncode != 0:
            raise SystemExit(f"the {framework} run failed:\n{proc.stderr[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--session", type=Path, default=None, help="a session to show (default: make one)")
    parser.add_argument("--size", default="1500x940", help="window size WxH (default 1500x940; 1024x700 checks a small screen)")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots" / "compare-view.png")
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--tab", type=int, default=0, help="0 summary, 1 op diff, 2 timelines")
    args = parser.parse_args()
    session = args.session
    if session is None:
        session = Path(tempfile.mkdtemp(prefix="stepscope-compare-")) / "convnet-frameworks.stepscope"
        make_session(session, args.steps)
    app = make_app()
    if args.dark:
        apply_theme(app, dark=True)
    window = CompareWindow.open(session)
    window.resize(*(int(v) for v in args.size.lower().split("x")))
    window.show()
    window.tabs.setCurrentIndex(args.tab)
    save_screenshot(app, window, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
