"""Which XStats matter to the table and what text each becomes, as xprof's trace_viewer
conversion writes them (`tsl/profiler/convert/xplane_to_trace_events.cc`: every stat becomes
an argument `name: stat.ToString()`, metadata-level stats first, so an event's own stat of the
same name wins; `step_name` renames the event).

Only the stats the table keeps (`traces.chrome.KEEP`), the step number, and those the
reader's other rules read (grouping roots, thread-pool regions, launch links, allocator
counters) are looked at; their texts are made once per distinct value, never per event.
"""
from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.chrome import KEEP
from traces.table_builder import TableBuilder
from traces.xplane_batch import BYTES, DOUBLE, INT64, REF, STR, UINT64
from traces.xplane_layout import MetaValue

STEP_NUM, STEP_NAME, ROOT, ITER_NUM, GRAPH_TYPE, CONSUMER, CORRELATION, STEP_ID = range(len(KEEP), len(KEEP) + 8)
MEMORY_KEYS = ("index_on_host", "device_ordinal", "allocator_name", "bytes_reserved", "bytes_allocated", "bytes_available")
NAMES = (*KEEP, "step_num", "step_name", "_r", "iter_num", "graph_type", "_c", "correlation_id", "id", *MEMORY_KEYS)
CODE = {name: i for i, name in enumerate(NAMES)}
MEMORY = tuple(CODE[k] for k in MEMORY_KEYS)
OPAQUE = "<opaque bytes>"  # XStatVisitor::ToString of a bytes value
I64 = npt.NDArray[np.int64]


class IdTable:
    """Values looked up by id: a direct table when the ids are small non-negative numbers (as
    profilers number their metadata), else a sorted search."""

    DENSE = 1 << 22

    def __init__(self, ids: I64, values: np.ndarray, missing: int) -> None:
        self.missing = missing
        self.table: np.ndarray | None = None
        if len(ids) and ids.min() >= 0 and ids.max() < self.DENSE:
            self.table = np.full(int(ids.max()) + 2, missing, values.dtype)  # the last slot: ids past the end
            self.table[ids] = values
        order = np.argsort(ids)
        self.ids, self.values = ids[order], values[order]

    def __call__(self, query: I64) -> np.ndarray:
        if self.table is not None:
            last = len(self.table) - 1
            return self.table[np.where((query >= 0) & (query < last), query, last)]
        if not len(self.ids):
            return np.full(len(query), self.missing, self.values.dtype)
        at = np.minimum(np.searchsorted(self.ids, query), len(self.ids) - 1)
        return np.where(self.ids[at] == query, self.values[at], self.missing)


def distinct(key: I64, span: int) -> tuple[I64, I64]:
    """(an index of each distinct value of `key`, each value's distinct number), `key` in
    [0, span); by a table when the span is small enough, else by sorting."""
    if span <= max(4 * len(key), 1 << 16):
        slot = np.full(span, -1, np.int64)
        slot[key] = np.arange(len(key))  # which occurrence lands does not matter
        present = np.flatnonzero(slot >= 0)
        number = np.full(span, -1, np.int64)
        number[present] = np.arange(len(present))
        return slot[present], number[key]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def double_text(value: float) -> str:
    """absl::StrCat(double): six significant digits, as %g."""
    return f"{value:.6g}"


