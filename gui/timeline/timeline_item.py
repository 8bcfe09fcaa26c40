"""The timeline's one graphics item: step bands, row separators, event boxes, highlighted
events, the selected event and names inside wide boxes, drawn from a level-of-detail query.

One item instead of an item per event: the scene stays tiny whatever the trace size, and a
repaint costs one query (a few ms, see gui/timeline/timeline_lod.py) plus a `drawRects` per colour with
the rectangles passed to Qt as one numpy buffer (no QRectF object per box). The query runs in
`paint`, so it is rate-limited by Qt itself: any number of range changes between two frames
cost one query. Painting goes through the painter's own transform, so PNG/SVG exports of the
plot redraw at their own resolution.
"""
from __future__ import annotations

from typing import cast

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPalette, QPen

from gui.timeline.timeline_lod import Boxes, BoxPyramid, TimelineLod, label_groups
from traces.table import Kind

KIND_COLORS = {
    Kind.OTHER: "#a0a0a0", Kind.STEP: "#8c96a3", Kind.FRAMEWORK_OP: "#4e79a7", Kind.HLO_OP: "#76b7b2",
    Kind.KERNEL: "#59a14f", Kind.MEMCPY: "#f28e2b", Kind.RUNTIME: "#b07aa1", Kind.ANNOTATION: "#edc948",
    Kind.PYTHON: "#bab0ac", Kind.INPUT: "#9c755f", Kind.COMPILE: "#e15759", Kind.DERIVED: "#ff9da7",
    Kind.PROFILER: "#cfcfcf",
}
LANE_HEIGHT = 1.0  # y units per lane; rows are ROW_GAP apart
ROW_GAP = 0.6
BOX_FILL = 0.86  # share of a lane a box covers
MAX_LABELS = 400  # names drawn inside boxes per frame
LABEL_GAP_PX = 4  # drawn boxes closer than this (and narrower) are named as one group
MIN_LABEL_PX = 36  # narrower boxes and groups get no name
MIN_LABEL_CHARS = 5  # an elided name showing fewer letters is left out
DIM = 0.28  # other boxes while a highlight is shown: this much of their colour over the background


def mix(a: QColor, b: QColor, share: float) -> QColor:
    """`share` of colour a over b, opaque. Translucent fills cost ~10x more per pixel in Qt's
    raster engine (12 ms a frame for step bands), so blends are computed here instead."""
    return QColor.fromRgbF(*(share * x + (1 - share) * y
                             for x, y in zip((a.redF(), a.greenF(), a.blueF()), (b.redF(), b.greenF(), b.blueF()), strict=True)))


def label_text(metrics: QFontMetrics, name: str, count: int, width: int) -> str:
    """What a box `width` px wide says: its event's name, or for a box of `count` > 1 merged
    events the dominant one's name and "+N" others (the count dropped first when space is
    short); "" when fewer than MIN_LABEL_CHARS letters of the name fit (a stub like "at…" says
    nothing)."""

    def fitted(room: int) -> str:
        text = metrics.elidedText(name, Qt.TextElideMode.ElideRight, room) if room > 0 else ""
        return text if text == name or len(text.rstrip("…")) >= MIN_LABEL_CHARS else ""

    if count > 1:
        suffix = f" +{count - 1:,}"
        short = fitted(width - metrics.horizontalAdvance(suffix))
        if short:
            return short + suffix
    return fitted(width)


def draw_rects(painter: QPainter, rects: np.ndarray) -> None:
    """Draw an (n, 4) float64 array of x, y, w, h in one call: Qt reads the numpy buffer
    directly as QRectF[n] (the layout pyqtgraph's BarGraphItem relies on too)."""
    if not len(rects):
        return
    rects = np.ascontiguousarray(rects, dtype=np.float64)
    painter.drawRects(cast(QRectF, shiboken6.wrapInstance(rects.ctypes.data, QRectF)), len(rects))


