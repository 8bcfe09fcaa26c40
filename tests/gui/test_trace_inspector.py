"""The trace inspector on the stored real traces (PyTorch Chrome trace, JAX and TensorFlow
XPlanes): rows and boxes drawn, top ops highlighting in the timeline, W/S/A/D, clicking an
event, search, the step and memory tabs saying what a trace lacks, the device-busy line,
opening from a session, and a screenshot that must not be blank."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from gui.inspector.trace_inspector import TraceInspectorWindow
from gui.timeline.timeline_item import BOX_FILL, KIND_COLORS, LANE_HEIGHT
from sessions.traces import import_trace
from traces.analysis import describe_source
from traces.chrome_reader import read_chrome_data
from traces.readers import read_trace
from traces.table import EventTable, Kind

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
STORED = {"torch": "torch_convnet.trace.json.gz", "jax": "jax_mlp.xplane.pb.gz", "tf": "tf_mlp.xplane.pb.gz"}


@pytest.fixture(scope="module")
def tables() -> dict[str, EventTable]:
    return {fw: read_trace(DATA / name) for fw, name in STORED.items()}


@pytest.fixture
def open_window(qtbot: QtBot) -> Callable[..., TraceInspectorWindow]:
    def make(table: EventTable, title: str = "test") -> TraceInspectorWindow:
        window = TraceInspectorWindow(table, title, describe_source(table))
        qtbot.addWidget(window)
        window.resize(1300, 860)
        window.show()
        qtbot.waitExposed(window)
        qtbot.waitUntil(lambda: window.timeline.visible_box_count() > 0, timeout=5_000)
        if not window.analyses_ready:  # top ops, steps and memory come from a background thread
            with qtbot.waitSignal(window.analysesReady, timeout=20_000):
                pass
        return window
    return make


@pytest.mark.parametrize("framework", list(STORED))
def test_each_framework_opens_with_its_rows_and_events(open_window, tables, framework: str) -> None:
    table = tables[framework]
    window = open_window(table, framework)
    timeline = window.timeline
    assert timeline.visible_box_count() > 0
    assert len(timeline.lod.lanes) == len(table.rows)
    ticks = timeline.plot_item.getAxis("left")._tickLevels[0]
    assert len(ticks) == len(table.rows)  # one labelled row per thread / stream
    lo, hi = timeline.view_range()
    assert lo <= 0 and hi >= timeline.lod.span  # opens on the whole trace
    assert window.description.text() == describe_source(table)
    assert len(timeline.step_starts_ns()) == 2 and np.all(np.diff(timeline.step_starts_ns()) > 0)
    assert window.top_ops.model.rowCount() > 0


def test_selecting_a_top_op_highlights_its_occurrences(open_window, tables, qtbot) -> None:
    window = open_window(tables["torch"])
    panel, timeline = window.top_ops, window.timeline
    assert timeline.highlighted_count() == 0
    for row in (0, 3):
        panel.select_row(row)
        op = panel.proxy.op(row)
        assert timeline.highlighted_count() == op.count > 0
        assert op.count == int((tables["torch"].name == tables["torch"].string_id(op.name)).sum())
    timeline.view.repaint()  # the highlighted boxes are drawn on top
    timeline.highlight(None)
    assert timeline.highlighted_count() == 0
    # the filters: name text and category
    panel.filter_edit.setText("conv")
    assert 0 < panel.proxy.rowCount() < panel.model.rowCount()
    assert all("conv" in panel.proxy.op(r).name.lower() for r in range(panel.proxy.rowCount()))
    panel.filter_edit.clear()
    panel.category.setCurrentIndex(panel.category.findData("framework_op"))
    assert panel.proxy.rowCount() == sum(1 for r in panel.model.rows if r.kind == "framework_op")
    # sorted by self time, largest first, on the numbers rather than their text
    selfs = [panel.proxy.op(r).self_ns for r in range(panel.proxy.rowCount())]
    assert selfs == sorted(selfs, reverse=True)
    assert [a.text() for a in panel.view.actions()] == ["Export as CSV…"]


def test_keys_zoom_and_pan_the_timeline(open_window, tables, qtbot) -> None:
    window = open_window(tables["jax"])
    timeline = window.timeline
    lo, hi = timeline.view_range()
    with qtbot.waitSignal(timeline.rangeChanged):
        qtbot.keyClick(timeline, Qt.Key.Key_W)
    lo1, hi1 = timeline.view_range()
    assert hi1 - lo1 == pytest.approx(0.8 * (hi - lo), rel=1e-6)
    for _ in range(4):
        qtbot.keyClick(timeline.view, Qt.Key.Key_W)  # keys reach the timeline from its plot too
    lo2, hi2 = timeline.view_range()
    assert hi2 - lo2 < hi1 - lo1
    qtbot.keyClick(timeline, Qt.Key.Key_D)
    lo3, hi3 = timeline.view_range()
    assert lo3 > lo2 and hi3 - lo3 == pytest.approx(hi2 - lo2, rel=1e-6)
    qtbot.keyClick(timeline, Qt.Key.Key_A)
    assert timeline.view_range()[0] == pytest.approx(lo2, rel=1e-6, abs=1.0)
    qtbot.keyClick(timeline, Qt.Key.Key_S)
    lo4, hi4 = timeline.view_range()
    assert hi4 - lo4 > hi2 - lo2
    # the overview's region follows the view
    assert timeline.region.getRegion() == pytest.approx(timeline.view_range(), rel=1e-6)
    timeline.set_view_range(1000.0, 50_000.0)
    assert timeline.view_range() == pytest.approx((1000.0, 50_000.0))
    timeline.view.repaint()
    assert timeline.visible_box_count() > 0


def test_clicking_an_event_shows_its_details(open_window, tables, qtbot) -> None:
    table = tables["torch"]
    window = open_window(table)
    timeline = window.timeline
    conv = int(np.flatnonzero(table.name == table.string_id("aten::conv2d"))[0])
    start, end = timeline.lod.relative(conv)
    timeline.set_view_range(start - (end - start), end + (end - start))  # the event in the middle third
    track = int(timeline.lod.event_track[conv])
    y = timeline.item.track_y[track] + LANE_HEIGHT * BOX_FILL / 2
    scene_pos = timeline.box.mapViewToScene(QPointF((start + end) / 2, y))
    pos = timeline.view.mapFromScene(scene_pos)
    timeline._on_hover((scene_pos,))  # what the rate-limited mouse-move proxy delivers
    assert timeline.hovered == conv and timeline.view.toolTip().startswith("aten::conv2d\n")
    timeline._on_hover((timeline.box.mapViewToScene(QPointF((start + end) / 2, -5.0)),))  # above the rows
    assert timeline.hovered is None and timeline.view.toolTip() == ""
    with qtbot.waitSignal(timeline.eventClicked) as clicked:
        qtbot.mouseClick(timeline.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert clicked.args == [conv]
    assert window.tabs.currentWidget() is window.details
    text = window.details.text.toPlainText()
    assert "aten::conv2d" in text and "framework op" in text and "Input Dims: [[4, 1, 28, 28]" in text
    assert timeline.item.selected == conv
    assert "aten::conv2d" in timeline.status.text()


def test_search_counts_highlights_and_jumps_to_matches(open_window, tables, qtbot) -> None:
    table = tables["tf"]
    window = open_window(table)
    names = np.array([table.string(int(i)).lower() for i in table.name])
    expected = np.flatnonzero(np.char.find(names.astype(str), "matmul") >= 0)
    assert len(expected) > 2
    qtbot.keyClicks(window.search_edit, "MatMul")
    assert window.match_label.text() == f"{len(expected)} events"
    assert window.timeline.highlighted_count() == len(expected)
    timeline = window.timeline
    timeline.set_view_range(0.0, timeline.lod.span / 50)
    for k in range(2):
        qtbot.keyClick(window.search_edit, Qt.Key.Key_Return)
        index = int(expected[k])
        assert timeline.item.selected == index
        start, end = timeline.lod.relative(index)
        lo, hi = timeline.view_range()
        assert lo <= start and end <= hi
        assert (lo + hi) / 2 == pytest.approx((start + end) / 2, rel=1e-6, abs=1.0)  # centred on it
        assert window.match_label.text() == f"{k + 1} of {len(expected)} events"
        assert table.string(int(table.name[index])) in window.details.text.toPlainText()
    window.search_edit.setText("no event is called this")
    assert window.match_label.text() == "no match" and timeline.highlighted_count() == 0


def test_step_and_memory_tabs_say_what_a_trace_lacks(open_window, tables) -> None:
    torch = open_window(tables["torch"])
    assert torch.memory.plot is not None and len(torch.memory.plot.getPlotItem().listDataItems()) == 2
    assert len(torch.steps.bars) >= 3 and "no step markers" not in torch.steps.message.text()
    labels = [a.text() for a in torch.steps.plot.getPlotItem().getViewBox().menu.actions()]
    assert "Export as PNG…" in labels and "Export as SVG…" in labels
    jax = open_window(tables["jax"])
    assert jax.memory.plot is None and "no memory data" in jax.memory.message.text()
    # the same trace without its step markers
    t = tables["jax"]
    keep = t.kind != Kind.STEP
    cols = {c: getattr(t, c)[keep] for c in ("name", "cat", "kind", "flags", "row", "start_ns", "dur_ns", "args")}
    no_steps = replace(t, step=np.full(int(keep.sum()), -1, np.int32), cache={}, **cols)
    window = open_window(no_steps)
    assert "no step markers" in window.steps.message.text()
    assert len(window.timeline.step_starts_ns()) == 0


def _gpu_torch_trace() -> EventTable:
    """One step of 100 µs on the host; on GPU 0, kernels on streams 7 and 8 and a copy on 7 that
    together keep the device busy 50 µs (20-50, 40-60 overlap, 70-80)."""
    def x(name: str, ts: float, dur: float, cat: str = "cpu_op", pid: int = 1, tid: int = 1) -> dict[str, Any]:
        return {"ph": "X", "name": name, "cat": cat, "ts": ts, "dur": dur, "pid": pid, "tid": tid}

    events = [
        {"ph": "M", "name": "process_name", "pid": 0, "tid": 0, "args": {"name": "python"}},
        {"ph": "M", "name": "process_labels", "pid": 0, "tid": 0, "args": {"labels": "GPU 0"}},
        x("ProfilerStep#1", 0, 100, cat="user_annotation"), x("aten::mm", 8, 30),
        x("cudaLaunchKernel", 10, 5, cat="cuda_runtime"), x("cudaLaunchKernel", 30, 5, cat="cuda_runtime"),
        x("gemm", 20, 30, cat="kernel", pid=0, tid=7), x("relu", 40, 20, cat="kernel", pid=0, tid=8),
        x("Memcpy HtoD (Pageable -> Device)", 70, 10, cat="gpu_memcpy", pid=0, tid=7),
    ]
    return read_chrome_data(json.dumps({"traceEvents": events}).encode())


def test_the_busy_line_gives_each_devices_share_or_why_there_is_none(open_window, tables) -> None:
    gpu = open_window(_gpu_torch_trace(), "gpu")
    assert gpu.busy.text() == ("Device busy (a kernel or copy running), first step start to last step end: "
                               "python (GPU 0) 50.0 % (2 kernels).")
    cpu = open_window(tables["torch"], "cpu")  # a CPU trace has no device rows: the reason, not 0 %
    assert cpu.busy.text().startswith("Device busy: no device kernel events") and "%" not in cpu.busy.text()


def test_opens_from_a_session(qtbot, tmp_path: Path) -> None:
    session = tmp_path / "imported.stepscope"
    run_id, table, _ = import_trace(session, DATA / STORED["tf"])
    window = TraceInspectorWindow.from_session(session, run_id)
    qtbot.addWidget(window)
    assert run_id in window.windowTitle() and len(window.table) == len(table)
    qtbot.waitUntil(lambda: window.analyses_ready, timeout=20_000)
    assert window.tabs.tabText(0) == f"Top ops ({len(window.analyses.top_ops)})"


def test_screenshot_is_not_blank(open_window, tables, tmp_path: Path) -> None:
    window = open_window(tables["torch"])
    path = tmp_path / "trace-inspector.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 20_000
    image = window.timeline.view.grab().toImage()
    want = QColor(KIND_COLORS[Kind.FRAMEWORK_OP])
    hits = sum(1 for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)
               if _close(image.pixelColor(x, y), want))
    assert hits > 200, f"too few framework-op-coloured pixels in the timeline ({hits})"


def _close(a: QColor, b: QColor, tol: int = 30) -> bool:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) < tol
