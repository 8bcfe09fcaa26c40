"""Plots export to PNG/SVG and tables to CSV as shown (sorted, filtered)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QImage, QStandardItem, QStandardItemModel
from pytestqt.qtbot import QtBot

from gui.view_export import ExportError, export_plot, export_table_csv, install_export_menu


def test_plot_exports_png_and_svg(qtbot: QtBot, tmp_path: Path) -> None:
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.plot(np.arange(100.0), np.sin(np.arange(100.0) / 10), pen=pg.mkPen("#d0392b", width=1))
    widget.show()
    qtbot.waitExposed(widget)
    png = export_plot(widget, tmp_path / "p.png")
    image = QImage(str(png))
    assert image.width() > 100 and image.height() > 100
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
    assert len(colours) > 3  # not a blank image
    svg = export_plot(widget.getPlotItem(), tmp_path / "p.svg").read_text()
    assert "<svg" in svg and "#d0392b" in svg  # the curve itself, in its colour
    with pytest.raises(ExportError, match="png or .svg"):
        export_plot(widget, tmp_path / "p.gif")
    actions = install_export_menu(widget, plot=widget, name="curve")
    assert [a.text() for a in actions] == ["Export as PNG…", "Export as SVG…"]
    assert all(a in widget.getPlotItem().getViewBox().menu.actions() for a in actions)


def test_table_exports_as_shown(tmp_path: Path) -> None:
    model = QStandardItemModel(0, 2)
    model.setHorizontalHeaderLabels(["op", "ms"])
    for name, ms in (("aten::conv2d", 3.5), ("aten::relu", 0.25), ("aten::addmm", 1.0)):
        model.appendRow([QStandardItem(name), QStandardItem(f"{ms}")])
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setFilterKeyColumn(0)
    proxy.setFilterFixedString("a")
    proxy.sort(1, Qt.SortOrder.DescendingOrder)
    proxy.setFilterRegularExpression("conv|addmm")
    with export_table_csv(proxy, tmp_path / "t.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["op", "ms"], ["aten::conv2d", "3.5"], ["aten::addmm", "1.0"]]
    with pytest.raises(ExportError, match="could not write"):
        export_table_csv(proxy, tmp_path / "missing-dir" / "t.csv")
