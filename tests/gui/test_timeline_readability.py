"""What makes a trace readable at first sight (issue 15, item 9): merged boxes named after their
dominant op, thread names instead of numeric ids, a colour legend, no empty rows; and the
inspector closing on Ctrl+W and opening no larger than the screen."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from pytestqt.qtbot import QtBot

from bench.gui_inspector import STEP_NS, synthetic_table
from gui.inspector.trace_inspector import TraceInspectorWindow
from gui.timeline.row_titles import row_titles
from gui.timeline.timeline_item import label_text
from gui.timeline.timeline_lod import TimelineLod, label_groups
from gui.timeline.timeline_view import TimelineWidget
from traces.analysis import describe_source
from traces.readers import read_trace
from traces.table import KIND_NAMES, EventTable, Kind, Row

TORCH = Path(__file__).resolve().parents[1] / "data" / "traces" / "torch_convnet.trace.json.gz"


@pytest.fixture(scope="module")
def torch_table() -> EventTable:
    return read_trace(TORCH)


def shown(qtbot: QtBot, table: EventTable) -> TimelineWidget:
    widget = TimelineWidget(table)
    qtbot.addWidget(widget)
    widget.resize(1300, 500)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.visible_box_count() > 0, timeout=5_000)
    widget.grab()  # one more paint at the final size
    return widget


def test_merged_boxes_are_named_after_their_dominant_event(qtbot: QtBot) -> None:
    table = synthetic_table(100_000)
    widget = shown(qtbot, table)
    widget.set_view_range(0, STEP_NS)  # one step of a GPU-shaped trace: thousands of sub-pixel kernels
    widget.grab()
    merged = [t for t in widget.item.labels if " +" in t]
    assert merged, widget.item.labels  # zoomed out, boxes of many events carry a name and a count
    names = set(table.strings)
    assert all(t.rsplit(" +", 1)[0].rstrip("…") and any(n.startswith(t.rsplit(" +", 1)[0].rstrip("…")) for n in names)
               for t in merged)


def test_a_pytorch_timeline_is_labelled_at_first_sight(qtbot: QtBot, torch_table: EventTable) -> None:
    widget = shown(qtbot, torch_table)
    ops = [t for t in widget.item.labels if t.startswith("aten::")]
    assert len(ops) >= 4, widget.item.labels
    assert not [t for t in widget.item.labels if len(t.rstrip("…").split(" +")[0]) < 5 and t.endswith("…")]


def test_label_groups_join_thin_neighbours_and_keep_the_longest_name(torch_table: EventTable) -> None:
    lod = TimelineLod(torch_table)
    width = 1200
    px = lod.span / width
    boxes = lod.query(0, lod.span, width)
    groups = label_groups(boxes, torch_table.dur_ns, 4 * px, 36 * px)
    assert groups.events == boxes.events and len(groups) < len(boxes)
    several = np.flatnonzero(groups.count > 1)
    assert len(several)
    for k in several[:50].tolist():  # the dominant is the longest event inside the group, on its track
        inside = ((torch_table.start_ns - lod.t0 >= groups.start[k]) & (torch_table.end_ns - lod.t0 <= groups.end[k])
                  & (lod.event_track == groups.track[k]))
        assert torch_table.dur_ns[groups.dominant[k]] == torch_table.dur_ns[inside].max()


def test_label_text_drops_the_count_first_and_never_shows_a_stub(qtbot: QtBot) -> None:
    metrics = QFontMetrics(QFont())
    name = "aten::convolution_backward"
    assert label_text(metrics, name, 1, 1000) == name
    assert label_text(metrics, name, 12, 1000) == f"{name} +11"
    narrow = metrics.horizontalAdvance("aten::conv") + 2
    assert label_text(metrics, name, 12, narrow).endswith("…") and "+" not in label_text(metrics, name, 12, narrow)
    assert label_text(metrics, name, 1, metrics.horizontalAdvance("at…")) == ""


def test_rows_are_named_by_thread_not_by_numeric_id() -> None:
    rows = [Row("16305", "16305", "python (CPU)", "thread 16305 (python)"),
            Row("701", "33", "/host:CPU", "tf_XLAEigen/-6061952834348020773"),
            Row("701", "34", "/host:CPU", "tf_XLAEigen/-8361186096714320281"),
            Row("701", "35", "/host:CPU", "python"),
            Row("9", "77", "", ""),
            Row("Spans", "PyTorch Profiler")]
    assert row_titles(rows) == ["python (CPU) / python", "/host:CPU / tf_XLAEigen #1", "/host:CPU / tf_XLAEigen #2",
                                "/host:CPU / python", "9 / thread 77", "Spans / PyTorch Profiler"]


def test_no_empty_rows_and_a_legend_of_the_kinds_present(qtbot: QtBot, torch_table: EventTable) -> None:
    widget = shown(qtbot, torch_table)
    padded = replace(torch_table, rows=[*torch_table.rows, Row("1", "2", "python (CPU)", "thread 2 (idle)")])
    empty = shown(qtbot, padded)
    ticks = [t for _, t in empty.plot_item.getAxis("left")._tickLevels[0]]
    assert len(ticks) == len(torch_table.rows) and not any("idle" in t for t in ticks)
    assert empty.item.height == widget.item.height and empty.lod.lanes[-1] == 0
    assert "python (CPU) / python" in ticks and not any("16305" in t for t in ticks)
    present = sorted({Kind(int(k)) for k in np.unique(torch_table.kind)})
    assert widget.legend_kinds == present
    assert all(KIND_NAMES[k].replace("_", " ") in widget.legend.text() for k in present)
    assert "kernel" not in widget.legend.text()  # a CPU trace: no colour for what it does not hold


def test_ctrl_w_closes_the_inspector_and_it_fits_the_screen(qtbot: QtBot, torch_table: EventTable) -> None:
    window = TraceInspectorWindow(torch_table, "torch", describe_source(torch_table))
    qtbot.addWidget(window)
    area = window.screen().availableGeometry()
    assert window.width() <= area.width() and window.height() <= area.height()
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)
    window.search_edit.setFocus()
    qtbot.wait(50)
    qtbot.keyClick(window.search_edit, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2_000)
