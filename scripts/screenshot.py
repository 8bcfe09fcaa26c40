"""Remake resources/screenshots/main-window.png: the main window during a real three-framework
ConvNet run (small sizes; takes a minute or two on a laptop CPU). The work is in gui/screenshot.py,
because only gui/ may import Qt.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py [--out PATH] [--dark]
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gui.screenshot import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
