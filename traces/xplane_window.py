"""One window of decoded XEvents (`xplane_batch.EventBatch`) turned into the table's columns,
by xprof's trace_viewer rules (`tsl/profiler/convert/xplane_to_trace_events.cc`): the name is
the metadata's display name (its full name becomes `long_name`) unless a `step_name` stat
renames the event; stats become arguments, metadata-level first; tsl's internal events
(allocator and tf.data producer/consumer markers) are not shown.

Everything is per distinct metadata id, stat value or argument combination; per event there
is only numpy. What a line's end must settle (its time base, row, and whether it is shown) is
left to `xplane_lines`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from traces.classify import HAS_HLO, HAS_STEP, HAS_TF_OP
from traces.json_decoders import link_id
from traces.table_builder import TableBuilder
from traces.xplane_batch import INT64, REF, STR, EventBatch
from traces.xplane_layout import PlaneLayout
from traces.xplane_stats import (
    CODE,
    CONSUMER,
    CORRELATION,
    GRAPH_TYPE,
    ITER_NUM,
    MEMORY,
    NAMES,
    ROOT,
    STEP_ID,
    STEP_NAME,
    STEP_NUM,
    IdTable,
    PlaneStats,
    Texts,
    args_text,
    cap,
    distinct,
    int_value,
    step_number,
)

KEEP_CODES = tuple(range(CODE["block"] + 1))  # hlo_op .. block: the arguments the table keeps
HLO, LONG_NAME, TF_OP = CODE["hlo_op"], CODE["long_name"], CODE["tf_op"]
# tsl IsInternalEvent: never shown by trace_viewer (the allocator ones feed the memory counters)
INTERNAL = {"MemoryAllocation", "MemoryDeallocation", "PrefetchProduce", "PrefetchConsume", "ParallelInterleaveProduce",
            "ParallelInterleaveConsume", "ParallelInterleaveInitializeInput", "ParallelMapProduce", "ParallelMapConsume",
            "MapAndBatchProduce", "MapAndBatchConsume", "ParseExampleProduce", "ParseExampleConsume"}
MEMORY_EVENTS = ("MemoryAllocation", "MemoryDeallocation")
REGION_START, REGION_STOP = "ThreadpoolListener::StartRegion", "ThreadpoolListener::StopRegion"
# roots the preprocessing marks (`_r`, XplaneRootEventMutatorFactory) and the legacy root
MUTATED_ROOTS = {"ProcessBatch": 2, "BatchingSessionRun": 1}
LEGACY_ROOT = "TraceContext"
EXECUTOR = "ExecutorState::Process"  # a TF executor run: its step id and loop iteration (tsl ProcessTensorFlowLoop)
TF_DATA_RUNS = ("InstantiatedCapturedFunction::Run", "InstantiatedCapturedFunction::RunWithBorrowedArgs",
                "InstantiatedCapturedFunction::RunInstantiated", "InstantiatedCapturedFunction::RunAsync")
I64 = npt.NDArray[np.int64]


@dataclass
class Window:
    """Table columns of one window's shown events (times relative to the line), and what the
    line's end and the file's end need of the rest."""

    name: npt.NDArray[np.int32]
    args: npt.NDArray[np.int32]
    argflags: npt.NDArray[np.uint8]
    step: npt.NDArray[np.int32]
    offset_ps: I64
    duration_ps: I64
    link: I64 | None
    roots: dict[str, np.ndarray] = field(default_factory=dict)  # grouping roots (xplane_groups)
    regions: dict[str, np.ndarray] = field(default_factory=dict)  # thread-pool region markers
    memory: dict[str, np.ndarray] = field(default_factory=dict)  # allocator events
    loops: dict[str, np.ndarray] = field(default_factory=dict)  # TF executor runs: step id and iteration
    tf_data: I64 | None = None  # step ids of tf.data function runs


class PlaneContext:
    """One plane's metadata as arrays, and the rules that depend on the whole read."""

    def __init__(self, plane: PlaneLayout, builder: TableBuilder, texts: Texts, preprocess: bool, links: bool,
                 host: bool) -> None:
        self.plane, self.builder, self.texts = plane, builder, texts
        self.links, self.host = links, host
        self.stats = PlaneStats(plane.stat_names, texts)
        keys = sorted(plane.events)
        metas = [plane.events[k] for k in keys]
        self._index = IdTable(np.array(keys, np.int64), np.arange(len(keys), dtype=np.int64), len(keys))
        self.labels = [m.display_name or m.name for m in metas] + [""]  # the last: an id without metadata
        self.meta_names = [m.name for m in metas] + [""]
        self.name_id = np.full(len(self.labels), -1, np.int64)
        self.hidden = np.array([m.name in INTERNAL for m in metas] + [False])
        self.memory = np.array([host and m.name in MEMORY_EVENTS for m in metas] + [False])
        names = set(self.meta_names)
        regions = preprocess and REGION_START in names and REGION_STOP in names
        self.region = np.array([(1 if m.name == REGION_START else 2 if m.name == REGION_STOP else 0) if regions else 0
                                for m in metas] + [0], np.int8)
        self.root_by_name = np.array([(MUTATED_ROOTS.get(m.name, 0) if preprocess else 0) for m in metas] + [0], np.int64)
        self.legacy_root = np.array([m.name == LEGACY_ROOT for m in metas] + [False])
        self.executor = np.array([m.name == EXECUTOR for m in metas] + [False])
        self.tf_data = np.array([m.name in TF_DATA_RUNS for m in metas] + [False])
        self.preprocess = preprocess
        # metadata-level values: code -> (text id, IntValue); long_name from a display name first
        self.meta_values: dict[int, dict[int, tuple[int, int]]] = {}
        for k, m in enumerate(metas):
            got: dict[int, tuple[int, int]] = {}
            if m.display_name:
                got[LONG_NAME] = (texts.id(m.name), 0)
            for stat_id, case, value in m.stats:
                name = plane.stat_names.get(stat_id)
                if name in CODE and case:
                    got[CODE[name]] = (self.stats.meta_text(case, value), value if case == INT64 and isinstance(value, int)
                                       else 0)
            if got:
                self.meta_values[k] = got
        self._meta_columns: dict[int, tuple[I64, I64] | None] = {}

    def meta_column(self, code: int) -> tuple[I64, I64] | None:
        """Per metadata index: the text id (-1: none) and IntValue of its value for `code`."""
        if code not in self._meta_columns:
            got = None
            if any(code in v for v in self.meta_values.values()):
                texts = np.full(len(self.labels), -1, np.int64)
                ints = np.zeros(len(self.labels), np.int64)
                for k, v in self.meta_values.items():
                    if code in v:
                        texts[k], ints[k] = v[code]
                got = (texts, ints)
            self._meta_columns[code] = got
        return self._meta_columns[code]

    def lookup(self, metadata_id: I64) -> I64:
        """Dense metadata index of each event (the last index: an id the plane does not define)."""
        out: I64 = self._index(metadata_id)
        return out

    def names_of(self, k: I64) -> npt.NDArray[np.int32]:
        """Builder string ids of the metadata labels, interned on first use."""
        got = self.name_id[k]
        if (got < 0).any():
            for u in np.unique(k[got < 0]).tolist():
                self.name_id[u] = self.builder.intern(cap(self.labels[u], self.builder))
            got = self.name_id[k]
        return got.astype(np.int32)


