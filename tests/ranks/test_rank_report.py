"""`report FILE --ranks RUN_ID` (cli/rank_report.py): a multi-rank run's per-rank figures and its
straggler table, as text and as JSON; an unknown run is a one-line usage error."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from main import main
from tests.data.make_session_v5 import RUN_ID

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "session-v5.stepscope"


def test_report_ranks_gives_each_ranks_figures_and_the_stragglers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(FIXTURE), "--ranks", RUN_ID, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ranks"] == 2
    assert [(r["rank"], r["steps"], r["pid"]) for r in out["per_rank"]] == [(0, 3, 100), (1, 3, 101)]
    assert out["per_rank"][1]["step_ms_median"] == 14.0
    rows = {r["step"]: r for r in out["stragglers"]["rows"]}
    assert (rows[1]["slowest_rank"], rows[1]["spread_ms"]) == (1, 4.0)
    assert (rows[2]["slowest_rank"], rows[3]["slowest_rank"]) == (0, 1)
    assert main(["report", str(FIXTURE), "--ranks", RUN_ID]) == 0
    text = capsys.readouterr().out
    assert "spread ms" in text and "rank 1" in text and "median ms" in text  # the straggler table and the ranks


def test_report_ranks_of_an_unknown_run_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(FIXTURE), "--ranks", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
