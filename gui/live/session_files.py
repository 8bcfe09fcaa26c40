"""The session file the window is asked for: File → Open…, File → Save As…, and session files
dropped on the window. Only the asking lives here; the window opens or copies what it gets."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtWidgets import QFileDialog, QWidget

from sessions.store import SUFFIX


def ask_open(parent: QWidget, folder: Path) -> Path | None:
    name, _ = QFileDialog.getOpenFileName(parent, "Open session", str(folder),
                                          f"Stepscope sessions (*{SUFFIX});;All files (*)")
    return Path(name) if name else None


def ask_save_as(parent: QWidget, folder: Path) -> Path | None:
    name, _ = QFileDialog.getSaveFileName(parent, "Save session as", str(folder), f"Stepscope sessions (*{SUFFIX})")
    return Path(name) if name else None


def dropped(mime: QMimeData) -> list[Path]:
    """The session files among what is dragged over the window."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.toLocalFile().endswith(SUFFIX)]
