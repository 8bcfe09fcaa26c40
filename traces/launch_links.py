"""Which CPU call launched each device event, so device work counts in the step whose code
launched it rather than the step its GPU start time falls in: the GPU runs behind the CPU, and
by start time the kernels of the last step fall after every step window and vanish from the
per-step figures (13-19 % of kernel time on real multi-GPU traces).

The link, as producers write it (read from the trace, never guessed from times):

- Kineto (torch.profiler): `args.correlation` on the runtime call (cudaLaunchKernel,
  cudaMemcpyAsync, hipLaunchKernel, ...) and on the kernel / copy / set / sync it caused, the
  CUPTI (or roctracer) correlation id (`CuptiActivity.cpp` metadataJson). It also writes flow
  events `{"ph": "s"|"f", "cat": "ac2g", "id": N}` bound to the same two events (output_json.cpp
  `handleLink`: the flow's pid, tid and ts are those of the event it binds, "f" with `bp: "e"`);
  older or other producers have only the flows, so they are the fallback.
- xprof's trace_viewer conversion of XPlanes writes every XStat as an argument, so GPU events
  and the host launch carry `correlation_id` (read as `correlation`), and flows as Perfetto's
  flow v2 (`bind_id` with `flow_out` / `flow_in` on the complete events themselves).

At read time each file's links become dense group ids (`link_ids`, only for traces with device
events or flows), from the correlations and flow ids the main decode read (`Columns.links`:
a separate pass cost ~20 % of a GPU trace's read); xprof's names, and files only the checking
path reads, take one pass of msgspec over the file with a four-field struct. The builder
turns them into (launch, device event) index pairs on the finished table (`pair_links`), which
the table keeps sparsely (`EventTable.link_src` / `link_dst`, 8 bytes per linked device event)
and `assign_steps` follows (`launch_steps`). `flags` records how each device event was placed
(LAUNCH_LINK, VIA_FLOW), so the step breakdown can say it (`attribution`).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from traces.decode import Columns
from traces.json_decoders import FLOW_PHASES, NO_ID, link_id, msgspec
from traces.table import EventTable, Kind

LAUNCH_LINK = 2  # flags bit: a device event whose step is its launch's (not its start time's)
VIA_FLOW = 4  # flags bit, with LAUNCH_LINK: the link came from a flow event, not a correlation argument
DEVICE_CATS = {"kernel", "gpu_kernel", "device_kernel", "gpu_memcpy", "gpu_memset", "memcpy", "memset", "cuda_sync"}
Int64s = npt.NDArray[np.int64]

if msgspec is not None:  # typed ints first (C speed); Any when a producer writes ids as text, floats or null args
    _LinkArgs: Any = msgspec.defstruct("LinkArgs", [("correlation", int, NO_ID), ("correlation_id", int, NO_ID)],
                                       gc=False, frozen=True)
    _NO_ARGS = _LinkArgs()  # the default of events without args, so one C-level attrgetter reads every event
    _LinkEvent: Any = msgspec.defstruct("LinkEvent", [("id", int, NO_ID), ("bind_id", int, NO_ID),
                                                      ("args", _LinkArgs, _NO_ARGS)], gc=False)
    _LinkDoc: Any = msgspec.defstruct("LinkDoc", [("traceEvents", list[_LinkEvent])])
    _AnyArgs: Any = msgspec.defstruct("AnyLinkArgs", [("correlation", Any, None), ("correlation_id", Any, None)],
                                      gc=False)
    _AnyEvent: Any = msgspec.defstruct("AnyLinkEvent", [("id", Any, None), ("bind_id", Any, None),
                                                        ("args", _AnyArgs | None, None)], gc=False)
    _AnyDoc: Any = msgspec.defstruct("AnyLinkDoc", [("traceEvents", list[_AnyEvent])])
    _TYPED = msgspec.json.Decoder(_LinkDoc | list[_LinkEvent])
    _ANY = msgspec.json.Decoder(_AnyDoc | list[_AnyEvent])
    _ERRORS: tuple[type[Exception], ...] = (msgspec.ValidationError, msgspec.DecodeError, ValueError, OverflowError)


class Builder(Protocol):
    """What `add_launch_links` needs of `traces.table_builder.TableBuilder` (which imports this
    module for `pair_links`, so this one may not import it)."""

    link_groups: int


@dataclass
class _Raw:
    """Per event of the file, in file order: correlation id, flow id and flow-v2 bind id (-1: none)."""

    correlation: Int64s
    flow_id: Int64s
    bind_id: Int64s


def wanted(ukeys: Sequence[tuple[Any, ...]], process_names: dict[Any, str]) -> bool:
    """Whether a trace can hold launch links worth a second look: device events or flows."""
    if any(k[0] in FLOW_PHASES or (isinstance(k[1], str) and k[1].lower() in DEVICE_CATS) for k in ukeys):
        return True
    return any(str(p).startswith("/device:GPU") for p in process_names.values())


def _decode(data: bytes | bytearray, n: int, xla: bool) -> _Raw | None:
    """The link fields of every event (None: the file does not decode to `n` events). `xla`:
    xprof's names (correlation_id, bind_id) are read too; Kineto writes only the others."""
    if msgspec is None:
        return _decode_stdlib(data, n)
    none = np.full(n, NO_ID, np.int64)
    try:
        doc = _TYPED.decode(data)
        events = doc if isinstance(doc, list) else doc.traceEvents
        if len(events) != n:
            return None
        columns = [np.fromiter(map(attrgetter(f), events), np.int64, n)
                   for f in ("args.correlation", "id", *(("args.correlation_id", "bind_id") if xla else ()))]
    except _ERRORS:  # ids as text or floats, or past int64, or "args": null: read them as Any, per event
        try:
            doc = _ANY.decode(data)
        except _ERRORS:
            return _decode_stdlib(data, n)
        events = doc if isinstance(doc, list) else doc.traceEvents
        if len(events) != n:
            return None
        args = list(map(attrgetter("args"), events))
        columns = [np.fromiter(map(link_id, values), np.int64, n) for values in (
            map(getattr, args, repeat("correlation"), repeat(None)), map(attrgetter("id"), events),
            map(getattr, args, repeat("correlation_id"), repeat(None)), map(attrgetter("bind_id"), events))]
    corr, flow, corr_id, bind = (*columns, none, none) if len(columns) == 2 else columns
    corr = np.where(corr >= 0, corr, corr_id)
    return _Raw(np.maximum(corr, NO_ID), np.maximum(flow, NO_ID), np.maximum(bind, NO_ID))


