"""The "Open Recent" list: the last session files opened, newest first, kept in QSettings and
mirrored in the File menu.

Stored as one JSON string rather than a QSettings list: an INI backend hands a one-element list
back as a plain string, a JSON string comes back the same from every backend.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 8
KEY = "recent_sessions"


class RecentSessions:
    """Remembers opened session files in `settings` and keeps `menu` listing them; choosing an
    entry calls `open_session` with its path."""

    def __init__(self, settings: QSettings, menu: QMenu, open_session: Callable[[Path], object]) -> None:
        self.settings = settings
        self.menu = menu
        self.open_session = open_session
        self.rebuild_menu()

    def paths(self) -> list[str]:
        """The remembered files, newest first; unreadable settings read as none."""
        raw = self.settings.value(KEY, "[]")
        try:
            return [str(p) for p in json.loads(str(raw))]
        except ValueError:
            return []

    def remember(self, path: Path) -> None:
        recent = [str(path)] + [p for p in self.paths() if p != str(path)]
        self.settings.setValue(KEY, json.dumps(recent[:MAX_RECENT]))
        self.rebuild_menu()

    def rebuild_menu(self) -> None:
        self.menu.clear()
        entries = self.paths()
        for entry in entries:
            act = self.menu.addAction(entry)
            act.triggered.connect(lambda _=False, p=entry: self.open_session(Path(p)))
        self.menu.setEnabled(bool(entries))
