"""Events grouped per op, (name, kind): how many, their total time and their self time. The
one aggregation behind `analysis.top_ops` (the ranking) and `op_diff` (the comparison), so
the two never count an op differently.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from traces.self_time import self_times
from traces.table import INSTANT, KIND_NAMES, EventTable, Kind

_KIND_SLOTS = 256  # group key: name id * 256 + kind (Kind fits a byte)


@dataclass(frozen=True)
class OpGroups:
    """One entry per (name, kind) present, ordered by name id, then kind. Times are the sums
    as float64 (what `np.bincount` adds up); callers round or divide them as they report."""

    key: npt.NDArray[np.int64]
    count: npt.NDArray[np.intp]
    total_ns: npt.NDArray[np.float64]
    self_ns: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.key)

    def label(self, table: EventTable, j: int) -> tuple[str, str]:
        """(op name, kind name) of group `j`."""
        key = int(self.key[j])
        return table.string(key // _KIND_SLOTS), KIND_NAMES[Kind(key % _KIND_SLOTS)]


def timed_ops(table: EventTable, kinds: tuple[Kind, ...]) -> npt.NDArray[np.bool_]:
    """Events of `kinds` that have a duration (instants are markers, not op time)."""
    mask: npt.NDArray[np.bool_] = np.isin(table.kind, kinds) & ((table.flags & INSTANT) == 0)
    return mask


def group_ops(table: EventTable, idx: npt.NDArray[np.intp]) -> OpGroups:
    """The events at `idx` grouped per (name, kind)."""
    key = table.name[idx].astype(np.int64) * _KIND_SLOTS + table.kind[idx]
    uniq, inverse = np.unique(key, return_inverse=True)
    return OpGroups(key=uniq, count=np.bincount(inverse), total_ns=_sums(inverse, table.dur_ns[idx]),
                    self_ns=_sums(inverse, self_times(table)[idx]))


def _sums(group: npt.NDArray[np.intp], values: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Per group, the sum of its events' `values`: float64, as np.bincount adds weights (its
    stubs say intp, so the no-op astype tells mypy)."""
    return np.bincount(group, weights=values).astype(np.float64, copy=False)
