"""Remake resources/screenshots/trace-inspector.png: the trace inspector on the stored PyTorch
ConvNet trace (tests/data/traces/torch_convnet.trace.json.gz). The work is in
gui/inspector_screenshot.py, because only gui/ may import Qt.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_inspector.py [--trace PATH] [--out PATH]
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gui.inspector_screenshot import main

if __name__ == "__main__":
    sys.exit(main())
