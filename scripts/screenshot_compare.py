"""Remake resources/screenshots/compare-view.png: the comparison window over one small ConvNet
run per framework (made through the CLI unless --session names a session). The work is in
gui/compare_screenshot.py, because only gui/ may import Qt.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_compare.py [--session FILE] [--out PATH] [--dark]
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gui.compare_screenshot import main

if __name__ == "__main__":
    sys.exit(main())
