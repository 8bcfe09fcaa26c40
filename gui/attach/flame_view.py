"""The flame view of `attach --pid`'s sampled stacks: a flame graph drawn root at the top (as
speedscope's left-heavy view: the widest callees first), click a box to zoom into it, click
a caller strip or "all" to zoom back out; beside it the hottest functions; Save Stacks… exports
the folded-stacks file that speedscope, flamegraph.pl and inferno read.
"""
from __future__ import annotations

import shutil
import zlib
from pathlib import Path

from PySide6.QtCore import QPoint, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from gui.attach.flame_model import FlameBox, FlameModel
from traces.folded_stacks import read_folded

ROW_PX = 20
TEXT_MIN_PX = 28  # narrower boxes carry no name


def box_colour(box: FlameBox) -> QColor:
    """Warm colours as flame graphs have them, fixed per function name so a function keeps its
    colour across zooms; callers below the zoomed box are grey."""
    if box.caller:
        return QColor(170, 170, 170)
    if not box.path:
        return QColor(205, 120, 90)
    seed = zlib.crc32(box.name.encode("utf-8"))
    return QColor.fromHsv(8 + seed % 45, 150 + (seed >> 8) % 70, 225 + (seed >> 16) % 30)


class FlameGraph(QWidget):
    """Paints a FlameModel's boxes; hover names a box, a click zooms."""

    zoomed = Signal(tuple)  # the focus path

    def __init__(self, model: FlameModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setMouseTracking(True)
        self._boxes: list[FlameBox] = []
        self._relayout()

    def _relayout(self) -> None:
        self._boxes = self.model.boxes()
        self.setMinimumHeight(max(ROW_PX * 3, (self.model.depth() + 1) * ROW_PX))
        self.update()

    def zoom(self, path: tuple[str, ...]) -> None:
        self.model.zoom(path)
        self._relayout()
        self.zoomed.emit(self.model.focus)

    def box_at(self, point: QPoint) -> FlameBox | None:
        width = max(1, self.width())
        for box in reversed(self._boxes):
            if box.depth * ROW_PX <= point.y() < (box.depth + 1) * ROW_PX and \
                    box.x * width <= point.x() < (box.x + box.width) * width:
                return box
        return None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        metrics = QFontMetrics(self.font())
        width = self.width()
        border = QPen(self.palette().color(QPalette.ColorRole.Base))
        for box in self._boxes:
            rect = QRectF(box.x * width, box.depth * ROW_PX, max(1.0, box.width * width), ROW_PX - 1)
            painter.fillRect(rect, box_colour(box))
            painter.setPen(border)
            painter.drawLine(rect.topRight(), rect.bottomRight())
            if rect.width() >= TEXT_MIN_PX:
                painter.setPen(QColor(20, 20, 20))
                text = metrics.elidedText(box.name, Qt.TextElideMode.ElideRight, int(rect.width()) - 6)
                painter.drawText(rect.adjusted(3, 0, -3, 0), Qt.AlignmentFlag.AlignVCenter, text)
        painter.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        box = self.box_at(event.position().toPoint())
        if box is None:
            QToolTip.hideText()
            return
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"{box.name}\n{box.samples:,} samples · {100 * box.share:.1f}% of all", self)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        box = self.box_at(event.position().toPoint())
        if box is not None and event.button() == Qt.MouseButton.LeftButton:
            self.zoom(box.path)


class FlameWindow(QWidget):
    """A window of its own for one stacks file."""

    def __init__(self, stacks: Path, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.stacks = stacks
        self.model = FlameModel(read_folded(stacks))
        self.setWindowTitle(f"Stacks — {title}")
        self.resize(1100, 640)
        layout = QVBoxLayout(self)
        self.graph = FlameGraph(self.model)
        header = QHBoxLayout()
        self.heading = QLabel(f"<b>{title}</b>: {self.model.total:,} samples. Click a box to zoom into it; "
                              "click <i>all</i> or a grey caller to zoom out.")
        self.reset_button = QPushButton("Reset Zoom")
        self.reset_button.clicked.connect(lambda: self.graph.zoom(()))
        self.save_button = QPushButton("Save Stacks…")
        self.save_button.setToolTip("Export the folded stacks (speedscope, flamegraph.pl and inferno read them)")
        self.save_button.clicked.connect(self._on_save)
        header.addWidget(self.heading, 1)
        header.addWidget(self.reset_button)
        header.addWidget(self.save_button)
        layout.addLayout(header)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.graph)
        self.table = self._hot_table()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(scroll)
        splitter.addWidget(self.table)
        splitter.setSizes([420, 200])
        layout.addWidget(splitter, 1)

    def _hot_table(self) -> QTableWidget:
        rows = self.model.hottest()
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["own", "anywhere", "function (file)"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (name, own, anywhere) in enumerate(rows):
            for column, text in enumerate((f"{100 * own:.1f}%", f"{100 * anywhere:.1f}%", name)):
                item = QTableWidgetItem(text)
                if column < 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(row, column, item)
        table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        return table

    def _on_save(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save stacks", str(Path.home() / self.stacks.name),
                                              "Folded stacks (*.folded *.txt);;All files (*)")
        if name:
            self.save_to(Path(name))

    def save_to(self, path: Path) -> None:
        try:
            shutil.copyfile(self.stacks, path)
        except OSError as exc:
            self.heading.setText(f"Could not save {path.name}: {exc.strerror or exc}")
