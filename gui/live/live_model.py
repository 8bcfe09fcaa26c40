"""Qt-free live data: numpy buffers that grow by doubling, fed from the controller's reader thread.

Events arrive on the reader thread and are only appended to a deque there (thread-safe, cheap);
the view's 30 fps timer calls `drain()` on the GUI thread, which moves them into the series.
So the GUI thread is the only one that touches the arrays, and no lock is needed to read them
(pyqtgraph's scrollingPlots, napari's model/view split).

A multi-rank run's events carry `rank` (docs/architecture.md, the event stream): rank 0's, and
any event without one, feed the run's own series; every other rank gets series of its own under
the run (`RunSeries.rank_runs`), drawn as one curve per rank in the run's colour family.
"""
from __future__ import annotations

import collections
import colorsys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gui.live.growing_series import GrowingSeries as GrowingSeries  # re-exported: plots and tests import it here

MB = 1024.0 * 1024.0
_Batch = tuple[list[dict[str, Any]], list[dict[str, Any]]]  # a run's samples and steps of one drain
EARLY_LIMIT = 100_000  # events kept per run while its `_begin` has not come (a worker can speak first)
# One fixed colour per framework, so a run has the same colour in every plot and every session.
FRAMEWORK_COLORS = {"torch": "#e4572e", "jax": "#2f7ed8", "tf": "#f0a202"}
FALLBACK_COLOR = "#8e44ad"
NEUTRAL_COLOR = "#7f8c8d"  # a program run until its `program` event says which framework it imported
# a multi-rank run's ranks: the run's colour made darker or lighter by turns (and a touch of hue),
# so every rank reads as the same run and each curve is still told apart (ranks past 8 repeat)
RANK_SHADES = ((0.0, 0.0), (-0.2, 0.0), (0.2, 0.03), (-0.32, -0.03), (0.33, 0.0), (-0.1, 0.06), (0.1, -0.06),
               (-0.25, 0.08))


def rank_color(color: str, rank: int) -> str:
    """`color` (#rrggbb) shaded for `rank`; rank 0 keeps the run's own colour."""
    light, hue = RANK_SHADES[rank % len(RANK_SHADES)]
    if not (light or hue):
        return color
    r, g, b = (int(color[k:k + 2], 16) / 255 for k in (1, 3, 5))
    h, lum, sat = colorsys.rgb_to_hls(r, g, b)
    lum = min(0.85, max(0.15, lum + light))
    r, g, b = colorsys.hls_to_rgb((h + hue) % 1.0, lum, sat)
    return "#" + "".join(f"{round(v * 255):02x}" for v in (r, g, b))


# The metrics a run carries, each an (x=time in s, y) series: name -> (event type, field, scale).
STEP_METRICS = {"step_ms": 1.0, "samples_per_s": 1.0, "loss": 1.0}
SAMPLE_METRICS = {"host_mb": ("host_rss", 1 / MB), "device_mb": ("device_in_use", 1 / MB),
                  "cpu_percent": ("cpu_percent", 1.0), "gpu_util": ("gpu_util", 1.0),
                  "others_cpu": ("others_cpu", 1.0)}  # other processes' CPU, % of all cores (where measured)


def step_spans(phases: np.ndarray, first: int = 0) -> list[list[Any]]:
    """[phase, first step, last step] for each run of equal phase names, steps counted from `first`."""
    if not len(phases):
        return []
    starts = np.concatenate(([0], np.flatnonzero(phases[1:] != phases[:-1]) + 1))
    ends = np.concatenate((starts[1:] - 1, [len(phases) - 1]))
    return [[str(phases[a]), first + int(a), first + int(b)] for a, b in zip(starts, ends, strict=True)]


