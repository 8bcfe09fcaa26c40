"""Remakes resources/screenshots/ranks.png: a two-rank PyTorch DDP run (gloo, CPU) in the app. On top
the main window's live plots and runs list with the run selected: one curve per rank; below, the
run's trace in the inspector on its Stragglers tab (every step's slowest rank, the spread, each
rank's time in gloo collectives), its first traced step chosen and shown on the timeline. The
session is recorded here through the command line unless --session names one (`run --steps A:B --
torchrun --nproc-per-node 2 examples/torch_ddp.py`; under a minute on a laptop).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_ranks.py [--session FILE] [--out PATH]
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

from PySide6.QtCore import QSettings  # noqa: E402  (after the environment above, as in the other makers)
from PySide6.QtGui import QColor, QImage, QPainter  # noqa: E402  (the same)
from screenshot_common import settle  # noqa: E402  (beside this script: its folder is on the path when it runs)

from gui.app import apply_theme, make_app  # noqa: E402  (importable only after the sys.path insert above)
from gui.inspector.trace_inspector import TraceInspectorWindow  # noqa: E402  (the same)
from gui.live.main_window import MainWindow  # noqa: E402  (the same)


def record(session: Path, steps: int, window: str) -> None:
    """One real two-rank run into `session`: torchrun starts examples/torch_ddp.py twice (gloo)."""
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [sys.executable, "main.py", "run", "--session", str(session), "--steps", window, "--name", "ddp-2-ranks",
               "--", str(torchrun), "--nproc-per-node", "2", "examples/torch_ddp.py", "--steps", str(steps)]
    proc = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"))
    if proc.returncode != 0:
        raise SystemExit(f"the two-rank run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    print(proc.stderr[-2500:], file=sys.stderr)  # its summary and straggler table, for the record


def stack(top: QImage, bottom: QImage, background: QColor) -> QImage:
    """`top` above `bottom`, left-aligned, with a thin gap."""
    gap = 6
    out = QImage(max(top.width(), bottom.width()), top.height() + gap + bottom.height(), QImage.Format.Format_RGB32)
    out.fill(background)
    painter = QPainter(out)
    painter.drawImage(0, 0, top)
    painter.drawImage(0, top.height() + gap, bottom)
    painter.end()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--session", type=Path, default=None, help="a session whose newest run has ranks (default: record one)")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots" / "ranks.png")
    parser.add_argument("--steps", type=int, default=120, help="steps of the recorded run")
    parser.add_argument("--window", default="40:43", help="the traced steps A:B of the recorded run")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--dark", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="stepscope-ranks-"))
    session = args.session
    if session is None:
        session = folder / "ddp-ranks.stepscope"
        record(session, args.steps, args.window)
    app = make_app()
    if args.dark:
        apply_theme(app, dark=True)
    window = MainWindow(session, settings=QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat),
                        probe_frameworks=())
    window.resize(args.width + 330, 860)  # the plots as wide as the inspector below; the run tabs are cropped off
    window.show()
    rows = window.runs_model.rows
    if not rows or int((rows[-1].record.summary or {}).get("ranks") or 1) < 2:
        raise SystemExit(f"{session}: its newest run has no ranks (summary 'ranks')")
    run_id = rows[-1].run_id
    window.runs_list.select([run_id])  # the stored run's curves, every rank's
    settle(app, 1.5)
    plots = window.live_view.parentWidget()  # the live plots over the runs list (the run tabs are not the point)
    top = plots.grab().toImage() if plots is not None else window.grab().toImage()
    inspector = TraceInspectorWindow.from_session(session, run_id)
    inspector.resize(args.width, 640)
    inspector.show()
    settle(app, 0.2)
    while not inspector.analyses_ready:
        settle(app, 0.1)
    if inspector.stragglers is None:
        raise SystemExit(f"{session}: the inspector found no ranks in run {run_id}'s trace")
    panel = inspector.stragglers
    inspector.tabs.setCurrentWidget(panel)
    traced = [k for k in range(panel.proxy.rowCount()) if any(w == w for w in panel.table_row(k).collective_wait_ms)]
    if traced:  # the first traced step: its row in view, and it on the timeline
        panel.view.selectRow(traced[0])
        panel.view.scrollTo(panel.proxy.index(max(0, traced[0] - 2), 0), panel.view.ScrollHint.PositionAtTop)
    settle(app, 1.0)
    bottom = inspector.grab().toImage()
    image = stack(top, bottom, window.palette().color(window.backgroundRole()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(args.out)):
        raise SystemExit(f"{args.out}: could not write the screenshot")
    print(args.out)
    inspector.close()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
