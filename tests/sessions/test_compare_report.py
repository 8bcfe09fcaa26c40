"""The comparison report (`compare --html/--markdown`) over two real small torch runs with trace
windows, and over the stored v2 session whose second run has no trace."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sessions.compare import compare_runs, load_runs
from sessions.compare_report import (
    Cell,
    Report,
    Section,
    Table,
    build_report,
    op_diffs_against_baseline,
    run_sources,
    to_html,
    to_markdown,
    write_report,
)
from sessions.store import SessionError
from tests.conftest import copy_session, record_cli_run
from traces.op_diff import OpDiff

ROOT = Path(__file__).resolve().parents[2]
V2 = ROOT / "tests" / "data" / "session-v2.stepscope"


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "main.py", *args], check=False, capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def two_torch(tmp_path_factory: pytest.TempPathFactory, traced_run_session: Callable[[str], Path]) -> Path:
    """Two small torch runs of the convnet, each with a two-step trace window: a copy of the
    session's shared one (tests/conftest.py), and one more recorded after it."""
    path = copy_session(traced_run_session("torch"), tmp_path_factory.mktemp("report") / "torch-twice.stepscope")
    record_cli_run(path, "torch")
    return path


def test_cli_writes_markdown_and_html(two_torch: Path, tmp_path: Path) -> None:
    md, page = tmp_path / "report.md", tmp_path / "sub" / "report.html"
    proc = cli("compare", str(two_torch), "--markdown", str(md), "--html", str(page))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {md}" in proc.stderr and f"wrote {page}" in proc.stderr
    text = md.read_text()
    for heading in ("# Stepscope comparison", "## Runs", "## Step time against the baseline", "## Environment differences",
                    "## Op differences:"):
        assert heading in text
    assert "step time median (ms)" in text and "95 % CI of the ratio" in text
    assert any(v in text for v in ("| faster |", "| slower |", "| no significant difference |"))
    assert "aten::" in text and "per step over 2 step(s)" in text
    doc = page.read_text()
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert "<style>" in doc and "<script" not in doc and "src=" not in doc and "href=" not in doc  # self-contained
    assert doc.count("<table>") == sum(line.startswith("|---") for line in text.splitlines()) and "aten::" in doc


def test_json_stays_clean_with_a_report(two_torch: Path, tmp_path: Path) -> None:
    proc = cli("compare", str(two_torch), "--json", "--markdown", str(tmp_path / "r.md"))
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["runs"]) == 2
    assert (tmp_path / "r.md").exists()


def test_op_diffs_of_traced_runs(two_torch: Path) -> None:
    refs = [str(two_torch)]
    runs = load_runs(refs)
    sources = run_sources(refs)
    assert [f"{p.name}:{r}" for p, r in sources] == [run.label for run in runs]
    diffs = op_diffs_against_baseline(sources, [run.label for run in runs])
    assert len(diffs) == 1 and isinstance(diffs[0], OpDiff)
    diff = diffs[0]
    assert diff.baseline_steps == diff.other_steps == 2
    assert not diff.added and not diff.removed  # the same model: the same ops
    assert sum(diff.counts().values()) == len(diff.rows) > 20
    report = build_report(compare_runs(runs), diffs)
    assert [s.title.split(":")[0] for s in report.sections] == ["Runs", "Step time against the baseline",
                                                                  "Environment differences", "Op differences"]


def test_a_run_without_a_trace_gets_a_sentence_not_a_table() -> None:
    refs = [f"{V2}:20250101-120000-aaaaaa", f"{V2}:20250101-120100-bbbbbb"]
    runs = load_runs(refs)
    diffs = op_diffs_against_baseline(run_sources(refs), [run.label for run in runs])
    assert diffs == [(f"No op diff for {runs[1].label}: it has no stored trace (it ran without a trace window, "
                     "or stopped before it).")]
    text = to_markdown(build_report(compare_runs(runs), diffs))
    assert "it has no stored trace" in text
    flipped = op_diffs_against_baseline(run_sources(refs[::-1]), [run.label for run in runs[::-1]])
    assert "the baseline" in flipped[0] and "no stored trace" in flipped[0]


def test_text_is_escaped_and_tones_become_classes() -> None:
    report = Report("A <b>title</b>", [Section("S & T", ["x | y <i>"], [Table(["op", "ms"], [[Cell("a|b"), Cell("1", "bad")]])])])
    page = to_html(report)
    assert "<b>title" not in page and "&lt;b&gt;title" in page and "S &amp; T" in page
    assert '<td class="right bad">1</td>' in page
    assert "| a\\|b | 1 |" in to_markdown(report)


def test_write_report_errors_name_the_file(tmp_path: Path) -> None:
    report = Report("t", [])
    with pytest.raises(SessionError, match="report.txt"):
        write_report(tmp_path / "report.txt", report)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SessionError, match="cannot write"):
        write_report(blocker / "r.html", report)
    assert write_report(tmp_path / "r.txt", report, "markdown").read_text().startswith("# t")


def test_cli_report_to_an_unwritable_place_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = cli("compare", str(V2), "--html", str(blocker / "r.html"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot write the report" in proc.stderr