def _decode_stdlib(data: bytes | bytearray, n: int) -> _Raw | None:
    """The same from the standard library's JSON (no msgspec, or a file only it reads)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    events = doc.get("traceEvents") if isinstance(doc, dict) else doc
    if not isinstance(events, list) or len(events) != n:
        return None
    corr, flow, bind = (np.full(n, NO_ID, np.int64) for _ in range(3))
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            continue
        args = ev.get("args")
        if isinstance(args, dict):
            c = link_id(args.get("correlation"))
            corr[i] = c if c >= 0 else link_id(args.get("correlation_id"))
        flow[i], bind[i] = link_id(ev.get("id")), link_id(ev.get("bind_id"))
    return _Raw(corr, flow, bind)


def link_ids(data: bytes | bytearray, ukeys: Sequence[tuple[Any, ...]], code: npt.NDArray[np.intp],
             ts_us: npt.NDArray[np.float64], dur_us: npt.NDArray[np.float64], keep: npt.NDArray[np.intp] | None, base: int,
             notes: list[str], xla: bool = False,
             links: tuple[Int64s, ...] | None = None) -> tuple[Int64s, npt.NDArray[np.bool_], int] | None:
    """Per kept event (`keep`: the file's indices of the complete and instant events the table
    gets; None: all), its link group (`base` + a dense id, -1: none) and whether the group came
    from a flow; and how many group ids were used. Correlation arguments win over flows; None
    when the file holds no link at all. `links`: the correlations and flow ids the decode read
    (`Columns.links`), which spare a pass over the file; xprof's (`xla`) are read by that pass
    unless `links` holds them too (`Columns.xla_links`: correlations, flow ids, bind ids)."""
    n = len(code)
    if links is None or (xla and len(links) < 3):
        raw = _decode(data, n, xla)
    else:
        none = np.broadcast_to(np.int64(NO_ID), (n,))  # no bind ids: a view, no memory
        raw = _Raw(links[0], links[1], links[2] if len(links) > 2 else none)
    if raw is None:
        notes.append("could not read the launch links (correlation, flows): device work is put in steps by start time")
        return None
    kept = np.arange(n) if keep is None else keep
    corr = raw.correlation[kept]
    u_device = np.array([isinstance(k[1], str) and k[1].lower() in DEVICE_CATS for k in ukeys], bool)
    flows = not (corr >= 0).any() or bool((corr[u_device[code[kept]]] < 0).any())  # only where correlations leave a gap
    binds = raw.bind_id.strides != (0,) and bool((raw.bind_id >= 0).any())  # strides (0,): `none`, no bind ids
    if not flows and not binds:  # Kineto's usual case: every device event has its correlation
        out = np.full(len(kept), NO_ID, np.int64)
        linked = np.flatnonzero(corr >= 0)
        inverse, used = dense_ids(corr[linked])
        out[linked] = base + inverse
        return out, np.zeros(len(kept), bool), used
    group_ns = np.full(len(kept), NO_ID, np.int64)  # 0: correlation, 1: flow v2 bind id, 2+: a flow category
    group_val = np.full(len(kept), NO_ID, np.int64)
    if binds:
        bind = raw.bind_id[kept]
        has = bind >= 0
        group_ns[has], group_val[has] = 1, bind[has]
        del bind, has  # temporaries of a column each go as soon as they are used: a big trace's read peaks here
    if flows:
        _bind_flows(raw, ukeys, code, ts_us, dur_us, kept, group_ns, group_val)
    has = corr >= 0
    group_ns[has], group_val[has] = 0, corr[has]
    del corr, has
    linked = np.flatnonzero(group_ns >= 0)
    out = np.full(len(kept), NO_ID, np.int64)
    if not len(linked):
        return None
    used = 0
    for ns in np.flatnonzero(np.bincount(group_ns[linked])).tolist():  # a few: correlation, bind ids, flow categories
        sel = linked[group_ns[linked] == ns]
        inverse, unique = dense_ids(group_val[sel])
        out[sel] = base + used + inverse
        used += unique
    return out, group_ns > 0, used


def dense_ids(values: Int64s) -> tuple[Int64s, int]:
    """Each value's rank among the distinct values (np.unique's `inverse`) and how many there are.
    Ids are non-negative and, as Kineto and xprof number them, dense: a presence map over their
    range is one linear pass where np.unique sorts (~0.3 s on a 2 GB trace's 3 M ids); ids
    spread too thin for a map are sorted."""
    if not len(values):
        return values.copy(), 0
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if low < 0 or span > max(4 * len(values), 1 << 20):
        uniq, inverse = np.unique(values, return_inverse=True)
        return inverse.astype(np.int64, copy=False), len(uniq)
    offsets = values - low
    present = np.zeros(span, bool)
    present[offsets] = True
    rank = np.cumsum(present, dtype=np.int64)
    return rank[offsets] - 1, int(rank[-1])


def _bind_flows(raw: _Raw, ukeys: Sequence[tuple[Any, ...]], code: npt.NDArray[np.intp], ts_us: npt.NDArray[np.float64],
                dur_us: npt.NDArray[np.float64], kept: npt.NDArray[np.intp], group_ns: Int64s, group_val: Int64s) -> None:
    """Chrome flow events ("s" / "t" / "f") bound to the kept event they point at: on the same
    thread, the innermost one enclosing the flow's ts (Kineto writes the bound event's own ts),
    else the next one to start (the binding a flow end without `bp: "e"` has). Times compare
    as the file wrote them (µs), so the match is exact whatever the ns conversion does."""
    u_flow = np.array([k[0] in FLOW_PHASES for k in ukeys], bool)
    flows = np.flatnonzero(u_flow[code] & (raw.flow_id >= 0))
    if not len(flows) or not len(kept):
        return
    threads: dict[tuple[Any, Any], int] = {}
    u_thread = np.array([threads.setdefault((k[3], k[4]), len(threads)) for k in ukeys], np.int64)
    categories: dict[Any, int] = {}
    u_cat = np.array([2 + categories.setdefault(k[1], len(categories)) for k in ukeys], np.int64)
    ev_thread, ev_ts = u_thread[code[kept]], ts_us[kept]
    ev_end = ev_ts + np.nan_to_num(dur_us[kept], nan=0.0)
    order = np.lexsort((-ev_end, ev_ts, ev_thread))  # per thread by start; at equal starts the shortest last
    sorted_thread = ev_thread[order]
    fl_thread = u_thread[code[flows]]
    for t in np.unique(fl_thread).tolist():
        lo, hi = np.searchsorted(sorted_thread, [t, t + 1])
        on = order[lo:hi]
        mine = flows[fl_thread == t]
        if not len(on):
            continue
        starts = ev_ts[on]
        pos = np.searchsorted(starts, ts_us[mine], side="right") - 1
        enclosing = (pos >= 0) & (ev_end[on[np.maximum(pos, 0)]] >= ts_us[mine])
        nxt = np.minimum(pos + 1, len(on) - 1)
        target = np.where(enclosing, pos, np.where(starts[nxt] >= ts_us[mine], nxt, NO_ID))
        ok = target >= 0
        bound = on[target[ok]]
        group_ns[bound] = u_cat[code[mine[ok]]]
        group_val[bound] = raw.flow_id[mine[ok]]


def pair_links(table: EventTable, link: Int64s) -> None:
    """(launch, device event) index pairs of the finished table from the per-event group ids:
    the launch is the group's earliest event on a host row, every event of the group on a
    device row is launched by it. Marks the linked device events LAUNCH_LINK (VIA_FLOW kept
    only on them)."""
    via = (table.flags & VIA_FLOW) != 0
    table.flags &= np.uint8(0xFF ^ (LAUNCH_LINK | VIA_FLOW))
    idx = np.flatnonzero(link >= 0)
    if not len(idx) or not table.rows:
        return
    device_rows = np.array([r.device for r in table.rows], bool)
    on_device = device_rows[table.row[idx]]
    host, dev = idx[~on_device], idx[on_device]
    dst, src = _launches(table.start_ns, link, host, dev)
    table.link_dst, table.link_src = dst.astype(np.int32), src.astype(np.int32)
    table.flags[table.link_dst] |= np.uint8(LAUNCH_LINK)
    table.flags[table.link_dst[via[table.link_dst]]] |= np.uint8(VIA_FLOW)


def _launches(start_ns: Int64s, link: Int64s, host: npt.NDArray[np.intp],
              dev: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The device events (`dev`) whose group has a host event, and each one's launch: the
    group's host event (`host`, in index order) that starts first, the first of equal starts.
    Groups are dense ids (`link_ids`), so where the host events are in start order (a finished
    table's are) that is the smallest index per group, found through a map over the ids in
    one pass; else by sorting."""
    h_link, d_link = link[host], link[dev]
    size = int(max(h_link.max(initial=-1), d_link.max(initial=-1))) + 1
    h_start = start_ns[host]
    if size <= 4 * len(link) + (1 << 20) and bool(np.all(h_start[1:] >= h_start[:-1])):
        none = np.iinfo(np.int64).max
        first = np.full(size, none, np.int64)
        np.minimum.at(first, h_link, host)
        src = first[d_link]
        found = src != none
        return dev[found], src[found]
    h_order = np.lexsort((h_start, h_link))
    h_link = h_link[h_order]
    lead = np.ones(len(h_link), bool)
    lead[1:] = h_link[1:] != h_link[:-1]
    src_link, src_idx = h_link[lead], host[h_order][lead]
    pos = np.searchsorted(src_link, d_link)
    found = pos < len(src_link)
    found[found] = src_link[pos[found]] == d_link[found]
    return dev[found], src_idx[pos[found]]


