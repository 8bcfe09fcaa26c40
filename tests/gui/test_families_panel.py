"""The inspector's Families tab: the stacked bar and table of a real trace's family shares, what an
empty trace says, and the tab in the inspector, opened from a session whose run kept its XPlane
(so XLA:CPU's opaque fusions are classified by their HLO)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from gui.inspector.families_panel import FAMILY_COLORS, FamiliesPanel
from gui.inspector.trace_inspector import TraceInspectorWindow
from sessions.store import Session
from traces.analysis import describe_source
from traces.chrome_reader import read_chrome_data
from traces.family_breakdown import family_breakdown
from traces.readers import read_trace
from traces.table import table_to_blobs

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"


def test_the_bar_and_table_show_each_familys_share(qtbot: QtBot) -> None:
    breakdown = family_breakdown(read_trace(DATA / "torch_convnet.trace.json.gz"))
    panel = FamiliesPanel(breakdown)
    qtbot.addWidget(panel)
    panel.resize(1100, 420)
    panel.show()
    qtbot.waitExposed(panel)
    present = sorted((r for r in breakdown.rows if r.count), key=lambda r: -r.self_ns)
    assert [panel.model.item(i, 0).text() for i in range(panel.model.rowCount())] == [r.family for r in present]
    assert panel.model.item(0, 3).text() == f"{100 * present[0].share:.1f} %"
    assert sum(float(s.opts["width"][0]) for s in panel.segments) == pytest.approx(100.0)
    assert [s.opts["name"].rsplit(" ", 2)[0] for s in panel.segments] == [r.family for r in present]
    image = panel.grab().toImage()
    biggest = QColor(FAMILY_COLORS[present[0].family]).rgb()
    hits = sum(image.pixel(x, y) == biggest for x in range(0, image.width(), 4) for y in range(0, image.height(), 4))
    assert hits > 50  # the largest family's segment is drawn
    assert "optimizer update" in panel.model.item(0, 0).text()  # this CPU trace's eager Adam is its biggest family


def test_a_trace_without_ops_says_so(qtbot: QtBot) -> None:
    table = read_chrome_data(b'{"traceEvents": [{"ph": "X", "name": "ProfilerStep#1", "cat": "user_annotation", '
                             b'"ts": 0, "dur": 10, "pid": 1, "tid": 1}]}')
    panel = FamiliesPanel(family_breakdown(table))
    qtbot.addWidget(panel)
    assert panel.plot is None and panel.model.rowCount() == 0
    assert "no op events" in panel.message.text()


def test_the_inspector_opens_the_tab_from_a_session_with_its_xplane(qtbot: QtBot, tmp_path: Path) -> None:
    """A run whose artifact is the stored JAX XPlane: the tab classifies its ynn_fusions (no "other")."""
    xplane = DATA / "jax_mlp.xplane.pb.gz"
    table = read_trace(xplane)
    path = tmp_path / "s.stepscope"
    with Session.create_or_open(path) as session:
        session.begin_run("r1", {"framework": "jax", "workload": "mlp", "mode": "train"})
        session.append_events("r1", [{"type": "artifact", "t": 1.0, "kind": "xplane", "path": str(xplane),
                                      "bytes": xplane.stat().st_size}])
        session.finish_run("r1", "ok", None, {}, "")
        session.store_trace("r1", table_to_blobs(table), len(table), describe_source(table), str(xplane))
    window = TraceInspectorWindow.from_session(path, "r1")
    qtbot.addWidget(window)
    window.show()
    deadline = time.monotonic() + 20
    while not window.analyses_ready and time.monotonic() < deadline:
        qtbot.wait(20)
    assert window.families is not None and window.tabs.tabText(3) == "Families"
    families = [r.family for r in window.families.rows]
    assert "other" not in families and families[0] == "matmul"
    assert "HLO" in window.families.message.text()
    bare = TraceInspectorWindow(table, "no modules", describe_source(table))  # the same trace without them
    qtbot.addWidget(bare)
    qtbot.waitUntil(lambda: bare.analyses_ready, timeout=20_000)
    assert bare.families is not None and "other" in [r.family for r in bare.families.rows]