def convert(ctx: PlaneContext, batch: EventBatch, data: bytes, first: int) -> Window:
    """The shown events of `batch` (`first`: the line position of its first event)."""
    n = len(batch.metadata_id)
    k = ctx.lookup(batch.metadata_id)
    codes = ctx.stats.codes_of(batch.stat_id)
    sel = np.flatnonzero((codes >= 0) & (batch.stat_case != 0))  # a stat without a value is skipped
    ev, code = batch.stat_event[sel], codes[sel].astype(np.int64)
    case, value = batch.stat_case[sel], batch.stat_value[sel]
    text = ctx.stats.row_texts(case, value, batch.stat_size[sel], data)
    ints = int_value(case, value)
    last = _last_per(ev, code, n)  # (event, code) -> row of its last value
    values = _Values(ctx, k, text, ints, last, n)

    shown = ~ctx.hidden[k]
    name = np.full(n, -1, np.int32)
    name[shown] = ctx.names_of(k[shown])  # hidden events' names never reach the table's strings
    renamed = values.text(STEP_NAME)
    has_name = (renamed >= 0) & shown
    if has_name.any():
        for r in np.flatnonzero(has_name).tolist():
            name[r] = ctx.builder.intern(cap(ctx.texts.texts[int(renamed[r])], ctx.builder))
    args, argflags = _arguments(ctx, values, n)
    step = np.full(n, -1, np.int32)
    step_text = values.text(STEP_NUM)
    has_step = step_text >= 0
    if has_step.any():
        argflags[has_step] |= HAS_STEP
        uniq, inverse = np.unique(step_text[has_step], return_inverse=True)
        step[has_step] = np.array([step_number(ctx.texts.texts[int(u)]) for u in uniq.tolist()], np.int32)[inverse]
    link = _links(ctx, values) if ctx.links else None
    out = Window(name, args, argflags, step, batch.offset_ps, batch.duration_ps, link)
    if ctx.preprocess:
        level = np.where(values.has(ROOT), values.ints(ROOT), 0)
        level = np.where(ctx.root_by_name[k] > 0, ctx.root_by_name[k], level)
        level = np.where((level == 0) & ~values.has(ROOT) & ctx.legacy_root[k], 1, level)
        roots = np.flatnonzero((level > 0) & shown)
        if len(roots):
            out.roots = {"index": roots, "level": level[roots], "step_num": values.ints(STEP_NUM)[roots],
                         "has_step_num": values.has(STEP_NUM)[roots], "iter_num": values.ints(ITER_NUM)[roots],
                         "has_iter_num": values.has(ITER_NUM)[roots], "graph_type": values.text(GRAPH_TYPE)[roots],
                         "step_id": values.ints(STEP_ID)[roots], "has_step_id": values.has(STEP_ID)[roots], "meta": k[roots]}
        runs = np.flatnonzero(ctx.executor[k] & values.has(STEP_ID) & values.has(ITER_NUM))
        if len(runs):
            out.loops = {"step_id": values.ints(STEP_ID)[runs], "iter_num": values.ints(ITER_NUM)[runs]}
        data_runs = np.flatnonzero(ctx.tf_data[k] & values.has(STEP_ID))
        if len(data_runs):
            out.tf_data = values.ints(STEP_ID)[data_runs]
        marks = np.flatnonzero(ctx.region[k] > 0)
        if len(marks):
            out.regions = {"order": first + marks, "kind": ctx.region[k][marks], "offset_ps": batch.offset_ps[marks],
                           "consumer": values.event_row(CONSUMER)[marks] >= 0}
    mem = np.flatnonzero(ctx.memory[k])
    if len(mem):
        out.memory = _memory(values, mem, batch, text, ints, case, code, ev, ctx)
    return _select(out, np.flatnonzero(shown), n)


