"""Profile log directories -> EventTable: TensorBoard's plugins/profile/<run>/ layout (XPlanes,
several hosts' merged), a run folder, or a folder of Chrome traces. The newest run is read
unless one is named."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from traces.chrome_reader import read_chrome_trace
from traces.progress import ReadProgress
from traces.rank_reader import rank_files, read_ranks
from traces.table import EventTable, Limits, TraceError
from traces.xplane_reader import read_xplanes


@dataclass
class ProfileRun:
    """One profile run folder (plugins/profile/<run>/) and the trace files in it."""

    path: Path
    xplanes: list[Path] = field(default_factory=list)
    chrome: list[Path] = field(default_factory=list)


XPLANE_GLOBS = ("*.xplane.pb", "*.xplane.pb.gz")
CHROME_GLOBS = ("*.json", "*.json.gz")


def find_profile_runs(root: str | os.PathLike[str]) -> list[ProfileRun]:
    """Profile runs under `root`, oldest first: a TensorBoard log directory (plugins/profile/
    <run>/), the plugins/profile folder itself, a run folder, or a folder of Chrome traces
    (torch's tensorboard_trace_handler writes `<worker>.<time>.pt.trace.json`)."""
    root = Path(root)
    candidates = [root / "plugins" / "profile", root / "profile", root]
    runs: list[ProfileRun] = []
    for base in candidates:
        if base.is_dir():
            runs = [_run(d) for d in sorted(base.iterdir()) if d.is_dir()]
            runs = [r for r in runs if r.xplanes or r.chrome]
            if runs:
                break
    if not runs:
        here = _run(root)
        if here.xplanes or here.chrome:
            runs = [here]
    return sorted(runs, key=lambda r: (r.path.name if _is_timestamp(r.path.name) else "", _mtime(r)))


def _run(d: Path) -> ProfileRun:
    files = [f for f in d.iterdir() if f.is_file()] if d.is_dir() else []
    xplanes = sorted(f for f in files if any(f.match(g) for g in XPLANE_GLOBS))
    chrome = sorted(f for f in files if any(f.match(g) for g in CHROME_GLOBS))
    return ProfileRun(d, xplanes, chrome)


def _is_timestamp(name: str) -> bool:
    return re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}", name) is not None


def _mtime(run: ProfileRun) -> float:
    files = run.xplanes + run.chrome
    return max((f.stat().st_mtime for f in files), default=0.0)


def read_logdir(root: str | os.PathLike[str], limits: Limits | None = None, run: str | None = None,
                framework: str | None = None, progress: ReadProgress | None = None) -> EventTable:
    """The newest profile run under `root` (or the one named `run`): its XPlanes (several
    hosts' merged, rows prefixed by host) when it has any, which carry more than the Chrome
    trace JAX writes beside them (step markers, hlo_op arguments); else its Chrome traces of
    every rank when they are one distributed job's (`rank_reader`), else its newest one.
    `progress` is started with the sizes of the files read, together, and finished."""
    root = Path(root)
    limits = limits or Limits()
    runs = find_profile_runs(root)
    if not runs:
        raise TraceError(root, "holds no profile: no plugins/profile/<run>/*.xplane.pb and no Chrome-trace JSON")
    if run is not None:
        chosen = [r for r in runs if r.path.name == run]
        if not chosen:
            raise TraceError(root, f"has no profile run {run!r} (runs: {', '.join(r.path.name for r in runs)})")
        pick = chosen[0]
    else:
        pick = runs[-1]
    notes = [f"read run {pick.path.name!r}, the newest of {len(runs)}"] if len(runs) > 1 and run is None else []
    if pick.xplanes:
        if pick.chrome:
            notes.append(f"read the XPlane; ignored {len(pick.chrome)} Chrome trace(s) beside it")
        return read_xplanes(pick.xplanes, limits, framework, notes, progress=progress)  # starts and finishes it
    ranks = rank_files(pick.chrome)
    if ranks is not None:  # one distributed job's per-rank traces: all of them, on one timeline
        table = read_ranks(ranks, limits, framework, progress)
        table.source.notes.extend(notes)
        return table
    newest = max(pick.chrome, key=lambda f: (f.stat().st_mtime, f.name))
    if progress is not None:
        progress.start(newest.stat().st_size)
    table = read_chrome_trace(newest, limits, framework=framework, progress=progress)
    if progress is not None:
        progress.finish()
    if len(pick.chrome) > 1:
        table.source.notes.append(f"read {newest.name}, the newest of {len(pick.chrome)} Chrome traces in {pick.path}")
    table.source.notes.extend(notes)
    return table
