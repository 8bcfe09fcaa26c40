"""Export from any view: a plot to PNG or SVG (pyqtgraph's own exporters, so what is saved is
what is drawn) and a table to CSV (what the view shows, in its sort order and filter).

One module so every panel offers the same context-menu actions with the same wording.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QAbstractItemModel, QModelIndex, QRectF, QSize, Qt
from PySide6.QtGui import QAction, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QFileDialog, QGraphicsScene, QMessageBox, QWidget

log = logging.getLogger("stepscope.gui")


class ExportError(Exception):
    """An export that could not be written; the message names the file and the reason."""


def _scene_item(plot: Any) -> Any:
    """What pyqtgraph's exporters take: a PlotItem or scene, from a PlotWidget, a
    GraphicsLayoutWidget or a PlotItem."""
    if isinstance(plot, pg.PlotWidget):
        return plot.getPlotItem()
    if isinstance(plot, pg.GraphicsView):
        return plot.scene()
    return plot


def export_plot(plot: Any, path: Path | str) -> Path:
    """Write `plot` to `path`; the suffix (.png or .svg) picks the format."""
    path = Path(path)
    suffix = path.suffix.lower()
    item = _scene_item(plot)
    if suffix == ".png":
        exporter: Any = ImageExporter(item)
    elif suffix == ".svg":
        return _export_svg(item, path)
    else:
        raise ExportError(f"{path}: a plot exports as .png or .svg, not {suffix or 'a file without a suffix'}")
    try:
        exporter.export(str(path))
    except OSError as exc:
        raise ExportError(f"{path}: could not write the plot ({exc.strerror or exc})") from None
    if not path.exists() or path.stat().st_size == 0:
        raise ExportError(f"{path}: the exporter wrote nothing (is the plot empty or hidden?)")
    return path


def _export_svg(item: Any, path: Path) -> Path:
    """SVG through Qt's own QSvgGenerator: pyqtgraph 0.13's SVGExporter fails on the path data
    Qt 6.11 writes (pyqtgraph issue #3485, "x,y = c.split(',')" ValueError)."""
    scene = item if isinstance(item, QGraphicsScene) else item.scene()
    source = scene.sceneRect() if item is scene else item.sceneBoundingRect()
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(QSize(int(source.width()), int(source.height())))
    generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
    generator.setTitle(path.stem)
    painter = QPainter()
    if not painter.begin(generator):
        raise ExportError(f"{path}: could not open the file for writing")
    try:
        scene.render(painter, QRectF(0, 0, source.width(), source.height()), source)
    finally:
        painter.end()
    if not path.exists() or path.stat().st_size == 0:
        raise ExportError(f"{path}: could not write the plot")
    return path


def table_rows(model: QAbstractItemModel) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a (flat) table model as displayed: proxy sort and filter applied."""
    columns = model.columnCount(QModelIndex())
    header = [str(model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole) or "") for c in range(columns)]
    rows = []
    for r in range(model.rowCount(QModelIndex())):
        row = []
        for c in range(columns):
            value = model.data(model.index(r, c), Qt.ItemDataRole.DisplayRole)
            row.append("" if value is None else str(value))
        rows.append(row)
    return header, rows


def export_table_csv(model: QAbstractItemModel, path: Path | str) -> Path:
    """Write the table as shown to a UTF-8 CSV with a header row."""
    path = Path(path)
    header, rows = table_rows(model)
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as exc:
        raise ExportError(f"{path}: could not write the table ({exc.strerror or exc})") from None
    return path


def _ask_and_export(widget: QWidget, name: str, suffix: str, work: Any) -> None:
    title = {"png": "Export as PNG", "svg": "Export as SVG", "csv": "Export as CSV"}[suffix]
    path, _ = QFileDialog.getSaveFileName(widget, title, f"{name}.{suffix}", f"{suffix.upper()} files (*.{suffix})")
    if not path:
        return
    if not path.lower().endswith(f".{suffix}"):
        path += f".{suffix}"
    try:
        work(Path(path))
    except ExportError as exc:
        # The user asked for this file a moment ago: say why it failed right there.
        log.warning("%s", exc)
        QMessageBox.warning(widget, title, str(exc))


def export_actions(widget: QWidget, *, plot: Any = None, table_model: QAbstractItemModel | None = None,
                   name: str = "plot") -> list[QAction]:
    """The export actions for a view (without adding them anywhere)."""
    actions = []
    if plot is not None:
        for suffix in ("png", "svg"):
            action = QAction(f"Export as {suffix.upper()}…", widget)
            action.triggered.connect(lambda _=False, s=suffix: _ask_and_export(widget, name, s, lambda p: export_plot(plot, p)))
            actions.append(action)
    if table_model is not None:
        action = QAction("Export as CSV…", widget)
        action.triggered.connect(lambda _=False: _ask_and_export(widget, name, "csv",
                                                                 lambda p: export_table_csv(table_model, p)))
        actions.append(action)
    return actions


def install_export_menu(widget: QWidget, *, plot: Any = None, table_model: QAbstractItemModel | None = None,
                        name: str = "plot") -> list[QAction]:
    """Add "Export as PNG/SVG/CSV…" to `widget`'s context menu. For a pyqtgraph plot the actions
    are added to the plot's own view-box menu, which is what a right click opens there."""
    actions = export_actions(widget, plot=plot, table_model=table_model, name=name)
    view_box = None
    item = plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot
    if isinstance(item, pg.PlotItem):
        view_box = item.getViewBox()
    if view_box is not None and view_box.menu is not None:
        view_box.menu.addSeparator()
        for action in actions:
            view_box.menu.addAction(action)
    else:
        widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        widget.addActions(actions)
    return actions
