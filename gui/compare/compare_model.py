"""Qt-free state of the comparison window: which runs are offered and chosen (from the open
session and from other session files), which is the baseline, the comparison of the chosen
runs, their curves, and their traces for the op diff and the side-by-side timelines.

Everything is read from the session files on demand and cached per run (a run in a session
never changes once finished); traces are the expensive part and are loaded only when a view
asks. Failures become one-line `SessionError` messages in `error`, never tracebacks.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gui.live.live_model import FALLBACK_COLOR, FRAMEWORK_COLORS, MB
from gui.live.runs_model import figures_of
from sessions.compare import LabeledRun, RunComparison, compare_runs, load_runs
from sessions.compare_report import Report, build_report, load_run_trace, write_report
from sessions.schema import SessionError
from sessions.store import Session
from traces.op_diff import OpDiff, op_diff
from traces.table import EventTable

RunKey = tuple[str, str]  # (resolved session path, run id): a run id is only unique within its file
SHADES = (0.0, -0.35, 0.45, -0.6, 0.7)  # the 2nd, 3rd … run of one framework: darker, lighter, …


def shade(color: str, amount: float) -> str:
    """`color` (#rrggbb) mixed towards black (amount < 0) or white (> 0)."""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    target = 255 if amount > 0 else 0
    mixed = [round(c + (target - c) * abs(amount)) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


@dataclass
class RunEntry:
    """One run offered in the chooser, with the headline figures the list shows."""

    path: Path
    run_id: str
    figures: dict[str, Any]
    has_trace: bool
    checked: bool = False
    color: str = FALLBACK_COLOR
    repeats: int = 1  # in `row_entries`: how many runs its comparison column pools

    @property
    def key(self) -> RunKey:
        return (str(self.path), self.run_id)

    @property
    def label(self) -> str:
        """FILE:RUN_ID, as `sessions.compare` labels runs."""
        return f"{self.path.name}:{self.run_id}"

    @property
    def title(self) -> str:
        """What a legend says: framework, variant and batch, and the run id's tail to tell repeats apart."""
        f = self.figures
        parts = [f"{f.get('framework') or '?'} {f.get('variant') or f.get('workload') or ''}".strip()]
        if f.get("batch_size"):
            parts.append(f"batch {f['batch_size']}")
        parts.append(self.run_id[-6:] + (f" + {self.repeats - 1} repeat(s)" if self.repeats > 1 else ""))
        return " · ".join(parts)


@dataclass
class RunCurves:
    """What the overlay plots draw for one run: measured step times, loss per step, memory in MB."""

    step_ms: np.ndarray  # measured steps only (warm-up and trace steps excluded, as in the headline)
    step_index: np.ndarray  # every step with a loss …
    loss: np.ndarray  # … and its loss (NaN dropped)
    t: np.ndarray  # sample times (s since the worker started)
    host_mb: np.ndarray
    device_mb: np.ndarray  # NaN where the framework does not report device memory


class CompareModel:
    """The comparison window's state. Views `subscribe` and re-read after every change."""

    def __init__(self) -> None:
        self.entries: list[RunEntry] = []
        self.baseline: RunKey | None = None
        self.pair: tuple[RunKey | None, RunKey | None] = (None, None)  # the runs of the op-diff and timeline tabs
        self._pair_picked = False  # until someone picks a pair, it follows the default rule (_fix_choices)
        self.error: str | None = None
        self._listeners: list[Callable[[], None]] = []
        self._labeled: dict[RunKey, LabeledRun] = {}
        self._curves: dict[RunKey, RunCurves] = {}
        self._traces: dict[RunKey, EventTable | None] = {}
        self._comparison: tuple[tuple[RunKey, ...], RunComparison] | None = None

    @classmethod
    def for_session(cls, path: Path | str, run_ids: Sequence[str] | None = None) -> CompareModel:
        """A model offering every run of `path`, with `run_ids` chosen (default: all of them)."""
        model = cls()
        model.add_session(path, run_ids)
        return model

    # -- observers ---------------------------------------------------------------------
    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # -- which runs --------------------------------------------------------------------
    def add_session(self, path: Path | str, run_ids: Sequence[str] | None = None) -> list[RunEntry]:
        """Offer every run of a session file and choose `run_ids` (default: all of them).
        SessionError when the file cannot be read; runs already offered are not added twice."""
        path = Path(path).resolve()
        known = {e.key for e in self.entries}
        added: list[RunEntry] = []
        with Session.open_readonly(path) as session:
            records = session.runs()
            wanted = set(run_ids) if run_ids is not None else {r.run_id for r in records}
            missing = wanted - {r.run_id for r in records}
            if missing:
                raise SessionError(f"{path}: no run {', '.join(sorted(missing))} in this session")
            for record in records:
                if (str(path), record.run_id) in known:
                    continue
                figures = figures_of(record, session.steps(record.run_id))  # a program run's framework too
                entry = RunEntry(path, record.run_id, figures, session.trace(record.run_id) is not None,
                                 checked=record.run_id in wanted)
                added.append(entry)
        self.entries.extend(added)
        self._assign_colors()
        self._fix_choices()
        self._changed()
        return added

    def add_session_file(self, path: Path | str) -> list[RunEntry]:
        """What the "Add session file…" button does: offer and choose all of its runs; on failure
        `error` holds the message and nothing changes."""
        self.error = None
        try:
            return self.add_session(path)
        except SessionError as exc:
            self.set_error(str(exc))
            return []

    def set_error(self, message: str | None) -> None:
        self.error = message
        self._changed()

    def entry(self, key: RunKey) -> RunEntry:
        for e in self.entries:
            if e.key == key:
                return e
        raise KeyError(key)

    def set_checked(self, key: RunKey, checked: bool) -> None:
        entry = self.entry(key)
        if entry.checked != checked:
            self.error = None  # a new choice: the last failure's message has been seen
            entry.checked = checked
            self._fix_choices()
            self._changed()

    def chosen(self) -> list[RunEntry]:
        """The chosen runs, baseline first, the rest in the order they are offered."""
        picked = [e for e in self.entries if e.checked]
        return sorted(picked, key=lambda e: e.key != self.baseline)

    def set_baseline(self, key: RunKey) -> None:
        if not self.entry(key).checked:
            raise ValueError(f"{key[1]} is not among the chosen runs")
        if key != self.baseline:
            self.error = None
            self.baseline = key
            self.pair = (key, self.pair[1] if self.pair[1] != key else None)
            self._pair_picked = True
            self._fix_choices()
            self._changed()

    def set_pair(self, first: RunKey | None, second: RunKey | None) -> None:
        self._pair_picked = True
        if (first, second) != self.pair:
            self.pair = (first, second)
            self._changed()

    def _fix_choices(self) -> None:
        """Keep the baseline and the pair among the chosen runs. A new second run of the pair is
        one of the first's framework when there is one (traced runs first), and a fresh pair is
        two traced runs of one framework when there are such: only then do op names match, so
        the op diff says something by default."""
        keys = [e.key for e in self.entries if e.checked]
        if self.baseline not in keys:
            self.baseline = keys[0] if keys else None
        first, second = self.pair
        if first not in keys or not self._pair_picked:  # a default pair: two traced runs of one framework if any
            first, second = self.same_framework_pair() or (self.baseline, second)
        others = [k for k in keys if k != first]
        if second not in others:
            framework = self.entry(first).figures.get("framework") if first is not None else None
            ranked = sorted(others, key=lambda k: (self.entry(k).figures.get("framework") != framework,
                                                   not self.entry(k).has_trace))
            second = ranked[0] if ranked else None
        self.pair = (first, second)

    def pair_frameworks(self) -> tuple[str, str] | None:
        """The frameworks of the pair when they differ (their op names then never match), else None."""
        first, second = self.pair
        if first is None or second is None:
            return None
        a, b = (str(self.entry(k).figures.get("framework") or "?") for k in (first, second))
        return (a, b) if a != b else None

    def same_framework_pair(self) -> tuple[RunKey, RunKey] | None:
        """Two chosen runs of one framework with stored traces (the baseline's framework first), or None."""
        traced = [e for e in self.chosen() if e.has_trace]
        for a in traced:
            for b in traced:
                if a.key != b.key and a.figures.get("framework") == b.figures.get("framework"):
                    return a.key, b.key
        return None

    def _assign_colors(self) -> None:
        """One colour per run: the framework's colour, shaded for its second, third … run."""
        seen: dict[str, int] = {}
        for e in self.entries:
            framework = e.figures.get("framework") or ""
            n = seen.get(framework, 0)
            seen[framework] = n + 1
            e.color = shade(FRAMEWORK_COLORS.get(framework, FALLBACK_COLOR), SHADES[n % len(SHADES)])

    # -- what is computed from them ----------------------------------------------------
    def labeled(self, key: RunKey) -> LabeledRun:
        if key not in self._labeled:
            self._labeled[key] = load_runs([f"{key[0]}:{key[1]}"])[0]
        return self._labeled[key]

    def comparison(self) -> RunComparison | None:
        """The chosen runs compared against the baseline; None when none is chosen or a file
        became unreadable (then `error` says why). Recomputed only when the choice changed."""
        keys = tuple(e.key for e in self.chosen())
        if not keys:
            return None
        if self._comparison is None or self._comparison[0] != keys:
            try:
                result = compare_runs([self.labeled(k) for k in keys])
            except SessionError as exc:
                self.error = str(exc)
                return None
            self._comparison = (keys, result)
        return self._comparison[1]

    def row_entries(self) -> list[RunEntry]:
        """One entry per column of `comparison()`: repeats of one spec are one column (`repeats`
        says how many runs it pools), titled and coloured by its first run."""
        comparison = self.comparison()
        if comparison is None:
            return []
        return [replace(self.entry((str(row.source[0]), row.source[1])), repeats=row.run_count) for row in comparison.runs]

    def curves(self, key: RunKey) -> RunCurves:
        """Step times, loss and memory of one run (SessionError if its file became unreadable)."""
        if key not in self._curves:
            with Session.open_readonly(key[0]) as session:
                steps, samples = session.steps(key[1]), session.samples(key[1])
            phase = np.asarray(steps.get("phase", ()))
            step_ms = np.asarray(steps.get("step_ms", ()), dtype=float)
            loss = np.asarray(steps.get("loss", ()), dtype=float)
            index = np.asarray(steps.get("index", ()), dtype=float)
            has_loss = np.isfinite(loss)
            self._curves[key] = RunCurves(
                step_ms=step_ms[phase == "measure"] if len(phase) else step_ms, step_index=index[has_loss], loss=loss[has_loss],
                t=np.asarray(samples.get("t", ()), dtype=float),
                host_mb=np.asarray(samples.get("host_rss", ()), dtype=float) / MB,
                device_mb=np.asarray(samples.get("device_in_use", ()), dtype=float) / MB)
        return self._curves[key]

    def trace(self, key: RunKey) -> EventTable | None:
        """The run's stored trace (None: it ran without a trace window); SessionError when the
        file or the stored trace cannot be read. Loaded once, on first use."""
        if key not in self._traces:
            self._traces[key] = load_run_trace(Path(key[0]), key[1])
        return self._traces[key]

    def op_diff(self, first: RunKey | None = None, second: RunKey | None = None) -> OpDiff | str:
        """The op diff of the pair (or of two given runs), or a sentence saying why there is none."""
        first, second = (first, second) if first and second else self.pair
        if first is None or second is None:
            return "Choose two runs to compare their ops."
        if first == second:
            return "Choose two different runs to compare their ops."
        try:
            baseline, other = self.trace(first), self.trace(second)
        except SessionError as exc:
            return str(exc)
        if baseline is None or other is None:
            key = first if baseline is None else second
            return (f"{self.entry(key).title} ({self.entry(key).label}) has no stored trace: it ran without a "
                    "trace window (--trace-steps 0) or stopped before it, so there are no ops to compare.")
        return op_diff(baseline, other, baseline_label=self.entry(first).title, other_label=self.entry(second).title)

    def report(self) -> Report | None:
        """The document `compare --html/--markdown` writes, for the chosen runs."""
        comparison = self.comparison()
        if comparison is None:
            return None
        keys = [e.key for e in self.row_entries()]  # a group of repeats by its first run's trace
        diffs: list[OpDiff | str] = []
        for key in keys[1:]:
            diff = self.op_diff(keys[0], key)
            if isinstance(diff, OpDiff):  # the report labels runs FILE:RUN_ID, like the CLI's
                diff.baseline_label, diff.other_label = self.entry(keys[0]).label, self.entry(key).label
            diffs.append(diff)
        return build_report(comparison, diffs)

    def save_report(self, path: Path | str, fmt: str | None = None) -> Path:
        """Write the report as HTML or Markdown (by suffix, or `fmt`); SessionError on failure."""
        report = self.report()
        if report is None:
            raise SessionError(f"{path}: choose at least one run before saving a report")
        return write_report(path, report, fmt)


def align_range(lo: float, hi: float, starts_from: np.ndarray, starts_to: np.ndarray) -> tuple[float, float]:
    """Map a view range of one timeline onto another so both show the same offset into the
    same step (by position in each trace window, since frameworks number steps differently).
    Without step markers on either side, both align at their first event (offset 0)."""
    if not len(starts_from) or not len(starts_to):
        return lo, hi
    k = int(np.clip(np.searchsorted(starts_from, lo, side="right") - 1, 0, len(starts_from) - 1))
    k_to = min(k, len(starts_to) - 1)
    shift = float(starts_to[k_to]) - float(starts_from[k])
    return lo + shift, hi + shift
