"""The Qt face of the NotificationManager: a banner at the top of the window.

Listeners may be called from any thread, so the view only emits a queued signal there and builds
widgets on the GUI thread. Errors stay until dismissed; info and warnings fade after a while, and
when one fades over an error nobody dismissed, the error comes back: a later "run cancelled" or
"saved" must not hide that the disk filled (issue 15). A notice that offers a fix (its actions,
shown as buttons) stays too, until it is used or dismissed.

The banner is a plain QWidget coloured by a style sheet, which Qt paints only with
WA_StyledBackground; without it the palette's light grey showed under white text (issue 15).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QToolButton, QWidget

from gui.notifications import Notification, NotificationAction, NotificationManager

COLORS = {"info": ("#1f6feb", "#ffffff"), "warning": ("#b7791f", "#ffffff"), "error": ("#c0392b", "#ffffff")}
AUTO_HIDE_MS = {"info": 6000, "warning": 12000}
ICONS = {"info": "ℹ", "warning": "⚠", "error": "✖"}


class NotificationBanner(QWidget):
    """Shows the newest notification with a count of earlier unread ones; `received` is queued."""

    received = Signal(object)

    def __init__(self, manager: NotificationManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.current: Notification | None = None
        self.sticky: Notification | None = None  # the newest error not yet dismissed
        self.unread = 0
        self.setObjectName("notificationBanner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = self._layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QPushButton("Details…")
        self.details.setToolTip("the full reason: the worker's log or the traceback")
        self.details.clicked.connect(self._on_details_clicked)
        self.action_buttons: list[QPushButton] = []
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        self._actions_at = layout.count()  # action buttons go here, before Details
        layout.addWidget(self.details)
        layout.addWidget(close)
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.timeout.connect(self._on_faded)
        self.hide()
        self.received.connect(self._on_received, Qt.ConnectionType.QueuedConnection)
        manager.connect(self.received.emit)

    def _on_received(self, note: Notification) -> None:
        self.unread = self.unread + 1 if self.isVisible() else 0
        if note.severity == "error":
            self.sticky = note
        self._show(note)

    def _on_faded(self) -> None:
        if self.sticky is None:
            self.dismiss()
        else:
            self._show(self.sticky)

    def _show(self, note: Notification) -> None:
        self.current = note
        bg, fg = COLORS[note.severity]
        self.setStyleSheet(f"#notificationBanner {{ background: {bg}; border-radius: 4px; }}"
                           f"#notificationBanner QLabel {{ color: {fg}; }}"
                           f"#notificationBanner QPushButton, #notificationBanner QToolButton {{ color: {fg};"
                           f" background: rgba(255, 255, 255, 40); border: 1px solid {fg}; border-radius: 3px;"
                           " padding: 2px 8px; }"
                           "#notificationBanner QPushButton:hover, #notificationBanner QToolButton:hover {"
                           " background: rgba(255, 255, 255, 80); }")
        self.icon.setText(ICONS[note.severity])
        more = f"   (+{self.unread} earlier)" if self.unread else ""
        self.text.setText(note.message + more)
        self.details.setVisible(bool(note.detail))
        self._set_actions(note.actions)
        self.show()
        if note.severity in AUTO_HIDE_MS and not note.actions:
            self._hide_timer.start(AUTO_HIDE_MS[note.severity])
        else:
            self._hide_timer.stop()

    def _set_actions(self, actions: tuple[NotificationAction, ...]) -> None:
        for button in self.action_buttons:
            button.deleteLater()
        self.action_buttons = []
        for k, action in enumerate(actions):
            button = QPushButton(action.label)
            button.clicked.connect(lambda _=False, action=action: self._on_action(action))
            self._layout.insertWidget(self._actions_at + k, button)
            self.action_buttons.append(button)

    def _on_action(self, action: NotificationAction) -> None:
        """Take the notice down first (the action may notify its outcome, which must stay shown);
        an earlier error nobody dismissed comes back."""
        if self.sticky is not None and self.sticky is not self.current:
            self._show(self.sticky)
        else:
            self.dismiss()
        action.run()

    def dismiss(self) -> None:
        self.unread = 0
        self.sticky = None
        self.hide()

    def _on_details_clicked(self) -> None:
        if self.current is None:
            return
        box = QMessageBox(QMessageBox.Icon.Critical if self.current.severity == "error" else QMessageBox.Icon.Information,
                          "Stepscope", self.current.message, QMessageBox.StandardButton.Close, self)
        box.setDetailedText(self.current.detail)
        box.open()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.manager.disconnect(self.received.emit)
        super().closeEvent(event)
