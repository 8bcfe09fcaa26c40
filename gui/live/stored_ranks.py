"""A stored multi-rank run's other ranks, read back for the live plots: one curve per rank, as
when it streamed. Kept out of the main window, which only calls `show_ranks` after `add_stored`.

The per-rank readers (`RunReader.rank_steps`, `rank_samples`) come with the session's schema v5;
a session without them shows rank 0 only, as before.
"""
from __future__ import annotations

import numpy as np

from gui.live.live_model import LiveModel, fill_stored
from gui.live.runs_model import RunsModel
from sessions.store import Session


def run_ranks(summary: dict[str, object] | None) -> int:
    """The run's world size from its summary's "ranks" (absent: 1)."""
    value = (summary or {}).get("ranks")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def show_ranks(model: LiveModel, runs: RunsModel, run_id: str, program: bool = False) -> bool:
    """Add every other rank's curves to the stored run `run_id` already on `model`; False for a
    single-rank run (nothing read) or a session without per-rank readers. Raises SessionError."""
    row = runs.row(run_id)
    if row is None or run_id not in model.runs or run_ranks(row.record.summary) < 2 or runs.path is None:
        return False
    with Session.open_readonly(runs.path) as session:
        read_steps = getattr(session, "rank_steps", None)
        if read_steps is None:
            return False
        read_samples = getattr(session, "rank_samples", None)
        steps = read_steps(run_id)
        samples = read_samples(run_id) if read_samples is not None else {}
    add_stored_ranks(model, run_id, steps, samples, program)
    return True


def add_stored_ranks(model: LiveModel, run_id: str, rank_steps: dict[int, dict[str, np.ndarray]],
                     rank_samples: dict[int, dict[str, np.ndarray]] | None = None, program: bool = False) -> None:
    """Give a stored run (`add_stored` first: that is rank 0) its other ranks' curves, from
    `RunReader.rank_steps` / `rank_samples`; they share rank 0's phase windows."""
    run = model.runs[run_id]
    rank_samples = rank_samples or {}
    if 0 in rank_samples:  # rank 0's own process tree instead of the whole program's samples
        run.ranked_samples = True
        run.reset_samples()
        fill_stored(run, {}, rank_samples[0], program)
    ranks = sorted(set(rank_steps) | set(rank_samples))
    run.world_size = max(run.world_size, len(ranks), max(ranks, default=0) + 1)
    run.layout_version += 1
    for rank in ranks:
        if rank == 0:
            continue
        other = run.rank_run(rank)
        other.phases = [list(span) for span in run.phases]
        fill_stored(other, rank_steps.get(rank, {}), rank_samples.get(rank, {}), program)
        run.last_t = max(run.last_t, other.last_t)
    model.version += 1
