"""Several ranks' tables -> one table, each rank's rows a group of their own ("rank 3: ..."), on
one clock: what `rank_reader.read_ranks` does for per-rank Chrome files, for tables already read
from any format (a JAX job's per-rank XPlanes, which carry no absolute time base).

Each rank's events move by its offset (ns) onto the common clock; the caller knows the offsets
(the ranks' step ends on the controller's clock, sessions/rank_traces.py). Strings, rows, counter
series and launch links are renumbered; every event keeps its step number.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from traces.table import COUNTER_COLUMNS, EVENT_COLUMNS, CounterSeries, EventTable, Row, SourceInfo


def rank_prefix(rank: int) -> str:
    return f"rank {rank}: "


def merge_rank_tables(tables: Mapping[int, EventTable], offsets_ns: Mapping[int, int] | None = None,
                      note: str = "") -> EventTable:
    """One table of every rank's events (rank order); `offsets_ns[rank]` is added to that rank's times."""
    ids: dict[str, int] = {}
    rows: list[Row] = []
    series: list[CounterSeries] = []
    cols: dict[str, list[np.ndarray]] = {c: [] for c in (*EVENT_COLUMNS, *COUNTER_COLUMNS)}
    links: list[tuple[np.ndarray, np.ndarray]] = []
    events = 0
    for rank in sorted(tables):
        table = tables[rank]
        prefix = rank_prefix(rank)
        offset = int((offsets_ns or {}).get(rank, 0))
        remap = np.array([ids.setdefault(s, len(ids)) for s in table.strings] or [0], dtype=np.int32)
        row_base, series_base = len(rows), len(series)
        rows.extend(Row(prefix + r.pid, r.tid, prefix + r.process if r.process else "", r.thread, r.device)
                    for r in table.rows)
        series.extend(replace(s, track=prefix + s.track) for s in table.series)
        for c in EVENT_COLUMNS:
            column = getattr(table, c)
            if c in ("name", "cat", "args"):
                column = np.where(column >= 0, remap[np.maximum(column, 0)], -1).astype(column.dtype)
            elif c == "row":
                column = column + row_base
            elif c == "start_ns":
                column = column + offset
            cols[c].append(column)
        cols["counter_series"].append(table.counter_series + series_base)
        cols["counter_ts_ns"].append(table.counter_ts_ns + offset)
        cols["counter_value"].append(table.counter_value)
        links.append((table.link_src + events, table.link_dst + events))
        events += len(table)
    strings = sorted(ids, key=ids.__getitem__)
    joined = {c: np.concatenate(parts).astype(EVENT_COLUMNS.get(c) or COUNTER_COLUMNS[c], copy=False)
              for c, parts in cols.items()}
    order = np.argsort(joined["start_ns"], kind="stable")
    for c in EVENT_COLUMNS:
        joined[c] = joined[c][order]
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    corder = np.lexsort((joined["counter_ts_ns"], joined["counter_series"]))
    for c in COUNTER_COLUMNS:
        joined[c] = joined[c][corder]
    first = tables[min(tables)].source
    source = SourceInfo(path=first.path, format=first.format, producer=first.producer, framework=first.framework,
                        device=first.device, time_origin_ns=0, notes=[
                            *(f"{rank_prefix(r).strip()} {n}" for r in sorted(tables) for n in tables[r].source.notes),
                            f"merged {len(tables)} ranks ({', '.join(map(str, sorted(tables)))}){note}"])
    merged = EventTable.from_columns(joined, strings, rows, series, source)
    src = np.concatenate([s for s, _ in links]).astype(np.int64)
    dst = np.concatenate([d for _, d in links]).astype(np.int64)
    merged.link_src, merged.link_dst = position[src].astype(np.int32), position[dst].astype(np.int32)
    return merged
