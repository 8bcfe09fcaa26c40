"""The scorecard says how busy the rest of the machine was while its points measured: one line under
the device (terminal, Markdown, HTML, the Scorecard window) and each point's figure in --json."""
from __future__ import annotations

from pathlib import Path

from gui.scorecard.scorecard_model import header_text
from sessions.compare_report import to_html, to_markdown
from sessions.scorecard import build_scorecard
from sessions.scorecard_report import build_report
from tests.sessions.scorecard_builder import FakeRun, write_sweep

LINE = ("Machine: other processes used a median 8 % (max 60 %) of the CPUs during the measured points; "
        "1 of 3 points above 10 %")


def _run(others: float | None) -> FakeRun:
    summary = {} if others is None else {"others_cpu_percent": others}
    return FakeRun("torch", "train", [10.0] * 5, spec={"batch_size": 8}, summary=summary, cpu_percent=[100.0])


def test_the_machine_line_and_each_points_figure(tmp_path: Path) -> None:
    write_sweep(tmp_path / "s.stepscope", [_run(2.0), _run(8.0), _run(60.0), _run(None)])
    card = build_scorecard(tmp_path / "s.stepscope")
    assert card.machine == LINE
    figures = {p["run_id"]: p["others_cpu_percent"] for p in card.to_dict()["machine_points"]}
    assert figures == {"run-00-torch": 2.0, "run-01-torch": 8.0, "run-02-torch": 60.0, "run-03-torch": None}
    report = build_report(card)
    head = report.sections[0].paragraphs
    assert head[0].startswith("Session ") and head[1] == LINE  # right under the device line
    assert LINE in to_markdown(report) and LINE in to_html(report)
    assert header_text(card).splitlines()[1] == LINE


def test_a_sweep_whose_points_have_no_figure_says_it_was_not_recorded(tmp_path: Path) -> None:
    write_sweep(tmp_path / "s.stepscope", [_run(None)])
    card = build_scorecard(tmp_path / "s.stepscope")
    assert card.machine.startswith("Machine: how busy other processes kept the CPUs was not recorded (")
    assert build_report(card).sections[0].paragraphs[1] == card.machine
