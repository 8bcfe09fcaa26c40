"""Which process is a rank (agent/stepscope_agent/ranks.py) and the protocol's `rank` field: a launcher
is never one, the environment a launcher sets makes one, a child of a claimed rank stays silent; an
event's rank is an int >= 0 or absent (rank 0)."""
from __future__ import annotations

import json
import sys

import pytest

from profilers.program_runner import program_summary, rank_count
from profilers.protocol import ProtocolError, parse_line
from workloads.program import ProgramSpec

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "agent"))
from stepscope_agent import ranks  # noqa: E402 (the agent's folder is the program's PYTHONPATH, not ours)


@pytest.mark.parametrize(("argv", "launcher"), [
    (["/venv/bin/python", "/venv/bin/torchrun", "--nproc-per-node", "2", "train.py"], True),
    (["python", "-m", "torch.distributed.run", "train.py"], True),
    (["python", "-mtorch.distributed.launch", "train.py"], True),
    (["python", "train.py", "--torchrun"], False),
    (["python", "-u", "examples/jax_ranks.py"], False),
])
def test_a_launcher_is_told_from_a_training_program(argv: list[str], launcher: bool) -> None:
    assert ranks.is_launcher(argv) is launcher


def test_the_rank_comes_from_a_launchers_environment() -> None:
    assert ranks.env_rank({"RANK": "1", "WORLD_SIZE": "2"}) == (1, 2)
    assert ranks.env_rank({"JAX_PROCESS_ID": "3", "JAX_NUM_PROCESSES": "4"}) == (3, 4)
    assert ranks.env_rank({"RANK": "2", "WORLD_SIZE": "2"}) is None  # not a rank of that world
    assert ranks.env_rank({"RANK": "0"}) is None and ranks.env_rank({}) is None


def test_a_process_started_by_a_claimed_rank_stays_silent() -> None:
    env: dict[str, str] = {}
    assert not ranks.owned_elsewhere(env)
    ranks.claim(env)
    assert not ranks.owned_elsewhere(env)  # this process is the owner
    env[ranks.OWNER_VARIABLE] = "1"  # as a spawned data worker inherits it
    assert ranks.owned_elsewhere(env)


def test_the_last_line_of_a_rank_says_how_it_ended() -> None:
    assert json.loads(ranks.end_line(None)) == {"end": True, "error": None}
    assert json.loads(ranks.end_line("ValueError: x"))["error"] == "ValueError: x"


def _step(rank: int | None, index: int, ms: float) -> dict:
    event = {"type": "step", "t": 1.0, "index": index, "phase": "measure", "step_ms": ms, "samples_per_s": None,
             "loss": None}
    return event if rank is None else {**event, "rank": rank}


def test_an_events_rank_is_a_whole_number_of_at_least_0() -> None:
    assert parse_line(json.dumps(_step(1, 0, 1.0)))["rank"] == 1
    assert "rank" not in parse_line(json.dumps(_step(None, 0, 1.0)))
    for bad in (-1, True, 1.5, "0"):
        with pytest.raises(ProtocolError, match="invalid rank"):
            parse_line(json.dumps({**_step(0, 0, 1.0), "rank": bad}))


def test_a_multi_rank_summary_is_rank_0s_with_the_world_size() -> None:
    events = [_step(0, 1, 10.0), _step(1, 1, 30.0), _step(0, 2, 12.0), _step(1, 2, 50.0),
              {"type": "notice", "t": 1.0, "message": "only here", "rank": 1}]
    assert rank_count(events) == 2 and rank_count([_step(None, 1, 1.0)]) == 1
    summary = program_summary(events, ProgramSpec(command=("x",), cwd="."), "ok")
    assert summary["ranks"] == 2 and summary["steps"] == 2 and summary["step_ms_median"] == 11.0
    assert "rank 1: only here" in summary["notices"]
