"""The capture size guard: before a trace window starts, estimate what it will write and keep it
under the limits that break the framework's own profiler, instead of handing the user a trace that
was silently cut or lost.

The limits (`limits_for`), where each comes from, and what the profiler does past it:

- jax: 1,000,000 complete events in `<host>.trace.json.gz`; later events dropped, silently. tsl's
  `GetTraceViewerMaxEvents` + `CapEvents` (xla/tsl/profiler/convert/xplane_to_trace_events.cc);
  measured with jaxlib 0.10.2: exactly 1,000,000 of 1,200,000 kept.
- jax, tf: 5,000,000 XEvents through xprof's non-streaming trace_viewer (TensorBoard, and any reader
  converting through it); later events dropped, silently. Measured, xprof 2.24.2: 5,000,000 of 5,100,000.
- jax, tf: an XPlane of 2 GiB - 1 bytes: protobuf refuses to serialize a larger message ("exceeded
  maximum protobuf size of 2GB"), and tsl's `WriteBinaryProto` (xla/tsl/platform/env.cc) ignores that
  and writes the empty string: a 0-byte XPlane, success reported.
- torch on CUDA: 128 MiB of CUPTI activity buffers (Kineto's `kDefaultActivitiesMaxGpuBufferSize`);
  past it Kineto stops device collection ("Exceeded max GPU buffer count") and torch warns that it
  "stopped early". Counted as device records at an assumed 200 bytes each (about 671,000); not
  measured here (no GPU).

`TF_PROFILER_TRACE_VIEWER_MAX_EVENTS` (tsl's own override) moves both event caps. torch.profiler on a
CPU writes its Chrome JSON with no cap, so nothing is sized there. For tests (and users who know
better), `STEPSCOPE_TRACE_EVENT_LIMIT` / `STEPSCOPE_TRACE_BYTE_LIMIT` add a limit on a window's events
/ artifact bytes for any framework.

The estimate is measured on this run: a sizing capture of one step with the same hook and options
right before the window (its files counted, then deleted), times the window's steps. It leans high:
the capture's fixed part (metadata, HLO) counts once per step, which inflates only windows far below a
limit; measured 1.00-1.08x the real window's events (mlp and convnet, 4-5 steps; the tests hold
0.9-1.25x). On the 2-core CPU (batch 8) sizing costs 3-15 ms of profiler start/stop/export/count plus
one step for jax, 3-4 ms plus one step for tf, 15-40 ms plus two steps for torch (its schedule's
warm-up step). A window too short to reach any limit at RATE_BOUND events a
second is not sized.
"""
from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from profilers.artifact_checks import (
    PROTOBUF_MAX_BYTES,
    TRACE_VIEWER_CAP_ENV,
    artifact_problem,
    count_chrome,
    count_xplane,
    trace_json_cap,
)
from profilers.hooks import Artifact, ArtifactError, TraceHook, run_window

MARGIN = 0.8  # a shrunk window aims at 80 % of the limit: steps vary, and the estimate is per step
RATE_BOUND = 10_000_000  # events per second of window no profiler here comes near (TF's busiest: ~52 k/s measured)
BYTES_PER_EVENT_BOUND = 512  # an XPlane event with its stats; measured here: ~40 bytes
XPROF_TRACE_VIEWER_CAP = 5_000_000  # xprof 2.24.2's default cap, measured
CUPTI_BUFFER_BYTES = 128 << 20
CUPTI_RECORD_BYTES = 200  # assumed upper size of one CUPTI activity record
EVENT_LIMIT_ENV = "STEPSCOPE_TRACE_EVENT_LIMIT"
BYTE_LIMIT_ENV = "STEPSCOPE_TRACE_BYTE_LIMIT"
SIZING_DIR = "trace-sizing"


MEASURE_WORDS = {"chrome_events": "events", "xplane_events": "events", "events": "events", "xplane_bytes": "bytes of XPlane",
                 "artifact_bytes": "bytes", "device_records": "CUPTI records"}


@dataclass(frozen=True)
class Limit:
    name: str  # what the event and the messages call it
    measure: str  # the Footprint field it bounds
    value: int
    breaks: str  # what happens past it, as a clause: "jax.profiler drops ..."


