"""Schema v5 (docs/architecture.md, "The session file"): each rank's steps and samples. A v4 session's
steps become rank 0's; RunReader.steps stays rank 0's; rank_steps / rank_samples give every rank's;
the frozen v5 fixture opens with its two ranks; the report fields carry `ranks`."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from sessions import schema
from sessions.headline import headline
from sessions.store import Session
from tests.data.make_session_v5 import RUN_ID, STEP_MS, events

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_v4_session_migrates_its_steps_to_rank_0(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    shutil.copy(DATA / "session-v4.stepscope", path)
    with Session.open_readonly(path) as before:
        run_id = next(r.run_id for r in before.runs() if r.step_count)
        old = before.steps(run_id)
    with Session.create_or_open(path):
        pass  # a writer migrates the file in place
    with Session.open_readonly(path) as session:
        assert session.file_version == schema.SCHEMA_VERSION
        ranks = session.rank_steps(run_id)
        assert list(ranks) == [0] and np.array_equal(ranks[0]["step_ms"], old["step_ms"])
        assert np.array_equal(session.steps(run_id)["index"], old["index"])
        assert list(session.rank_samples(run_id)) == [0]


def test_the_v5_fixture_holds_two_ranks_and_the_whole_programs_samples() -> None:
    with Session.open_readonly(DATA / "session-v5.stepscope") as session:
        assert session.file_version == 5
        record = session.run(RUN_ID)
        ranks = session.rank_steps(RUN_ID)
        assert sorted(ranks) == [0, 1]
        for rank, times in STEP_MS.items():
            assert ranks[rank]["step_ms"].tolist() == times and list(ranks[rank]["phase"][:2]) == ["warmup", "measure"]
        assert session.steps(RUN_ID)["step_ms"].tolist() == STEP_MS[0]
        assert record.step_count == len(STEP_MS[0])  # rank 0's, as steps()
        assert session.samples(RUN_ID)["host_rss"].tolist() == [500 << 20]  # the whole program's
        per_rank = session.rank_samples(RUN_ID)
        assert {r: s["host_rss"].tolist() for r, s in per_rank.items()} == {0: [200 << 20], 1: [201 << 20]}
        assert record.environment["pid"] == 100 and record.environment["ranks"]["1"] == {"hostname": "h", "pid": 101}
        assert headline(record, session.steps(RUN_ID))["ranks"] == 2


def test_finishing_merges_each_ranks_blocks_apart(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    stream = events()
    with Session.create_or_open(path) as session:
        session.begin_run("r", {}, kind="program")
        for k in range(0, len(stream), 3):  # several flushes: several blocks per rank
            session.append_events("r", stream[k:k + 3])
        session.finish_run("r", "ok", None, {"ranks": 2}, "")
        ranks = session.rank_steps("r")
    assert {r: s["step_ms"].tolist() for r, s in ranks.items()} == STEP_MS
