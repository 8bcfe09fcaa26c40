"""A stored multi-rank run's other ranks, read back for the live plots: one curve per rank, as
when it streamed. Kept out of the main window, which only calls `show_ranks` after `add_stored`.

The per-rank readers (`RunReader.rank_steps`, `rank_samples`) come with the session's schema v5;
a session without them shows rank 0 only, as before.
"""
from __future__ import annotations

from gui.live.live_model import LiveModel
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
    model.add_stored_ranks(run_id, steps, samples, program)
    return True