class _Values:
    """Per event and code: the value in force (the event's own last one, else its metadata's)."""

    def __init__(self, ctx: PlaneContext, k: I64, text: I64, ints: I64, last: dict[int, tuple[I64, I64]], n: int) -> None:
        self.ctx, self.k, self.n, self.last, self.text_rows, self.int_rows = ctx, k, n, last, text, ints

    def event_row(self, code: int) -> I64:
        """Per event: the row index of its own last stat of `code`, -1: none."""
        rows = np.full(self.n, -1, np.int64)
        got = self.last.get(code)
        if got is not None:
            rows[got[0]] = got[1]
        return rows

    def _column(self, code: int, slot: int) -> I64:
        meta = self.ctx.meta_column(code)
        if meta is not None:
            out = meta[slot][self.k]
        else:
            out = np.full(self.n, -1 if slot == 0 else 0, np.int64)
        got = self.last.get(code)
        if got is not None:
            out[got[0]] = (self.text_rows, self.int_rows)[slot][got[1]]
        return out

    def text(self, code: int) -> I64:
        return self._column(code, 0)

    def ints(self, code: int) -> I64:
        return self._column(code, 1)

    def has(self, code: int) -> npt.NDArray[np.bool_]:
        return self.text(code) >= 0

    def present(self, code: int) -> bool:
        """Whether any event of the window may have a value for `code`."""
        return code in self.last or self.ctx.meta_column(code) is not None


