"""Qt-free live data: numpy buffers that grow by doubling, fed from the controller's reader thread.

Events arrive on the reader thread and are only appended to a deque there (thread-safe, cheap);
the view's 30 fps timer calls `drain()` on the GUI thread, which moves them into the series.
So the GUI thread is the only one that touches the arrays, and no lock is needed to read them
(pyqtgraph's scrollingPlots, napari's model/view split).
"""
from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MB = 1024.0 * 1024.0
# One fixed colour per framework, so a run has the same colour in every plot and every session.
FRAMEWORK_COLORS = {"torch": "#e4572e", "jax": "#2f7ed8", "tf": "#f0a202"}
FALLBACK_COLOR = "#8e44ad"


class GrowingSeries:
    """An (x, y) series that grows by doubling; `x`/`y` are views of the filled part."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0
        self.version = 0  # bumps on every append, so a view redraws only when something changed
        self.y_min = np.inf  # running bounds, so a view can size its axis without scanning the data
        self.y_max = -np.inf

    def __len__(self) -> int:
        return self._n

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need > len(self._x):
            size = max(need, 2 * len(self._x))
            for name in ("_x", "_y"):
                grown = np.empty(size, dtype=np.float64)
                grown[: self._n] = getattr(self, name)[: self._n]
                setattr(self, name, grown)

    def append(self, x: float, y: float) -> None:
        self._reserve(1)
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1
        self.version += 1
        if y == y:  # not NaN
            self.y_min = min(self.y_min, y)
            self.y_max = max(self.y_max, y)

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        k = len(xs)
        self._reserve(k)
        self._x[self._n : self._n + k] = xs
        self._y[self._n : self._n + k] = ys
        self._n += k
        self.version += 1
        if k and not np.isnan(ys).all():
            self.y_min = min(self.y_min, float(np.nanmin(ys)))
            self.y_max = max(self.y_max, float(np.nanmax(ys)))

    @property
    def x(self) -> np.ndarray:
        return self._x[: self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]


# The metrics a run carries, each an (x=time in s, y) series: name -> (event type, field, scale).
STEP_METRICS = {"step_ms": 1.0, "samples_per_s": 1.0, "loss": 1.0}
SAMPLE_METRICS = {"host_mb": ("host_rss", 1 / MB), "device_mb": ("device_in_use", 1 / MB),
                  "cpu_percent": ("cpu_percent", 1.0), "gpu_util": ("gpu_util", 1.0)}


@dataclass
class RunSeries:
    """Everything drawn for one run: its series, its phase spans and where it stands."""

    run_id: str
    framework: str
    label: str
    expected_steps: int = 0
    series: dict[str, GrowingSeries] = field(default_factory=dict)
    phases: list[list[Any]] = field(default_factory=list)  # [name, start_t, end_t | None]
    steps_done: int = 0
    last_t: float = 0.0
    phase_version: int = 0

    def __post_init__(self) -> None:
        for name in (*STEP_METRICS, *SAMPLE_METRICS):
            self.series.setdefault(name, GrowingSeries(256))

    @property
    def color(self) -> str:
        return FRAMEWORK_COLORS.get(self.framework, FALLBACK_COLOR)

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
        kind, t = event["type"], float(event["t"])
        self.last_t = max(self.last_t, t)
        if kind == "step":
            for name in STEP_METRICS:
                value = event.get(name)
                if value is not None:
                    self.series[name].append(t, float(value))
            self.steps_done += 1
        elif kind == "sample":
            for name, (source, scale) in SAMPLE_METRICS.items():
                value = event.get(source)
                if value is not None:
                    self.series[name].append(t, float(value) * scale)
        elif kind == "phase" and event["name"] in ("compile", "warmup", "measure", "trace"):
            if event["edge"] == "start":
                self.phases.append([event["name"], t, None])
            else:
                for span in reversed(self.phases):
                    if span[0] == event["name"] and span[2] is None:
                        span[2] = t
                        break
            self.phase_version += 1


class LiveModel:
    """The runs on screen: live ones streaming from workers and stored ones read from a session."""

    def __init__(self) -> None:
        self.runs: dict[str, RunSeries] = {}
        self._inbox: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self.version = 0  # bumps when runs are added or removed, so views rebuild their curves
        self.events_applied = 0

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
        self.runs.clear()
        self._inbox.clear()
        self.version += 1

    def drain(self, limit: int = 500_000) -> int:
        """Apply queued events to their runs (events of runs no longer shown are dropped).

        Telemetry samples, the bulk of a fast stream, are gathered per run and appended as one
        array per metric; steps and phases go through `RunSeries.apply` in order."""
        n = 0
        inbox, runs = self._inbox, self.runs
        pending: dict[str, dict[str, list[float]]] = {}
        metrics = tuple(SAMPLE_METRICS.items())
        while inbox and n < limit:
            run_id, event = inbox.popleft()
            n += 1
            kind = event["type"]
            if kind == "_begin":
                self.add_run(run_id, event["framework"], event["label"], event["expected_steps"])
                continue
            run = runs.get(run_id)
            if run is None:
                continue
            if kind != "sample":
                run.apply(event)
                continue
            cols = pending.get(run_id)
            if cols is None:
                cols = pending[run_id] = {name: [] for name, _ in metrics}
                cols.update({f"{name}:t": [] for name, _ in metrics})
            t = event["t"]
            for name, (source, scale) in metrics:
                value = event.get(source)
                if value is not None:
                    cols[name].append(value * scale)
                    cols[f"{name}:t"].append(t)
        for run_id, cols in pending.items():
            run = runs.get(run_id)
            if run is None:
                continue
            for name, _ in metrics:
                if cols[name]:
                    run.series[name].extend(np.asarray(cols[f"{name}:t"], dtype=float), np.asarray(cols[name], dtype=float))
                    run.last_t = max(run.last_t, cols[f"{name}:t"][-1])
        self.events_applied += n
        return n

    def add_stored(self, run_id: str, framework: str, label: str, steps: dict[str, np.ndarray],
                   samples: dict[str, np.ndarray], phases: list[dict[str, Any]]) -> RunSeries:
        """Show a run read back from a session file, with the same curves as when it streamed."""
        run = self.add_run(run_id, framework, label, len(steps.get("t", ())))
        for edge in phases:
            run.apply({"type": "phase", "t": edge["t"], "name": edge["name"], "edge": edge["edge"]})
        t = np.asarray(steps.get("t", ()), dtype=float)
        if len(t):
            for name in STEP_METRICS:
                y = np.asarray(steps[name], dtype=float)
                ok = np.isfinite(y)
                run.series[name].extend(t[ok], y[ok])
            run.steps_done, run.last_t = len(t), float(t.max())
        st = np.asarray(samples.get("t", ()), dtype=float)
        if len(st):
            for name, (source, scale) in SAMPLE_METRICS.items():
                y = np.asarray(samples.get(source, np.full(len(st), np.nan)), dtype=float) * scale
                ok = np.isfinite(y)
                run.series[name].extend(st[ok], y[ok])
            run.last_t = max(run.last_t, float(st.max()))
        return run
