"""Where a trace's op time went, family by family (`traces.op_families`): per family its self
time in the step windows, per step, its share, its op count and its top ops.

Only the events that do the work count, each by its self time, so nothing is counted twice:
the device's kernels and copies when the trace has device work (else its device XLA ops), or
else the CPU's op events (framework ops, XLA ops). Step markers, annotations, Python frames and
runtime events are containers or waiting, not ops, and stay out; what the classifier does not
know stays visible as "other" with its top names.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.analysis import step_windows
from traces.devices import device_kind
from traces.hlo_modules import HloIndex
from traces.op_families import FAMILIES, OPAQUE_FUSION, TORCH_COMPILE_WRAPPER, op_family
from traces.op_vocabulary import OTHER
from traces.self_time import self_times
from traces.table import INSTANT, KIND_NAMES, EventTable, Kind

OPTIMIZER_SPAN = "Optimizer.step#"  # torch.optim's profile hook: Optimizer.step#Adam.step
TOP_OPS = 5


@dataclass(frozen=True)
class FamilyOp:
    name: str
    kind: str
    count: int
    self_ns: int


@dataclass(frozen=True)
class FamilyRow:
    """One family: its self time (all steps, and per step in `FamilyBreakdown.steps` order),
    its share of all the op time counted, its op count and its biggest ops."""

    family: str
    self_ns: int
    share: float
    count: int
    per_step_ns: tuple[int, ...]
    top_ops: tuple[FamilyOp, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "self_ms": self.self_ns / 1e6, "share": self.share, "count": self.count,
                "per_step_ms": [t / 1e6 for t in self.per_step_ns],
                "top_ops": [{"name": o.name, "kind": o.kind, "count": o.count, "self_ms": o.self_ns / 1e6}
                            for o in self.top_ops]}


@dataclass
class FamilyBreakdown:
    """Every family of `FAMILIES` in that order (zero ones too, so two traces line up), the
    step windows counted (empty: the whole trace, it has no step markers) and their wall time,
    and on which events it was measured (`basis`)."""

    rows: list[FamilyRow]
    steps: tuple[int, ...]
    step_ns: tuple[int, ...]
    basis: str
    notes: list[str] = field(default_factory=list)

    @property
    def total_ns(self) -> int:
        return sum(r.self_ns for r in self.rows)

    def row(self, family: str) -> FamilyRow:
        return next(r for r in self.rows if r.family == family)

    def shares(self) -> dict[str, float]:
        return {r.family: r.share for r in self.rows}

    def to_dict(self) -> dict[str, Any]:
        return {"basis": self.basis, "steps": list(self.steps), "step_ms": [t / 1e6 for t in self.step_ns],
                "op_ms": self.total_ns / 1e6, "notes": list(self.notes), "families": [r.to_dict() for r in self.rows]}


def work_events(table: EventTable) -> tuple[npt.NDArray[np.bool_], str]:
    """The events that do the work (see the module docstring), and what they are, in words."""
    timed = (table.flags & INSTANT) == 0
    device_rows = np.array([r.device for r in table.rows], dtype=bool)
    on_device = device_rows[table.row] if len(device_rows) else np.zeros(len(table), bool)
    kinds = table.kind
    if ((kinds == Kind.KERNEL) & on_device).any():
        mask = on_device & np.isin(kinds, (Kind.KERNEL, Kind.MEMCPY))
        return mask & timed, f"device kernels and copies ({device_kind(table)})"
    if ((kinds == Kind.HLO_OP) & on_device).any():
        mask = on_device & np.isin(kinds, (Kind.HLO_OP, Kind.MEMCPY))
        return mask & timed, f"XLA ops on the {device_kind(table)} (its op lines)"
    mask = ~on_device & np.isin(kinds, (Kind.FRAMEWORK_OP, Kind.HLO_OP))
    return mask & timed, "op events on the CPU (framework ops and XLA ops; no device work in this trace)"


def in_optimizer_step(table: EventTable) -> npt.NDArray[np.bool_]:
    """Events inside a PyTorch `Optimizer.step#...` span on the same row, and device work that
    such an event launched (`traces.launch_links`)."""
    inside = np.zeros(len(table), bool)
    ids = [i for i, s in enumerate(table.strings) if s.startswith(OPTIMIZER_SPAN)]
    spans = np.flatnonzero(np.isin(table.name, ids) & (table.kind == Kind.ANNOTATION)) if ids else np.empty(0, np.intp)
    for row in np.unique(table.row[spans]).tolist():
        here = spans[table.row[spans] == row]
        starts, ends = table.start_ns[here], table.end_ns[here]
        order = np.argsort(starts)
        starts, ends = starts[order], np.maximum.accumulate(ends[order])
        on_row = np.flatnonzero(table.row == row)
        k = np.searchsorted(starts, table.start_ns[on_row], side="right") - 1
        ok = k >= 0
        ok[ok] = table.end_ns[on_row[ok]] <= ends[k[ok]]
        inside[on_row[ok]] = True
    inside[spans] = False
    if len(table.link_src) and inside.any():
        inside[table.link_dst[inside[table.link_src]]] = True
    return inside


def family_breakdown(table: EventTable, steps: Iterable[int] | None = None, hlo: HloIndex | None = None,
                     top: int = TOP_OPS) -> FamilyBreakdown:
    """Per family, the self time of the work events in the chosen step windows (`steps`: step
    numbers, default all of them; the whole trace when it has no step markers). `hlo`: the
    XPlane's HLO modules, which say what opaque XLA ops hold."""
    work, basis = work_events(table)
    numbers, lo, hi = step_windows(table)
    notes: list[str] = []
    if len(numbers):
        order = np.argsort(numbers, kind="stable")
        numbers, walls = numbers[order], (hi - lo)[order]
        if steps is not None:
            keep = np.isin(numbers, np.fromiter(steps, np.int64))
            numbers, walls = numbers[keep], walls[keep]
        work &= np.isin(table.step, numbers)
    else:
        walls = np.empty(0, np.int64)
        notes.append("no step markers: the whole trace counts as one window")
    idx = np.flatnonzero(work)
    own = self_times(table)[idx]
    optimizer = in_optimizer_step(table)[idx]
    family_of = _classify(table, idx, optimizer, hlo)
    n_fam, n_steps = len(FAMILIES), max(len(numbers), 1)
    totals = np.bincount(family_of, weights=own, minlength=n_fam)
    counts = np.bincount(family_of, minlength=n_fam)
    step_slot = np.searchsorted(numbers, table.step[idx]) if len(numbers) else np.zeros(len(idx), np.intp)
    per_step = np.bincount(family_of * n_steps + step_slot, weights=own, minlength=n_fam * n_steps).reshape(n_fam, n_steps)
    grand = float(totals.sum())
    tops = _top_ops(table, idx, family_of, own, top)
    rows = [FamilyRow(family=f, self_ns=int(totals[k]), share=float(totals[k]) / grand if grand else 0.0,
                      count=int(counts[k]), per_step_ns=tuple(int(v) for v in per_step[k]) if len(numbers) else (),
                      top_ops=tops.get(k, ())) for k, f in enumerate(FAMILIES)]
    notes.extend(_notes(table, idx, family_of, own, hlo, grand))
    if optimizer.any():
        notes.append("ops inside PyTorch's Optimizer.step spans (and the kernels they launched) count as optimizer update")
    return FamilyBreakdown(rows, tuple(int(s) for s in numbers), tuple(int(w) for w in walls), basis, notes)