class Texts:
    """Value texts of one read, numbered locally (they reach the table only inside an event's
    argument JSON or as a step name, never as strings of their own)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.texts: list[str] = []
        self._numbers: dict[tuple[int, int], int] = {}
        self.args: dict[tuple[tuple[int, int], ...], int] = {}  # argument combination -> builder string id
        # per set of argument codes: the sorted combination keys seen and their string ids (xplane_window)
        self.arg_keys: dict[tuple[int, ...], tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]] = {}

    def id(self, text: str) -> int:
        got = self.ids.get(text)
        if got is None:
            got = self.ids[text] = len(self.texts)
            self.texts.append(text)
        return got

    def number(self, case: int, bits: int) -> int:
        """The text id of an int64 / uint64 / double value given as its 64 bits."""
        got = self._numbers.get((case, bits))
        if got is None:
            if case == INT64:
                text = str(bits - (1 << 64) if bits >= 1 << 63 else bits)
            elif case == UINT64:
                text = str(bits)
            else:
                text = double_text(struct.unpack("<d", bits.to_bytes(8, "little"))[0])
            got = self._numbers[(case, bits)] = self.id(text)
        return got


class PlaneStats:
    """The stat metadata of one plane: which ids are wanted (their code), and ref values' names."""

    def __init__(self, stat_names: dict[int, str], texts: Texts) -> None:
        self.names, self.texts = stat_names, texts
        pairs = sorted((i, CODE[n]) for i, n in stat_names.items() if n in CODE)
        self._codes = IdTable(np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int16), -1)
        self._refs: dict[int, int] = {}
        ids = np.array(sorted(stat_names), np.int64)
        # ref value -> text id, filled on first use (-2: not yet); refs outside the table go through `ref`
        self._ref_texts = np.full(int(ids.max()) + 1, -2, np.int64) if len(ids) and ids.min() >= 0 and \
            ids.max() < IdTable.DENSE else None

    def codes_of(self, stat_id: I64) -> npt.NDArray[np.int16]:
        """Per stat row: its code in NAMES, or -1 when the reader does not need it."""
        out: npt.NDArray[np.int16] = self._codes(stat_id)
        return out

    def refs(self, values: npt.NDArray[np.uint64]) -> I64:
        """Text ids of ref values (the names of the stat metadata they point at)."""
        table = self._ref_texts
        if table is None or not len(values) or values.max() >= len(table):
            uniq, inverse = np.unique(values, return_inverse=True)
            return np.array([self.ref(int(u)) for u in uniq.tolist()], np.int64)[inverse]
        at = values.astype(np.int64)
        got = table[at]
        if (got == -2).any():
            for u in np.unique(at[got == -2]).tolist():
                table[u] = self.ref(u)
            got = table[at]
        return got

    def ref(self, ref: int) -> int:
        got = self._refs.get(ref)
        if got is None:
            ref_id = ref - (1 << 64) if ref >= 1 << 63 else ref
            got = self._refs[ref] = self.texts.id(self.names.get(ref_id, ""))
        return got

    def row_texts(self, case: npt.NDArray[np.uint8], value: npt.NDArray[np.uint64], size: I64, data: bytes) -> I64:
        """Text ids of stat rows (`data`: the bytes str values point into); -1: no value."""
        out = np.full(len(case), -1, np.int64)
        refs = np.flatnonzero(case == REF)
        if len(refs):
            out[refs] = self.refs(value[refs])
        for c in (INT64, UINT64, DOUBLE):
            rows = np.flatnonzero(case == c)
            if len(rows):
                uniq, inverse = np.unique(value[rows], return_inverse=True)
                out[rows] = np.array([self.texts.number(c, int(u)) for u in uniq.tolist()], np.int64)[inverse]
        for r in np.flatnonzero(case == STR).tolist():
            start = int(value[r])
            out[r] = self.texts.id(data[start:start + int(size[r])].decode("utf-8", "replace"))
        out[case == BYTES] = self.texts.id(OPAQUE)
        return out

    def meta_text(self, case: int, value: MetaValue) -> int:
        """The text id of a metadata-level stat value (`xplane_layout.stat_value`)."""
        if case == REF and isinstance(value, int):
            return self.ref(value)
        if case in (INT64, UINT64) and isinstance(value, int):
            return self.texts.number(case, value & ((1 << 64) - 1))
        if case == DOUBLE and isinstance(value, float):
            return self.texts.id(double_text(value))
        if case == STR and isinstance(value, str):
            return self.texts.id(value)
        return self.texts.id(OPAQUE) if case == BYTES else -1


def int_value(case: npt.NDArray[np.uint8], value: npt.NDArray[np.uint64]) -> I64:
    """XStatVisitor::IntValue: the int64 value, 0 for any other case."""
    return np.where(case == INT64, value, np.uint64(0)).view(np.int64)


def step_number(text: str) -> int:
    """The step number a step_num argument gives, as the Chrome reader takes it (-1: none)."""
    try:
        number = int(text)
    except (TypeError, ValueError, OverflowError):
        return -1
    return number if 0 <= number < 2**31 - 1 else -1


def cap(text: str, builder: TableBuilder) -> str:
    """The Chrome reader's rule: whole up to Limits.max_string, else cut, and noted once."""
    limit = builder.limits.max_string
    if len(text) <= limit:
        return text
    note = f"cut names, categories or arguments longer than {limit:,} characters (Limits.max_string)"
    if note not in builder.source.notes:
        builder.source.notes.append(note)
    return text[: limit - 3] + "..."


def args_text(values: dict[str, str], builder: TableBuilder) -> str:
    """An event's kept arguments as the Chrome reader stores them: compact JSON in KEEP order,
    an over-long one kept cut, still valid JSON."""
    kept: dict[str, Any] = {k: values[k] for k in KEEP if k in values}
    text = json.dumps(kept, separators=(",", ":"), ensure_ascii=False)
    limit = builder.limits.max_string
    return text if len(text) <= limit else json.dumps({"truncated": cap(text, builder)[: limit - 40]})