def launch_steps(table: EventTable) -> None:
    """Each linked device event takes its launch's step (-1 when launched outside every step)."""
    if len(table.link_dst):
        table.step[table.link_dst] = table.step[table.link_src]


@dataclass(frozen=True)
class Attribution:
    """How the device work (kernels, copies, sets on device rows) was put into steps."""

    by_correlation: int
    by_flow: int
    by_time: int
    unattributed: int  # in no step: started outside every window, or launched outside every step

    @property
    def total(self) -> int:
        return self.by_correlation + self.by_flow + self.by_time + self.unattributed

    def line(self) -> str:
        return (f"device work: {self.total:,} kernels and copies; {self.by_correlation + self.by_flow:,} attributed to "
                f"steps by their launch ({self.by_correlation:,} by correlation, {self.by_flow:,} by flow), "
                f"{self.by_time:,} by start time, {self.unattributed:,} unattributed")


def attribution(table: EventTable) -> Attribution:
    """Counts of device work by how its step was found (see Attribution)."""
    device_rows = np.array([r.device for r in table.rows], bool)
    work = np.isin(table.kind, (Kind.KERNEL, Kind.MEMCPY))
    if len(device_rows):
        work &= device_rows[table.row]
    else:
        work &= False
    flags, in_step = table.flags[work], table.step[work] >= 0
    linked = (flags & LAUNCH_LINK) != 0
    flow = (flags & VIA_FLOW) != 0
    return Attribution(by_correlation=int((linked & ~flow & in_step).sum()), by_flow=int((linked & flow & in_step).sum()),
                       by_time=int((~linked & in_step).sum()), unattributed=int((~in_step).sum()))


