"""The HLO modules behind a run's trace, read from the XPlane artifacts the session keeps, so the
op-family breakdown (`traces.family_breakdown`) can say what opaque XLA ops hold. The stored
event table keeps only each op's name; the modules are read on demand, when families are asked for.
"""
from __future__ import annotations

from sessions.store import Session, SessionError
from traces.hlo_modules import HloIndex, read_hlo_index
from traces.table import TraceError


def run_hlo_index(session: Session, run_id: str) -> tuple[HloIndex | None, str | None]:
    """(the HLO ops of the run's XPlanes or None when it has none with modules, a sentence
    saying why an XPlane the run has could not be read, or None)."""
    index = HloIndex()
    problem = None
    for artifact in session.artifacts(run_id):
        if artifact.kind != "xplane":
            continue
        try:
            index.merge(read_hlo_index(session.artifact_bytes(run_id, artifact.name), artifact.name))
        except (SessionError, TraceError) as exc:
            problem = f"the HLO modules of {artifact.name} could not be read ({exc})"
    return (index if len(index) else None), problem