@dataclass(frozen=True)
class Footprint:
    """What a capture of `steps` recorded steps wrote."""

    steps: int
    chrome_events: int = 0  # complete events of its Chrome trace, where it wrote one
    xplane_events: int = 0
    xplane_bytes: int = 0
    artifact_bytes: int = 0
    device_records: int = 0  # events CUPTI recorded (torch on CUDA)

    @property
    def events(self) -> int:
        return self.chrome_events or self.xplane_events

    def per_step(self, measure: str) -> float:
        return float(getattr(self, measure)) / self.steps


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def limits_for(framework: str, device_kind: str) -> list[Limit]:
    """The limits a trace window of `framework` on `device_kind` must stay under (the table above)."""
    limits: list[Limit] = []
    viewer_cap = _env_int(TRACE_VIEWER_CAP_ENV) or XPROF_TRACE_VIEWER_CAP
    if framework == "jax":
        limits.append(Limit("jax.profiler's event cap on its Chrome trace", "chrome_events", trace_json_cap(),
                            "jax.profiler drops the latest events from its <host>.trace.json.gz"))
    if framework in ("jax", "tf"):
        limits.append(Limit("xprof's trace_viewer event cap", "xplane_events", viewer_cap,
                            "TensorBoard's trace viewer (xprof) drops the latest events"))
        limits.append(Limit("protobuf's 2 GiB message limit", "xplane_bytes", PROTOBUF_MAX_BYTES,
                            "the profiler writes a 0-byte XPlane and reports success"))
    if framework == "torch" and device_kind == "gpu":
        limits.append(Limit("Kineto's 128 MiB CUPTI buffer", "device_records", CUPTI_BUFFER_BYTES // CUPTI_RECORD_BYTES,
                            "Kineto stops collecting device activity part-way through the window"))
    if (events := _env_int(EVENT_LIMIT_ENV)) is not None:
        limits.append(Limit(f"{EVENT_LIMIT_ENV}", "events", events, "this run set it as a limit"))
    if (size := _env_int(BYTE_LIMIT_ENV)) is not None:
        limits.append(Limit(f"{BYTE_LIMIT_ENV}", "artifact_bytes", size, "this run set it as a limit"))
    return limits


def could_reach(limits: list[Limit], window_s: float) -> bool:
    """Whether a window of `window_s` seconds could reach any limit even at RATE_BOUND events a second
    (BYTES_PER_EVENT_BOUND each); if not, sizing it would cost time for nothing."""
    events = window_s * RATE_BOUND
    for limit in limits:
        bound = events * BYTES_PER_EVENT_BOUND if limit.measure.endswith("bytes") else events
        if bound > limit.value * MARGIN:
            return True
    return False


def footprint(artifacts: list[Artifact], steps: int) -> Footprint:
    """Count a sizing capture's files. A 0-byte XPlane has one known cause, a step past 2 GiB, so it
    counts as that; any other damage is a ValueError (the capture cannot be sized)."""
    counts: dict[str, int] = {"artifact_bytes": 0}
    for artifact in artifacts:
        size = artifact.size
        counts["artifact_bytes"] += size
        if artifact.kind == "xplane" and size == 0:
            counts["xplane_bytes"] = PROTOBUF_MAX_BYTES
            continue
        problem = artifact_problem(artifact.kind, artifact.path)
        if problem:
            raise ValueError(problem)
        if artifact.kind == "xplane":
            counts["xplane_events"] = counts.get("xplane_events", 0) + count_xplane(artifact.path)
            counts["xplane_bytes"] = counts.get("xplane_bytes", 0) + size
        else:
            chrome = count_chrome(artifact.path)
            counts["chrome_events"] = counts.get("chrome_events", 0) + chrome.events
            counts["device_records"] = counts.get("device_records", 0) + chrome.device_records
    return Footprint(steps=steps, **counts)