class TimelineItem(pg.GraphicsObject):
    """Draws `lod` in data coordinates: x in ns relative to the first event, y in lanes."""

    def __init__(self, lod: TimelineLod, step_lo: np.ndarray, step_hi: np.ndarray, step_numbers: np.ndarray) -> None:
        super().__init__()
        self.lod = lod
        self.step_lo, self.step_hi, self.step_numbers = step_lo, step_hi, step_numbers
        lanes = lod.lanes
        self.shown = lanes > 0  # rows without events take no space
        block = np.where(self.shown, lanes * LANE_HEIGHT + ROW_GAP, 0.0)
        self.row_top = np.cumsum(block) - block
        track_row = np.repeat(np.arange(len(lanes)), lanes)
        self.track_y = self.row_top[track_row] + (np.arange(lod.n_tracks) - lod.track_base[track_row]) * LANE_HEIGHT
        self.height = float(block.sum() - ROW_GAP) if self.shown.any() else 1.0
        self.brushes = {k: QBrush(QColor(c)) for k, c in KIND_COLORS.items()}
        self._background: QColor | None = None
        self.dim_brushes: dict[Kind, QBrush] = {}
        self.highlight: BoxPyramid | None = None
        self.selected: int | None = None
        self.box_count = 0
        self.labels: list[str] = []  # the names drawn inside boxes in the last frame
        self._step_labels: list[tuple[float, int]] = []  # (left edge in px, step number), set by _paint_steps
        # (range and width, boxes, highlighted boxes, their label groups)
        self._cache: tuple[tuple[float, float, float], Boxes, Boxes | None, Boxes, Boxes | None] | None = None
        self.font = QFont()
        self.font.setPointSizeF(8.0)
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption, False)

    # -- state the view changes --------------------------------------------------------
    def set_highlight(self, pyramid: BoxPyramid | None) -> None:
        self.highlight = pyramid
        self._cache = None
        self.update()

    def set_selected(self, index: int | None) -> None:
        self.selected = index
        self.update()

    def track_at(self, y: float) -> int | None:
        """The track under data coordinate y, or None between rows."""
        k = int(np.searchsorted(self.track_y, y, side="right")) - 1
        if k < 0 or y > self.track_y[k] + LANE_HEIGHT:
            return None
        return k

    # -- QGraphicsItem -------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return QRectF(0.0, 0.0, float(max(self.lod.span, 1)), self.height)

    def _query(self, lo: float, hi: float, width_px: float) -> tuple[Boxes, Boxes | None, Boxes, Boxes | None]:
        """The boxes to draw (all, and the highlighted ones) and their label groups, cached per view."""
        key = (lo, hi, round(width_px, 1))
        if self._cache is None or self._cache[0] != key:
            px = (hi - lo) / width_px
            gap, wide_at, dur = LABEL_GAP_PX * px, MIN_LABEL_PX * px, self.lod.table.dur_ns
            boxes = self.lod.query(lo, hi, width_px)
            marked = self.highlight.query(lo, hi, width_px) if self.highlight is not None else None
            self._cache = (key, boxes, marked, label_groups(boxes, dur, gap, wide_at),
                           label_groups(marked, dur, gap, wide_at) if marked is not None else None)
        return self._cache[1:]

    def paint(self, p: QPainter, *args: object) -> None:
        view = self.getViewBox()
        if view is None:
            return
        (lo, hi), _ = view.viewRange()
        t = p.transform()
        sx, dx, sy, dy = t.m11(), t.dx(), t.m22(), t.dy()
        if sx <= 0 or hi <= lo:
            return
        q_lo, q_hi = max(lo, 0.0), min(hi, float(self.lod.span))
        left, right = lo * sx + dx, hi * sx + dx  # the visible x extent in device pixels
        p.save()
        p.resetTransform()
        p.setPen(Qt.PenStyle.NoPen)
        self._follow_theme(view)
        self._paint_steps(p, lo, hi, sx, dx, sy, dy)
        self._paint_row_lines(p, left, right, sy, dy)
        boxes, marked, groups, marked_groups = (self._query(q_lo, q_hi, (q_hi - q_lo) * sx) if q_hi > q_lo
                                                else (None, None, None, None))
        self.box_count = len(boxes) if boxes is not None else 0
        self.labels = []
        if boxes is not None and len(boxes):
            brushes = self.dim_brushes if marked is not None else self.brushes
            self._paint_boxes(p, boxes, brushes, sx, dx, sy, dy, left, right)
            if marked is None and groups is not None:
                self._paint_labels(p, groups, self._rects(groups, sx, dx, sy, dy, left, right))
        if marked is not None and len(marked):
            p.setPen(QPen(QColor("#202020"), 0))
            self._paint_boxes(p, marked, self.brushes, sx, dx, sy, dy, left, right)
            if marked_groups is not None:
                self._paint_labels(p, marked_groups, self._rects(marked_groups, sx, dx, sy, dy, left, right))
        self._paint_selected(p, sx, dx, sy, dy, left, right)
        self._paint_step_labels(p, left, min(self.height * sy + dy, view.sceneBoundingRect().bottom()))
        p.restore()

    # -- parts ---------------------------------------------------------------------------
    def _follow_theme(self, view: pg.ViewBox) -> None:
        """Opaque stand-ins for translucent colours, mixed with the current background."""
        views = self.scene().views() if self.scene() is not None else []
        background = views[0].palette().color(QPalette.ColorRole.Window) if views else QColor("#ffffff")
        if background == self._background:
            return
        self._background = background
        self.dim_brushes = {k: QBrush(mix(QColor(c), background, DIM)) for k, c in KIND_COLORS.items()}
        grey = QColor(128, 128, 128)
        self.band_brush = QBrush(mix(grey, background, 0.12))
        self.line_brush = QBrush(mix(grey, background, 0.5))

    def _rects(self, boxes: Boxes, sx: float, dx: float, sy: float, dy: float, left: float, right: float) -> np.ndarray:
        """Device-pixel rectangles (x, y, w, h) of `boxes`, clipped to the visible range."""
        x0 = np.clip(boxes.start * sx + dx, left - 2, right + 2)
        x1 = np.clip(boxes.end * sx + dx, left - 2, right + 2)
        rects = np.empty((len(boxes), 4), np.float64)
        rects[:, 0] = x0
        rects[:, 1] = self.track_y[boxes.track] * sy + dy
        rects[:, 2] = np.maximum(x1 - x0, 1.0)  # a sub-pixel box still shows as one pixel
        rects[:, 3] = LANE_HEIGHT * BOX_FILL * sy
        return rects

    def _paint_boxes(self, p: QPainter, boxes: Boxes, brushes: dict[Kind, QBrush], sx: float, dx: float, sy: float,
                     dy: float, left: float, right: float) -> None:
        rects = self._rects(boxes, sx, dx, sy, dy, left, right)
        order = np.argsort(boxes.kind, kind="stable")
        kinds = boxes.kind[order]
        cuts = np.flatnonzero(np.diff(kinds)) + 1
        for a, b in zip(np.concatenate(([0], cuts)).tolist(), np.concatenate((cuts, [len(kinds)])).tolist(), strict=True):
            p.setBrush(brushes.get(Kind(int(kinds[a])), brushes[Kind.OTHER]))
            draw_rects(p, rects[order[a:b]])

    def _paint_labels(self, p: QPainter, boxes: Boxes, rects: np.ndarray) -> None:
        """Names inside the widest boxes drawn this frame (at most MAX_LABELS): an event's own
        name, or for a merged box its dominant (longest) event's name and how many others it
        holds, so a zoomed-out trace reads as ops rather than anonymous colour. `boxes` are the
        label groups of what was drawn: a group of several boxes gets its name on a chip of its
        colour, so the text stays readable where it crosses the gaps between them."""
        if not len(rects) or rects[0, 3] < 9:  # lanes too short for text
            return
        wide = np.flatnonzero(rects[:, 2] >= MIN_LABEL_PX)
        if not len(wide):
            return
        wide = wide[np.argsort(-rects[wide, 2], kind="stable")[:MAX_LABELS]]
        p.setFont(self.font)
        metrics = QFontMetrics(self.font)
        table = self.lod.table
        taken: dict[int, list[tuple[float, float]]] = {}  # the last lane can hold overlapping events
        for k in wide.tolist():
            x, y, w, h = rects[k].tolist()
            spans = taken.setdefault(int(boxes.track[k]), [])
            if any(x < b and a < x + w for a, b in spans):
                continue
            spans.append((x, x + w))
            text = label_text(metrics, table.string(int(table.name[boxes.dominant[k]])), int(boxes.count[k]), int(w) - 6)
            if not text:
                continue
            self.labels.append(text)
            kind = Kind(int(boxes.kind[k]))
            if boxes.count[k] > 1:
                p.setPen(Qt.PenStyle.NoPen)
                p.fillRect(QRectF(x, y, min(metrics.horizontalAdvance(text) + 6, w), h), self.brushes[kind])
            light = QColor(KIND_COLORS.get(kind, "#a0a0a0")).lightnessF() > 0.55
            p.setPen(QColor("#111111") if light else QColor("#ffffff"))
            p.drawText(QRectF(x + 3, y, w - 6, h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
        p.setPen(Qt.PenStyle.NoPen)

    def _paint_steps(self, p: QPainter, lo: float, hi: float, sx: float, dx: float, sy: float, dy: float) -> None:
        """Alternate steps shaded, a line at each step start, the step number when there is room."""
        self._step_labels = []
        a = int(np.searchsorted(self.step_hi, lo, side="left"))
        b = int(np.searchsorted(self.step_lo, hi, side="right"))
        if b <= a or (b - a) * 3 > (hi - lo) * sx:  # steps closer than 3 px: shading is noise
            return
        top, bottom = dy, self.height * sy + dy
        x0 = self.step_lo[a:b] * sx + dx
        x1 = self.step_hi[a:b] * sx + dx
        shaded = np.flatnonzero(np.arange(a, b) % 2 == 0)
        rects = np.column_stack((x0, np.full(b - a, top), np.maximum(x1 - x0, 1.0), np.full(b - a, bottom - top)))
        p.setBrush(self.band_brush)
        draw_rects(p, rects[shaded])
        rects[:, 2] = 1.0  # the boundary lines, as one-pixel rectangles: one call, no dash pattern
        p.setBrush(self.line_brush)
        draw_rects(p, rects)
        self._step_labels = [(xa, int(self.step_numbers[a + k]))
                             for k, (xa, xb) in enumerate(zip(x0.tolist(), x1.tolist(), strict=True)) if xb - xa > 50]

    def _paint_step_labels(self, p: QPainter, left: float, bottom: float) -> None:
        """Step numbers along the bottom edge, over the boxes (the lanes above are busy)."""
        p.setFont(self.font)
        p.setPen(QColor(100, 100, 100))
        for xa, number in self._step_labels:
            p.drawText(QPointF(max(xa, left) + 3, bottom - 3), f"step {number}")
        p.setPen(Qt.PenStyle.NoPen)

    def _paint_row_lines(self, p: QPainter, left: float, right: float, sy: float, dy: float) -> None:
        p.setPen(QPen(QColor(128, 128, 128, 90), 0))
        for top in self.row_top[self.shown][1:].tolist():
            y = (top - ROW_GAP / 2) * sy + dy
            p.drawLine(QPointF(left, y), QPointF(right, y))
        p.setPen(Qt.PenStyle.NoPen)

    def _paint_selected(self, p: QPainter, sx: float, dx: float, sy: float, dy: float, left: float, right: float) -> None:
        if self.selected is None:
            return
        start, end = self.lod.relative(self.selected)
        y = self.track_y[self.lod.event_track[self.selected]]
        x0, x1 = (float(np.clip(v * sx + dx, left - 4, right + 4)) for v in (start, end))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor("#e8175d"), 2))
        p.drawRect(QRectF(x0 - 1, y * sy + dy - 1, max(x1 - x0, 1.0) + 2, LANE_HEIGHT * BOX_FILL * sy + 2))
        p.setPen(Qt.PenStyle.NoPen)
