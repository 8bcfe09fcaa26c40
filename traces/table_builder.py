"""The readers' accumulator: events arrive in chunks of columns (kinds already assigned) from
one or several sources (hosts), while strings, rows and counter series are interned once;
`finish` makes the sorted EventTable."""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from traces.launch_links import pair_links
from traces.table import EVENT_COLUMNS, CounterSeries, EventTable, Limits, Row, SourceInfo, TraceError, label_text


class TableBuilder:
    """Collects events in chunks of columns (kinds already assigned) and interns strings,
    rows and counter series; `finish` concatenates and sorts by start time. Step numbers are
    assigned on the finished table (`traces.classify.assign_steps`), since step markers may
    come from another chunk or host."""

    def __init__(self, source: SourceInfo, limits: Limits | None = None) -> None:
        self.source = source
        self.limits = limits or Limits()
        self._ids: dict[str, int] = {}
        self.strings: list[str] = []
        self._rows: dict[tuple[str, object, object], int] = {}
        self.rows: list[dict[str, Any]] = []
        self._chunks: list[dict[str, np.ndarray]] = []
        self._events = 0
        self._series: dict[CounterSeries, int] = {}
        self._counters: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.float64]]] = []
        self.link_groups = 0  # launch-link group ids handed out so far: each source's are unique (traces.launch_links)

    def intern(self, text: str) -> int:
        got = self._ids.get(text)
        if got is None:
            got = self._ids[text] = len(self.strings)
            self.strings.append(text)
        return got

    def row(self, prefix: str, pid: object, tid: object) -> int:
        key = (prefix, pid, tid)
        got = self._rows.get(key)
        if got is None:
            got = self._rows[key] = len(self.rows)
            self.rows.append({"pid": f"{prefix}{label_text(pid, 200) or '(none)'}", "tid": label_text(tid, 200) or "(none)",
                              "process": "", "thread": "", "device": False, "key": key})
        return got

    def name_rows(self, prefix: str, process_names: dict[object, str], thread_names: dict[tuple[object, object], str]) -> None:
        """Apply process_name / thread_name metadata to the rows of one source."""
        for info in self.rows:
            row_prefix, pid, tid = info["key"]
            if row_prefix == prefix:
                info["process"] = process_names.get(pid, info["process"])
                info["thread"] = thread_names.get((pid, tid), info["thread"])

    def add(self, *, name: np.ndarray, cat: np.ndarray, kind: np.ndarray, row: np.ndarray, start_ns: np.ndarray,
            dur_ns: np.ndarray, flags: np.ndarray, args: np.ndarray, step: np.ndarray, where: object,
            link: np.ndarray | None = None) -> None:
        """One chunk of events; `link`: each event's launch-link group id (-1: none), if any has one."""
        n = len(name)
        self._events += n
        if self._events > self.limits.max_events:
            raise TraceError(where, f"more than {self.limits.max_events:,} events (raise Limits.max_events to read it)")
        self._chunks.append({"name": name, "cat": cat, "kind": kind, "row": row, "start_ns": start_ns, "dur_ns": dur_ns,
                             "flags": flags, "args": args, "step": step})
        if link is not None:
            self._chunks[-1]["link"] = link

    def mark(self) -> tuple[int, int]:
        """Where the events added next begin, for `shift`."""
        return len(self._chunks), len(self._counters)

    def shift(self, begin: tuple[int, int], end: tuple[int, int], offset_ns: int) -> None:
        """Move the events and counters added between marks `begin` and `end` by `offset_ns`
        (one source onto another's clock, e.g. ranks whose traces count from different bases)."""
        if offset_ns:
            for chunk in self._chunks[begin[0]:end[0]]:
                chunk["start_ns"] = chunk["start_ns"] + offset_ns
            self._counters[begin[1]:end[1]] = [(sid, ts + offset_ns, val) for sid, ts, val in self._counters[begin[1]:end[1]]]

    def series(self, track: str, field_name: str, unit: str, device: str = "") -> int:
        key = CounterSeries(track, field_name, unit, device)
        got = self._series.get(key)
        if got is None:
            got = self._series[key] = len(self._series)
        return got

    def add_counters(self, series_id: np.ndarray, ts_ns: np.ndarray, values: np.ndarray) -> None:
        self._counters.append((series_id.astype(np.int32), ts_ns.astype(np.int64), values.astype(np.float64)))

    def finish(self) -> EventTable:
        """The table; each column is joined (or, from one chunk, taken as it is) and the chunk
        let go before the next, and sorted one column at a time, so a column is held at most
        twice while the table is made."""
        cols: dict[str, np.ndarray] = {}
        has_link = any("link" in chunk for chunk in self._chunks)
        sizes = [len(chunk["name"]) for chunk in self._chunks]
        for c, dtype in {**EVENT_COLUMNS, **({"link": np.int64} if has_link else {})}.items():
            parts = [chunk.pop(c) if c != "link" else chunk.pop(c, np.full(size, -1, np.int64))
                     for chunk, size in zip(self._chunks, sizes, strict=True)]
            cols[c] = (np.concatenate(parts) if len(parts) > 1 else parts[0]).astype(dtype, copy=False) if parts \
                else np.empty(0, dtype)
            del parts
        self._chunks.clear()
        start = cols["start_ns"]
        if len(start) > 1 and not np.all(start[1:] >= start[:-1]):
            order = np.argsort(start, kind="stable")
            del start
            for c in cols:
                cols[c] = cols[c][order]
            del order
        if self._counters:
            sid = np.concatenate([c[0] for c in self._counters])
            ts = np.concatenate([c[1] for c in self._counters])
            val = np.concatenate([c[2] for c in self._counters])
            corder = np.lexsort((ts, sid))
            sid, ts, val = sid[corder], ts[corder], val[corder]
        else:
            sid, ts, val = np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.float64)
        rows = [Row(**{k: v for k, v in r.items() if k != "key"}) for r in self.rows]
        counters = {"counter_series": sid, "counter_ts_ns": ts, "counter_value": val}
        table = EventTable.from_columns({**cols, **counters}, self.strings, rows, list(self._series), self.source)
        if "link" in cols:
            pair_links(table, cols["link"])
        return table