def _classify(table: EventTable, idx: npt.NDArray[np.intp], optimizer: npt.NDArray[np.bool_],
              hlo: HloIndex | None) -> npt.NDArray[np.intp]:
    """Family index per event, classifying each distinct (name, kind, arguments, in optimizer) once."""
    if not len(idx):
        return np.zeros(0, np.intp)
    width = len(table.strings) + 1  # names and argument sets both index the string table (-1: none)
    kind = table.kind[idx].astype(np.int64)
    key = ((table.name[idx].astype(np.int64) + 1) * width + table.args[idx] + 1) * 512 + kind * 2 + optimizer
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    family_index = {f: k for k, f in enumerate(FAMILIES)}
    out = np.empty(len(uniq), np.intp)
    for j, (code, at) in enumerate(zip(uniq.tolist(), idx[first].tolist(), strict=True)):
        args = table.event_args(at)
        name_id, kind, in_opt = code // 512 // width - 1, code % 512 // 2, code % 2
        op = hlo.find(str(args.get("hlo_module", "")), str(args["hlo_op"])) if hlo is not None and "hlo_op" in args else None
        out[j] = family_index[op_family(table.string(name_id), Kind(kind), args, op, bool(in_opt))]
    result: npt.NDArray[np.intp] = out[inverse.ravel()]
    return result


def _top_ops(table: EventTable, idx: npt.NDArray[np.intp], family_of: npt.NDArray[np.intp], own: npt.NDArray[np.int64],
             top: int) -> dict[int, tuple[FamilyOp, ...]]:
    if not len(idx):
        return {}
    width = len(table.strings) + 1
    key = (family_of.astype(np.int64) * width + table.name[idx] + 1) * 256 + table.kind[idx]
    uniq, inverse = np.unique(key, return_inverse=True)
    sums = np.bincount(inverse, weights=own)
    counts = np.bincount(inverse)
    out: dict[int, list[FamilyOp]] = {}
    for j in np.lexsort((uniq, -sums)).tolist():
        k = int(uniq[j]) // 256 // width
        if len(out.setdefault(k, [])) < top:
            name_id = int(uniq[j]) // 256 % width - 1
            out[k].append(FamilyOp(table.string(name_id), KIND_NAMES[Kind(int(uniq[j]) % 256)], int(counts[j]), int(sums[j])))
    return {k: tuple(v) for k, v in out.items()}


def _notes(table: EventTable, idx: npt.NDArray[np.intp], family_of: npt.NDArray[np.intp], own: npt.NDArray[np.int64],
           hlo: HloIndex | None, grand: float) -> list[str]:
    """What a reader must know to trust the split: which ops needed the HLO modules, and whether they were there."""
    notes = []
    name_ids = np.unique(table.name[idx])
    opaque_ids = [n for n in name_ids.tolist() if OPAQUE_FUSION.match(table.string(n))]
    opaque = np.isin(table.name[idx], opaque_ids)
    other = family_of == FAMILIES.index(OTHER)
    if (opaque & other).any() and grand:
        share = 100 * float(own[opaque & other].sum()) / grand
        notes.append(f"{share:.1f} % of the op time is in XLA:CPU library fusions (ynn_fusion, ...) counted as other: "
                     "only the HLO modules of the run's XPlane say what they hold, and they were not available")
    compiled = [n for n in name_ids.tolist() if TORCH_COMPILE_WRAPPER.match(table.string(n))]
    if compiled and not any(table.string(n).startswith("cpp_fused_") for n in name_ids.tolist()):
        notes.append("torch.compile'd code on the CPU: Inductor's fused C++ kernels record no profiler events (unless "
                     "TORCHINDUCTOR_CPP_ENABLE_KERNEL_PROFILE=1), so their time is in no family")
    if hlo is not None and len(hlo):
        notes.append(f"XLA ops classified by what their HLO holds ({len(hlo.modules)} modules from the XPlane)")
    return notes