def _last_per(ev: I64, code: I64, n: int) -> dict[int, tuple[I64, I64]]:
    """Per code: (events, row) of each event's last stat of that code (rows are in field order
    within an event)."""
    out: dict[int, tuple[I64, I64]] = {}
    for c in np.flatnonzero(np.bincount(code)).tolist() if len(code) else []:
        rows = np.flatnonzero(code == c)
        events = ev[rows]
        if np.bincount(events, minlength=n).max() > 1:  # an event names the stat twice: keep its last
            order = np.lexsort((rows, events))
            rows, events = rows[order], events[order]
            last = np.ones(len(rows), bool)
            last[:-1] = events[1:] != events[:-1]
            rows, events = rows[last], events[last]
        out[c] = (events, rows)
    return out


def _arguments(ctx: PlaneContext, values: _Values, n: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    """Per event: the string id of its kept arguments' JSON (-1: none) and HAS_HLO / HAS_TF_OP."""
    present = [c for c in KEEP_CODES if values.present(c)]
    args = np.full(n, -1, np.int32)
    flags = np.zeros(n, np.uint8)
    if not present:
        return args, flags
    columns = {c: values.text(c) for c in present}
    for c, col in columns.items():
        if c == HLO:
            flags[col >= 0] |= HAS_HLO
        elif c in (LONG_NAME, TF_OP):
            flags[col >= 0] |= HAS_TF_OP
    some = np.flatnonzero(np.logical_or.reduce([col >= 0 for col in columns.values()]))
    if not len(some):
        return args, flags
    width = 62 // len(present)
    if max(int(col.max()) for col in columns.values()) + 1 < 1 << width:
        args[some] = _known_arguments(ctx, present, [columns[c][some] for c in present], width)
        return args, flags
    key = np.zeros(len(some), np.int64)  # the combination as one number, columns in mixed radix
    span = 1
    for col in columns.values():
        digit = col[some] + 1
        radix = int(digit.max()) + 1
        if span * radix >= 1 << 62:  # renumber what is combined so far
            uniq, key = np.unique(key, return_inverse=True)
            key, span = key.reshape(-1).astype(np.int64), len(uniq)
        key = key * radix + digit
        span *= radix
    first, inverse = distinct(key, span)
    ids = np.array([_argument_id(ctx, tuple((c, int(col[at])) for c, col in columns.items()))
                    for at in some[first].tolist()], np.int32)
    args[some] = ids[inverse]
    return args, flags


def _argument_id(ctx: PlaneContext, combo: tuple[tuple[int, int], ...]) -> int:
    """The string id of the JSON of one combination of (code, text id) (-1 text: absent)."""
    got = ctx.texts.args.get(combo)
    if got is None:
        kept = {NAMES[c]: ctx.texts.texts[v] for c, v in combo if v >= 0}
        got = ctx.texts.args[combo] = ctx.builder.intern(args_text(kept, ctx.builder))
    return got


def _known_arguments(ctx: PlaneContext, present: list[int], columns: list[I64], width: int) -> npt.NDArray[np.int32]:
    """Argument ids by a key that stays the same across windows (each column's text id in its
    own `width` bits), looked up in the read's sorted table of keys seen: only combinations
    not seen before are made in Python."""
    key = np.zeros(len(columns[0]), np.int64)
    for i, col in enumerate(columns):
        key |= (col + 1) << (width * i)
    keys, ids = ctx.texts.arg_keys.get(tuple(present), (np.zeros(0, np.int64), np.zeros(0, np.int32)))
    at = np.minimum(np.searchsorted(keys, key), max(len(keys) - 1, 0))
    found = (keys[at] == key) if len(keys) else np.zeros(len(key), bool)
    if not found.all():
        new = np.unique(key[~found])
        mask = (1 << width) - 1
        made = np.array([_argument_id(ctx, tuple((c, ((k >> (width * i)) & mask) - 1) for i, c in enumerate(present)))
                         for k in new.tolist()], np.int32)
        keys, ids = np.concatenate([keys, new]), np.concatenate([ids, made])
        order = np.argsort(keys)
        keys, ids = keys[order], ids[order]
        ctx.texts.arg_keys[tuple(present)] = (keys, ids)
        at = np.searchsorted(keys, key)
    return ids[at]


def _links(ctx: PlaneContext, values: _Values) -> I64:
    """Launch-link group ids: the correlation_id argument as the Chrome reader parses it (-1: none)."""
    text = values.text(CORRELATION)
    out = np.full(len(text), -1, np.int64)
    has = text >= 0
    if has.any():
        uniq, inverse = np.unique(text[has], return_inverse=True)
        out[has] = np.array([link_id(ctx.texts.texts[int(u)]) for u in uniq.tolist()], np.int64)[inverse]
    return out


def _memory(values: _Values, mem: I64, batch: EventBatch, text: I64, ints: I64, case: npt.NDArray[np.uint8],
            code: I64, ev: I64, ctx: PlaneContext) -> dict[str, np.ndarray]:
    """Allocator events (own stats only, as xprof's memory_profile reads them): the memory id
    (index_on_host / device_ordinal as IntValue, allocator_name as a string, the last one
    given) and the three byte counts (IntValue)."""
    index_on_host, ordinal, allocator, reserved, allocated, available = MEMORY
    ident = np.full(len(mem), -1, np.int64)
    ids = np.isin(code, (index_on_host, ordinal, allocator))
    rows = np.flatnonzero(ids)
    if len(rows):
        last = np.full(batch.metadata_id.shape[0], -1, np.int64)
        np.maximum.at(last, ev[rows], rows)
        pick = last[mem]
        for j, r in enumerate(pick.tolist()):
            if r < 0:
                continue
            if code[r] == allocator:
                ident[j] = text[r] if case[r] in (STR, REF) else ctx.texts.id("")
            else:
                ident[j] = ctx.texts.id(str(int(ints[r])))
    counts = {}
    for name, c in (("reserved", reserved), ("allocated", allocated), ("available", available)):
        rows_c = values.event_row(c)[mem]
        counts[name] = np.where(rows_c >= 0, ints[np.maximum(rows_c, 0)], 0)
    return {"offset_ps": batch.offset_ps[mem], "id": ident, **counts}


def _select(w: Window, keep: I64, n: int) -> Window:
    if len(keep) == n:
        return w
    w.name, w.args, w.argflags, w.step = w.name[keep], w.args[keep], w.argflags[keep], w.step[keep]
    w.offset_ps, w.duration_ps = w.offset_ps[keep], w.duration_ps[keep]
    if w.link is not None:
        w.link = w.link[keep]
    if w.roots:  # root indices point at the window's events before selection; roots are all shown
        position = np.full(n, -1, np.int64)
        position[keep] = np.arange(len(keep))
        w.roots["index"] = position[w.roots["index"]]
    return w
