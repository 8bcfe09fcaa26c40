r"""Remakes resources/screenshots/main-window.png: the main window during a real three-framework
ConvNet run (small sizes; takes a minute or two on a laptop CPU).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py [--out PATH] [--dark]

With --program, resources/screenshots/program.png instead: the "Your program" tab after a real run
of one of the examples (from the repository root; trace window steps 100 to 103, batch size 32;
`python` is this script's own interpreter, put first on the PATH the program inherits):

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py --size 1280x800 \
        --program "python examples/torch_loop.py --steps 500" --env OMP_NUM_THREADS=1 \
        --out resources/screenshots/program.png
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the QApplication is made, not at import
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from gui.app import apply_theme, make_app  # noqa: E402  (importable only after the sys.path insert above)
from gui.live.main_window import MainWindow  # noqa: E402  (the same)


def wait(app: QApplication, condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    return condition()


def shoot_program(app: QApplication, window: MainWindow, command: str, env: list[str], out: Path) -> int:
    """Start `command` from the "Your program" tab, wait for its end, show its curves, grab."""
    bin_dir = str(Path(sys.executable).parent)  # `python` in the command: this venv's, still shown as `python`
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    window.run_tabs.show_program()
    panel = window.program_panel
    panel.command.setText(command)
    panel.cwd.setText(str(ROOT))
    panel.env.setPlainText("\n".join(env))
    panel.batch.setValue(32)
    panel.window_box.setCurrentIndex(panel.window_box.findData("steps"))
    panel.steps_from.setValue(100)
    panel.steps_to.setValue(103)
    for field in (panel.command, panel.cwd):
        field.setCursorPosition(0)
    window.start_program()
    if not wait(app, lambda: window.busy, 10):
        print(f"the program did not start: {panel.error_label.text()}", file=sys.stderr)
        return 1
    if not wait(app, lambda: not window.busy, 120):
        print(f"{command!r} did not end within 120 s", file=sys.stderr)
        window.stop_runs()
        wait(app, lambda: not window.busy, 30)
        return 1
    rows = window.runs_model.rows
    if not rows or rows[-1].record.status != "ok":
        print(f"the run did not finish: {rows[-1].record.reason if rows else 'no run'}", file=sys.stderr)
        return 1
    window.runs_list.select([rows[-1].run_id])
    wait(app, lambda: False, 1.0)  # the plots redraw from the stored curves
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))
    print(out)
    window.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1500x940", help="window size WxH (default 1500x940; 1024x700 checks a small screen)")
    parser.add_argument("--out", type=Path, help="the PNG (default resources/screenshots/main-window.png, "
                                                 "or program.png with --program)")
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--program", metavar="COMMAND",
                        help='run COMMAND from the "Your program" tab instead, e.g. '
                             '"python examples/torch_loop.py --steps 500"')
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="with --program: a line of its Environment field (repeatable)")
    args = parser.parse_args()
    if args.out is None:
        args.out = ROOT / "resources" / "screenshots" / ("program.png" if args.program else "main-window.png")
    app = make_app()
    if args.dark:
        apply_theme(app, dark=True)
    folder = Path(tempfile.mkdtemp(prefix="stepscope-shot-"))
    window = MainWindow(folder / "convnet-comparison.stepscope",
                        settings=QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(*(int(v) for v in args.size.lower().split("x")))
    window.show()
    if args.program:
        return shoot_program(app, window, args.program, args.env, args.out)
    model = window.panel_model
    if not wait(app, lambda: all(s.imports is not None for s in model.frameworks.values()), 300):
        print("the compatibility probe did not finish", file=sys.stderr)
        return 1
    for fw in model.frameworks:
        model.choose(fw, model.available(fw))
    for name, value in (("workload", "convnet"), ("batch_size", 16), ("steps", args.steps), ("warmup", 3),
                        ("trace_steps", 0), ("repeat", 1)):
        model.set(name, value)
    total = len(model.specs())
    window.start_runs()
    # the shot: the last framework well into its run, the earlier ones finished and overlaid
    wait(app, lambda: len(window.live_model.runs) == total
         and list(window.live_model.runs.values())[-1].steps_done >= args.steps // 2, 600)
    wait(app, lambda: False, 0.5)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(args.out)
    window.stop_runs()
    wait(app, lambda: not window.busy, 60)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