@dataclass
class RunSeries:
    """Everything drawn for one run: its series (over time, and the step metrics also over the
    step number, the better x axis when runs are overlaid), its phase spans and where it stands."""

    run_id: str
    framework: str
    label: str
    expected_steps: int = 0
    series: dict[str, GrowingSeries] = field(default_factory=dict)
    by_step: dict[str, GrowingSeries] = field(default_factory=dict)  # step metrics, x = step number
    phases: list[list[Any]] = field(default_factory=list)  # [name, start_t, end_t | None]
    step_phases: list[list[Any]] = field(default_factory=list)  # [warmup|measure|trace, first, last step]
    steps_done: int = 0
    last_t: float = 0.0
    phase_version: int = 0
    device_kind: str | None = None  # from the worker's hello (or the stored environment); None: not yet known
    framework_version: str | None = None  # a program run's, from its `program` event
    step_source: tuple[str, str] | None = None  # a program run's (source, detail), from its `step_source` event
    rank: int = 0  # which rank of a multi-rank run these series are (the events' "rank" field)
    world_size: int = 1  # from the `hello` event's world_size; more ranks show as they send
    rank_runs: dict[int, RunSeries] = field(default_factory=dict)  # ranks 1.. of this run; rank 0 is this one
    layout_version: int = 0  # bumps when a rank appears or the world size is learnt: views rebuild the curves
    ranked_samples: bool = False  # samples came tagged with ranks: the rank-less ones (the whole program) are not drawn

    def __post_init__(self) -> None:
        for name in (*STEP_METRICS, *SAMPLE_METRICS):
            self.series.setdefault(name, GrowingSeries(256))
        for name in STEP_METRICS:
            self.by_step.setdefault(name, GrowingSeries(256))

    @property
    def color(self) -> str:
        return FRAMEWORK_COLORS.get(self.framework, FALLBACK_COLOR if self.framework else NEUTRAL_COLOR)

    @property
    def multi_rank(self) -> bool:
        return self.world_size > 1 or bool(self.rank_runs)

    def ranks(self) -> list[RunSeries]:
        """Every rank's series, rank 0 (this run) first; just this run when it has one rank."""
        return [self, *(self.rank_runs[r] for r in sorted(self.rank_runs))]

    def rank_run(self, rank: int) -> RunSeries:
        """Rank `rank`'s series (this run's own for rank 0), made on first use."""
        if rank == self.rank:
            return self
        run = self.rank_runs.get(rank)
        if run is None:
            run = self.rank_runs[rank] = RunSeries(f"{self.run_id}#rank{rank}", self.framework, f"rank {rank}",
                                                   self.expected_steps, rank=rank, step_source=self.step_source)
            run.device_kind = self.device_kind
            self.layout_version += 1
        return run

    def _by_rank(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """This run's own events (rank 0, or no rank: a single-process run); every other rank's
        are handed to its series here."""
        own = self.rank
        if own or not any("rank" in e for e in events):  # another rank's series only ever gets its own
            return events
        groups: dict[int, list[dict[str, Any]]] = {}
        for e in events:
            groups.setdefault(int(e.get("rank") or 0), []).append(e)
        for rank, theirs in groups.items():
            if rank != own:
                other = self.rank_run(rank)
                other.add_events(theirs)
                self.last_t = max(self.last_t, other.last_t)
        return groups.get(own, [])

    def add_events(self, events: list[dict[str, Any]]) -> None:
        """Events of this rank in stream order: steps and samples as batches, the rest one by one."""
        steps = [e for e in events if e["type"] == "step"]
        samples = [e for e in events if e["type"] == "sample"]
        for e in events:
            if e["type"] not in ("step", "sample"):
                self.apply(e)
        self.extend_samples(samples)
        self.extend_steps(steps)

    def median_step_ms(self) -> float | None:
        """Median of the measured steps so far (warm-up and trace steps excluded, as in the headline)."""
        s = self.series["step_ms"]
        if not len(s):
            return None
        mask = self._measure_mask(s.x)
        values = s.y[mask] if mask.any() else s.y
        return float(np.median(values))

    def _measure_mask(self, t: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(t), dtype=bool)
        for name, start, end in self.phases:
            if name == "measure":
                mask |= (t >= start) & (t <= (end if end is not None else np.inf))
        return mask

    # -- ingestion (GUI thread, from drain or from a stored run) --------------------------
    def apply(self, event: dict[str, Any]) -> None:
        if (event.get("rank") or 0) != self.rank:
            self._by_rank([event])
            return
        kind, t = event["type"], float(event["t"])
        if kind == "step":
            self.extend_steps([event])
        elif kind == "sample":
            self.extend_samples([event])
        elif kind == "phase" and event["name"] in ("compile", "warmup", "measure", "trace"):
            self.last_t = max(self.last_t, t)
            if event["edge"] == "start":
                self.phases.append([event["name"], t, None])
            else:
                for span in reversed(self.phases):
                    if span[0] == event["name"] and span[2] is None:
                        span[2] = t
                        break
            self.phase_version += 1
        else:
            if kind == "hello":
                self.device_kind = str(event.get("device_kind") or "") or None
                world = event.get("world_size")
                if isinstance(world, int) and world > self.world_size:
                    self.world_size = world
                    self.layout_version += 1
            elif kind == "program":  # the user's program imported its framework: the run takes its colour
                self.framework, self.framework_version = str(event["framework"]), event.get("framework_version")
            elif kind == "step_source":
                self.step_source = (str(event["source"]), str(event.get("detail") or ""))
            self.last_t = max(self.last_t, t)

    def extend_steps(self, events: list[dict[str, Any]]) -> None:
        """Append a batch of step events: one array per metric, not one append per value. A
        program's step 0 (warm-up) holds its imports and set-up, seconds long: its time and
        throughput are left off the curves, which would otherwise flatten every other step."""
        events = self._by_rank(events)
        if events:
            timed = events
            if self.step_source is not None:
                timed = [e if e.get("phase") != "warmup" else {**e, "step_ms": None, "samples_per_s": None} for e in events]
            self._extend(timed, [(name, name, 1.0) for name in STEP_METRICS])
            events = timed
            first = self.steps_done
            number = np.arange(first, first + len(events), dtype=float)
            for name in STEP_METRICS:
                values = [e.get(name) for e in events]
                ok = np.array([v is not None for v in values])
                self.by_step[name].extend(number[ok], np.array([v for v in values if v is not None], dtype=float))
            self._add_step_phases(step_spans(np.array([str(e.get("phase", "")) for e in events]), first))
            self.steps_done += len(events)

    def _add_step_phases(self, spans: list[list[Any]]) -> None:
        if spans and self.step_phases and self.step_phases[-1][0] == spans[0][0] \
                and self.step_phases[-1][2] + 1 == spans[0][1]:
            self.step_phases[-1][2] = spans.pop(0)[2]  # the same phase goes on
        if spans:
            self.step_phases.extend(spans)
            self.phase_version += 1

    def extend_samples(self, events: list[dict[str, Any]]) -> None:
        """Append a batch of telemetry samples (the bulk of a fast stream) the same way. Once
        samples come per rank, each rank's process tree is its own curve and the controller's
        samples of the whole program (no rank) leave the plots, those so far too."""
        if self.rank == 0 and events and (self.ranked_samples or any("rank" in e for e in events)):
            ranked = [e for e in events if e.get("rank") is not None]
            if ranked and not self.ranked_samples:
                self.ranked_samples = True
                self.reset_samples()
            if self.ranked_samples:
                events = ranked
        events = self._by_rank(events)
        if events:
            self._extend(events, [(name, source, scale) for name, (source, scale) in SAMPLE_METRICS.items()])

    def reset_samples(self) -> None:
        """Empty the telemetry curves (new series: views rebuild theirs)."""
        for name in SAMPLE_METRICS:
            self.series[name] = GrowingSeries(256)
        self.layout_version += 1

    def _extend(self, events: list[dict[str, Any]], metrics: list[tuple[str, str, float]]) -> None:
        t = np.array([e["t"] for e in events], dtype=float)
        self.last_t = max(self.last_t, float(t.max()))
        for name, source, scale in metrics:
            values = [e.get(source) for e in events]
            if None in values:
                ok = np.array([v is not None for v in values])
                if not ok.any():
                    continue
                y, x = np.array([v for v in values if v is not None], dtype=float), t[ok]
            else:
                y, x = np.array(values, dtype=float), t
            self.series[name].extend(x, y * scale if scale != 1.0 else y)


class LiveModel:
    """The runs on screen: live ones streaming from workers and stored ones read from a session."""

    def __init__(self) -> None:
        self.runs: dict[str, RunSeries] = {}
        self._inbox: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._early: dict[str, list[dict[str, Any]]] = {}  # events that came before their run's `_begin`
        self._gone: set[str] = set()  # runs cleared from the view: their late events are dropped
        self.version = 0  # bumps when runs are added or removed, so views rebuild their curves

    # -- any thread ------------------------------------------------------------------------
    def post(self, run_id: str, event: dict[str, Any]) -> None:
        """Queue one event for `run_id`; safe from the reader thread (deque.append is atomic)."""
        self._inbox.append((run_id, event))

    def announce(self, run_id: str, framework: str, label: str, expected_steps: int) -> None:
        """Queue the start of a live run, ahead of its events (same deque, so order holds)."""
        self._inbox.append((run_id, {"type": "_begin", "framework": framework, "label": label,
                                     "expected_steps": expected_steps}))

    def poster(self, run_id: str) -> Callable[[dict[str, Any]], None]:
        """An `on_event` callback for a RunController that feeds `run_id`."""
        return lambda event: self._inbox.append((run_id, event))

    # -- GUI thread ------------------------------------------------------------------------
    def add_run(self, run_id: str, framework: str, label: str, expected_steps: int = 0) -> RunSeries:
        run = RunSeries(run_id, framework, label, expected_steps)
        self.runs[run_id] = run
        self.version += 1
        return run

    def clear(self) -> None:
        self._gone.update(self.runs, self._early)
        self.runs.clear()
        self._early.clear()
        self._inbox.clear()
        self.version += 1

    def drain(self, limit: int = 500_000) -> int:
        """Apply queued events to their runs.

        Steps and telemetry samples, the bulk of a fast stream, are gathered per run and appended
        as one array per metric; phases are applied in order as they come. A worker may speak
        before its run's `_begin` (posted by the GUI thread) is queued: such events wait for it,
        up to `EARLY_LIMIT` per run; events of runs cleared from the view are dropped."""
        n = 0
        inbox = self._inbox
        layout = self._layout()
        batches: dict[str, _Batch] = {}  # run -> (samples, steps)
        while inbox and n < limit:
            run_id, event = inbox.popleft()
            n += 1
            if event["type"] == "_begin":
                self._apply_batches(batches)  # whatever came before belongs to the run being replaced
                batches = {}
                self.add_run(run_id, event["framework"], event["label"], event["expected_steps"])
                for early in self._early.pop(run_id, ()):
                    self._take(run_id, early, batches)
            else:
                self._take(run_id, event, batches)
        self._apply_batches(batches)
        if self._layout() != layout:
            self.version += 1  # a rank appeared (or the world size came): views rebuild the curves
        return n

    def _take(self, run_id: str, event: dict[str, Any], batches: dict[str, _Batch]) -> None:
        kind = event["type"]
        if run_id not in self.runs:
            if run_id not in self._gone and len(early := self._early.setdefault(run_id, [])) < EARLY_LIMIT:
                early.append(event)
        elif kind == "sample" or kind == "step":
            batch = batches.get(run_id)
            if batch is None:
                batch = batches[run_id] = ([], [])
            batch[kind == "step"].append(event)
        else:
            self.runs[run_id].apply(event)
            if kind == "program":
                self.version += 1  # a new colour: views rebuild the run's curves

    def _layout(self) -> int:
        return sum(run.layout_version for run in self.runs.values())

    def _apply_batches(self, batches: dict[str, _Batch]) -> None:
        for run_id, (samples, steps) in batches.items():
            run = self.runs.get(run_id)
            if run is not None:
                run.extend_samples(samples)
                run.extend_steps(steps)

    def add_stored(self, run_id: str, framework: str, label: str, steps: dict[str, np.ndarray],
                   samples: dict[str, np.ndarray], phases: list[dict[str, Any]],
                   device_kind: str | None = None, program: bool = False) -> RunSeries:
        """Show a run read back from a session file, with the same curves as when it streamed
        (a program's warm-up step 0 off the time and throughput curves, as in `extend_steps`)."""
        run = self.add_run(run_id, framework, label, len(steps.get("t", ())))
        run.device_kind = device_kind
        for edge in phases:
            run.apply({"type": "phase", "t": edge["t"], "name": edge["name"], "edge": edge["edge"]})
        fill_stored(run, steps, samples, program)
        return run


def fill_stored(run: RunSeries, steps: dict[str, np.ndarray], samples: dict[str, np.ndarray], program: bool) -> None:
    """One rank's stored steps and samples into its series."""
    if program and "phase" in steps:
        warm = np.asarray(steps["phase"]).astype(str) == "warmup"
        steps = {**steps, **{name: np.where(warm, np.nan, np.asarray(steps[name], dtype=float))
                             for name in ("step_ms", "samples_per_s") if name in steps}}
    t = np.asarray(steps.get("t", ()), dtype=float)
    if len(t):
        for name in STEP_METRICS:
            y = np.asarray(steps[name], dtype=float)
            ok = np.isfinite(y)
            run.series[name].extend(t[ok], y[ok])
            run.by_step[name].extend(np.flatnonzero(ok).astype(float), y[ok])
        if "phase" in steps:
            run._add_step_phases(step_spans(np.asarray(steps["phase"]).astype(str)))
        run.steps_done, run.last_t = len(t), max(run.last_t, float(t.max()))
    st = np.asarray(samples.get("t", ()), dtype=float)
    if len(st):
        for name, (source, scale) in SAMPLE_METRICS.items():
            y = np.asarray(samples.get(source, np.full(len(st), np.nan)), dtype=float) * scale
            ok = np.isfinite(y)
            run.series[name].extend(st[ok], y[ok])
        run.last_t = max(run.last_t, float(st.max()))
