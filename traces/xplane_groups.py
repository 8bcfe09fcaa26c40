"""Step names of grouping roots, as xprof's preprocessing gives them before trace_viewer
converts a file (tsl `group_events.cc`, `CreateEventGroups` / `ProcessRootEvent`): the user's
step annotations (`StepTraceAnnotation("train", step_num=2)`, `tf.profiler.Trace(..., _r=1)`)
are shown as "train 2".

The rule: roots (events with a root level, `_r`; ProcessBatch / BatchingSessionRun, which the
preprocessing marks; a legacy TraceContext) in order of level (highest first), then time,
each numbered by a running group id, unless already inside a root grouped before it or
inside a root of its own level. The name is the graph type (or the event's name) and the
step: `iter_num`, else `step_num`, else the group id. What tsl finds through its event
graph this reads from the line a root is on: a root inside another is one its time span
contains on the same line, and the step comes from the root's own stats, not its parents'.
No grouping happens when the file holds TensorFlow loop ops (tsl `CheckLoopOp`).
"""
from __future__ import annotations

import numpy as np

from traces.xplane_lines import ReadState, add
from traces.xplane_stats import cap

IMPLICIT = {"FunctionRun", "SessionRun", "RunGraph", "ExecutorState::Process"}  # no step name of their own
LOOP_OPS = {"WhileOp-EvalCond", "WhileOp-StartBody", "ForOp", "ParallelForOp", "ForeverOp"}


def finish_roots(state: ReadState, group: bool) -> None:
    """Name the roots of one file (when `group`) and add them to the builder."""
    if not state.roots:
        return
    cols = {k: _cat([r[k] for r in state.roots]) for k in ("name", "args", "argflags", "step", "start_ns", "dur_ns",
                                                           "flags", "level", "step_num", "has_step_num", "iter_num",
                                                           "has_iter_num", "graph_type", "step_id", "has_step_id")}
    rows = np.concatenate([np.full(len(r["name"]), r["row"], np.int32) for r in state.roots])
    lines = [r["line"] for r in state.roots for _ in range(len(r["name"]))]
    start_ps = [p for r in state.roots for p in r["start_ps"]]
    dur_ps = _cat([r["dur_ps"] for r in state.roots]).tolist()
    labels = [x for r in state.roots for x in r["labels"]]
    links = [r["link"] for r in state.roots]
    link = None if all(x is None for x in links) else np.concatenate(
        [x if x is not None else np.full(len(r["name"]), -1, np.int64) for x, r in zip(links, state.roots, strict=True)])
    name = cols["name"].astype(np.int32)
    tf_data = set(np.concatenate(state.tf_data).tolist()) if state.tf_data else set()
    if group and not _tf_loops(state, tf_data):
        # roots of tf.data function runs are never grouped (tsl ProcessTfDataSteps)
        levels = [0 if has and sid in tf_data else level for level, has, sid in
                  zip(cols["level"].tolist(), cols["has_step_id"].tolist(), cols["step_id"].tolist(), strict=True)]
        spans = [(lines[i], start_ps[i], start_ps[i] + dur_ps[i]) for i in range(len(name))]
        texts = state.texts.texts
        for i, group_id in _groups(levels, spans):
            graph = int(cols["graph_type"][i])
            head = f"{texts[graph]} " if graph >= 0 else "" if labels[i] in IMPLICIT else f"{labels[i]} "
            step = (int(cols["iter_num"][i]) if cols["has_iter_num"][i] else
                    int(cols["step_num"][i]) if cols["has_step_num"][i] else group_id)
            if labels[i] not in IMPLICIT or graph >= 0:
                name[i] = state.builder.intern(cap(f"{head}{step}", state.builder))
    add(state, rows, name, cols["args"].astype(np.int32), cols["argflags"].astype(np.uint8), cols["step"].astype(np.int32),
        cols["start_ns"].astype(np.int64), cols["dur_ns"].astype(np.int64), cols["flags"].astype(np.uint8), link)
    state.roots.clear()


def _tf_loops(state: ReadState, tf_data: set[int]) -> bool:
    """Whether TF executor runs form loops (a step id run for iterations other than just 0,
    tf.data's excepted): tsl then groups by loop iteration alone, and those roots (TF's own
    executor runs) get no step names."""
    iterations: dict[int, set[int]] = {}
    for run in state.loops:
        for step_id, it in zip(run["step_id"].tolist(), run["iter_num"].tolist(), strict=True):
            if step_id not in tf_data:
                iterations.setdefault(step_id, set()).add(it)
    return any(its != {0} for its in iterations.values())


def _cat(parts: list[object]) -> np.ndarray:
    return np.concatenate([np.asarray(p) for p in parts])


def _groups(levels: list[int], spans: list[tuple[tuple[int, int], int, int]]) -> list[tuple[int, int]]:
    """(root, group id) of the roots that are grouped, in tsl's order. A root is grouped when
    no root containing it on its line (the earlier one, for equal spans) has a level as high:
    one of its own level makes it skip, a higher one has grouped it already."""
    named = []
    by_line: dict[tuple[int, int], list[int]] = {}
    for i, span in enumerate(spans):
        by_line.setdefault(span[0], []).append(i)
    for members in by_line.values():
        members.sort(key=lambda i: (spans[i][1], -spans[i][2], i))
        stack: list[tuple[int, int]] = []  # (end, highest level from the outermost root down to this one)
        for i in members:
            while stack and stack[-1][0] < spans[i][2]:
                stack.pop()
            above = stack[-1][1] if stack else 0
            if above < levels[i]:
                named.append(i)
            stack.append((spans[i][2], max(above, levels[i])))
    named.sort(key=lambda i: (-levels[i], spans[i][1], i))
    return [(i, group_id) for group_id, i in enumerate(named)]