class StepIntervals:
    """Linked device events grouped by step, to cut out one step's part fast (the step
    breakdown counts them in their launch's step, wherever they ran)."""

    def __init__(self, table: EventTable, mask: npt.NDArray[np.bool_]) -> None:
        idx = np.flatnonzero(mask & (table.dur_ns > 0) & (table.step >= 0))
        order = np.lexsort((table.start_ns[idx], table.step[idx]))
        idx = idx[order]
        self.step = table.step[idx]
        self.start = table.start_ns[idx]
        self.end = self.start + table.dur_ns[idx]

    def within(self, step: int, lo: int, hi: int) -> tuple[Int64s, Int64s]:
        a, b = np.searchsorted(self.step, [step, step + 1])
        s, e = np.clip(self.start[a:b], lo, hi), np.clip(self.end[a:b], lo, hi)
        keep = e > s
        return s[keep], e[keep]

    def last_end(self, step: int) -> int | None:
        a, b = np.searchsorted(self.step, [step, step + 1])
        return int(self.end[a:b].max()) if b > a else None


def add_launch_links(builder: Builder, data: bytes | bytearray, cols: Columns, keep: npt.NDArray[np.intp] | None,
                     process_names: dict[Any, str], part: dict[str, np.ndarray] | None, notes: list[str]) -> None:
    """Give the complete / instant events of one file (`part`, taken at `keep`) their link
    group ids (`part["link"]`) and flag those linked by a flow, when the file can hold links."""
    if part is None or not len(part["name"]) or not wanted(cols.ukeys, process_names):
        return
    xla = any(str(p).startswith(("/host:", "/device:")) for p in process_names.values())
    got = link_ids(data, cols.ukeys, cols.code, cols.ts, cols.dur, keep, builder.link_groups, notes, xla,
                   cols.xla_links if xla and cols.xla_links is not None else cols.links)
    if got is None:
        return
    link, via_flow, used = got
    part["link"] = link
    part["flags"] = part["flags"] | (via_flow.astype(np.uint8) * np.uint8(VIA_FLOW))
    builder.link_groups += used
