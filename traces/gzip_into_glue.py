"""The Python side of `traces/gzip_into.pyx` (gzip inflated by ISA-L straight into the Chrome
stream's buffer): whether it is built, and its errors in the words `bounded_read.gunzip_pieces`
uses for the same files. Optional: built by `scripts/setup.sh` where Debian's libisal-dev is
installed; without it, or switched off (STEPSCOPE_GZIP_INTO=0, for measuring and comparing), the
stream inflates in pieces (`bounded_read`), with the same bytes and the same errors
(tests/traces/test_gzip_into.py)."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from traces import bounded_read
from traces.table import TraceError

try:
    from traces import gzip_into  # type: ignore[attr-defined]  # compiled: no stub
except ImportError:  # not built here
    gzip_into = None

ENV = "STEPSCOPE_GZIP_INTO"
ENABLED = os.environ.get(ENV, "1") != "0"


class GzipInto(Protocol):
    def read_into(self, room: Any) -> int: ...


def inflater_into(read: Callable[[int], bytes]) -> GzipInto | None:
    """An inflater for a gzip file whose compressed bytes `read(n)` gives from its start; None
    where the module is not built or is switched off."""
    if gzip_into is None or not ENABLED:
        return None
    inflater: GzipInto = gzip_into.GzipInto(read, bounded_read.CHUNK)  # read at each call: tests shrink it
    return inflater


def damaged(where: object, exc: ValueError) -> TraceError:
    """The inflater's error as the pieces' path words it."""
    if gzip_into is not None and isinstance(exc, gzip_into.GzipTruncated):
        return TraceError(where, "is a truncated gzip file (it ends before the end of the compressed data)")
    return TraceError(where, f"is a damaged gzip file ({exc})")
