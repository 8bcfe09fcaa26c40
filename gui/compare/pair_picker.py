"""The two combos of the comparison window that name the runs of the op diff and the side-by-side
timelines (one pair, shared through the model), and the colour swatches of its run lists."""
from __future__ import annotations

from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from gui.compare.compare_model import CompareModel


def swatch(color: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class PairPicker(QWidget):
    """Two combos naming the runs of the op diff and the timelines (shared through the model)."""

    def __init__(self, model: CompareModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.first, self.second = QComboBox(), QComboBox()
        for label, combo in (("Reference run:", self.first), ("compared run:", self.second)):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentIndexChanged.connect(self._on_picked)
            layout.addWidget(QLabel(label))
            layout.addWidget(combo)
        layout.addStretch(1)

    def refresh(self) -> None:
        for combo, key in ((self.first, self.model.pair[0]), (self.second, self.model.pair[1])):
            combo.blockSignals(True)
            combo.clear()
            for entry in self.model.chosen():
                combo.addItem(swatch(entry.color), entry.title, entry.key)
            index = next((i for i in range(combo.count()) if combo.itemData(i) == key), -1)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)

    def _on_picked(self, _index: int) -> None:
        self.model.set_pair(self.first.currentData(), self.second.currentData())
