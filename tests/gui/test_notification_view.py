"""The banner keeps an error until it is dismissed: a later notice that fades on its own must not
take the error with it (issue 15: a full disk was said in a banner that then hid itself)."""
from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from gui import notification_view
from gui.notification_view import NotificationBanner
from gui.notifications import NotificationManager


def test_an_error_comes_back_when_a_later_notice_fades_until_it_is_dismissed(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(notification_view.AUTO_HIDE_MS, "info", 50)
    manager = NotificationManager()
    banner = NotificationBanner(manager)
    qtbot.addWidget(banner)
    manager.notify("disk full while writing s.stepscope", "error")
    manager.notify("The torch run was cancelled", "info")
    qtbot.waitUntil(lambda: banner.current is not None and banner.current.severity == "info", timeout=2000)
    qtbot.waitUntil(lambda: banner.current is not None and banner.current.severity == "error", timeout=2000)
    qtbot.wait(200)  # an error does not fade
    assert not banner.isHidden() and "disk full" in banner.text.text()
    banner.dismiss()
    manager.notify("Saved", "info")
    qtbot.waitUntil(lambda: banner.current is not None and banner.current.message == "Saved", timeout=2000)
    qtbot.waitUntil(banner.isHidden, timeout=2000)  # a dismissed error stays dismissed
