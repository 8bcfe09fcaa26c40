"""Remakes resources/screenshots/trace-inspector.png: the trace inspector on the stored PyTorch
ConvNet trace, with the first aten::conv2d event selected as if clicked.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_inspector.py [--trace PATH] [--out PATH]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
TRACE = ROOT / "tests" / "data" / "traces" / "torch_convnet.trace.json.gz"
OUT = ROOT / "resources" / "screenshots" / "trace-inspector.png"


def render(trace: Path, out: Path, size: tuple[int, int] = (1400, 900), select: str | None = "aten::conv2d") -> Path:
    """Open the inspector on `trace`, select the first event called `select` (when there is
    one), and save the window to `out`."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import make_app
    from gui.inspector.trace_inspector import TraceInspectorWindow
    from traces.analysis import describe_source
    from traces.readers import read_trace

    app = make_app()
    table = read_trace(trace)
    window = TraceInspectorWindow(table, trace.name.split(".")[0], describe_source(table))
    window.resize(*size)
    window.show()
    deadline = time.monotonic() + 60
    while not window.analyses_ready and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    name_id = table.string_id(select) if select else -1
    if name_id >= 0:
        index = int((table.name == name_id).argmax())
        window.timeline.select_event(index)
        window.details.show_event(index)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        raise OSError(f"{out}: could not write the screenshot")
    window.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trace", type=Path, default=TRACE)
    parser.add_argument("--size", default="1400x900", help="window size WxH (default 1400x900; 1024x700 checks a small screen)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(render(args.trace, args.out, (width, height)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