@dataclass(frozen=True)
class Decision:
    action: str  # fits, shrunk, warned, no-window, unsized
    steps_requested: int
    steps: int  # the window's recorded steps now (0: no window)
    limit: Limit | None  # the limit crossed (or, when it fits, the nearest one)
    estimate: int  # of that limit's measure, for the requested window
    message: str

    def event_fields(self, sizing: Footprint | None, cost_s: float) -> dict[str, Any]:
        per_step = {f.name: round(sizing.per_step(f.name), 1) for f in fields(sizing) if f.name != "steps"} if sizing else {}
        return {"action": self.action, "steps_requested": self.steps_requested, "steps": self.steps,
                "limit": self.limit.name if self.limit else "", "limit_value": self.limit.value if self.limit else 0,
                "estimate": self.estimate, "message": self.message, "per_step": per_step,
                "sizing_cost_s": round(cost_s, 3)}


def decide(steps: int, sizing: Footprint, limits: list[Limit], mode: str) -> Decision:
    """The window for `steps` recorded steps given the per-step footprint: kept, shrunk to the most
    steps that fit under MARGIN x the tightest limit crossed, or (mode `warn`) kept with a warning."""
    ranked = sorted(limits, key=lambda lim: steps * sizing.per_step(lim.measure) / lim.value, reverse=True)
    if not ranked:
        return Decision("fits", steps, steps, None, 0, "no limit applies")
    nearest = ranked[0]
    estimate = math.ceil(steps * sizing.per_step(nearest.measure))
    what = MEASURE_WORDS[nearest.measure]
    said = f"{steps} steps would write about {estimate:,} {what} against {nearest.name} of {nearest.value:,}"
    if estimate <= nearest.value * MARGIN:
        return Decision("fits", steps, steps, nearest, estimate, f"{said}: fits")
    fit = min(_fitting_steps(sizing, lim) for lim in ranked if steps * sizing.per_step(lim.measure) > lim.value * MARGIN)
    past = f"{said}, past {MARGIN:.0%} of it (past it, {nearest.breaks})"
    if mode == "warn":
        return Decision("warned", steps, steps, nearest, estimate, f"{past}; the full window runs as asked (--trace-guard warn)")
    if fit < 1:
        return Decision("no-window", steps, 0, nearest, estimate, f"{past}; even one step would, so no trace window runs")
    return Decision("shrunk", steps, fit, nearest, estimate, f"{past}; the window was shrunk to {fit} steps")


def _fitting_steps(sizing: Footprint, limit: Limit) -> int:
    per_step = sizing.per_step(limit.measure)
    return int(limit.value * MARGIN // per_step) if per_step > 0 else 1 << 30


def guard_window(spec_steps: int, mode: str, framework: str, device_kind: str, median_step_s: float,
                 make_hook: Callable[[Path, int, bool], TraceHook], out_dir: Path, with_stack: bool,
                 run_step: Callable[[int], object], first_index: int, emit: Callable[..., None]) -> tuple[int, int]:
    """Size the window when a limit could be reached, emit a `trace_guard` event with the decision,
    and return (the window's recorded steps, the next step index). The sizing steps are not `step`
    events: they belong to no phase's figures, and the event says how many ran."""
    limits = limits_for(framework, device_kind)
    if mode == "off" or not limits or not could_reach(limits, spec_steps * median_step_s):
        return spec_steps, first_index
    started = time.perf_counter()
    sizing_dir = out_dir / SIZING_DIR
    try:
        hook = make_hook(sizing_dir, 1, with_stack)
        index = run_window(hook, run_step, first_index)
        try:
            sizing: Footprint | None = footprint(hook.artifacts(), 1)
            problem = ""
        except (ValueError, OSError, ArtifactError) as exc:
            sizing, problem = None, str(exc)
    finally:
        shutil.rmtree(sizing_dir, ignore_errors=True)
    cost = time.perf_counter() - started
    if sizing is None:
        message = f"the sizing capture could not be counted ({problem}); the window runs as asked, unguarded"
        decision = Decision("unsized", spec_steps, spec_steps, None, 0, message)
    else:
        decision = decide(spec_steps, sizing, limits, mode)
    emit("trace_guard", **decision.event_fields(sizing, cost), sizing_steps=index - first_index)
    print(f"stepscope worker: trace guard ({decision.action}): {decision.message}", file=sys.stderr)  # the run's log
    return decision.steps, index
