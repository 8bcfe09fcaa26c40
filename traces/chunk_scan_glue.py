"""The Python side of the stream's compiled per-chunk step (`traces/chunk_scan.pyx`): whether it
is there, and a scanner for one read that numbers keys and argument sets in the read's own
`Interned` / `ArgSets`. The module is optional: built by `scripts/setup.sh` (Cython), absent
elsewhere; without it, switched off (STEPSCOPE_CHUNK_SCAN=0 or `ENABLED`), or when it refuses a
chunk, the stream decodes the chunk with msgspec (`traces.stream_events`), and the table is the
same either way (tests/traces/test_chunk_scan.py)."""
from __future__ import annotations

import os
from typing import Any

from traces.json_decoders import link_id, msgspec
from traces.stream_events import PHASE, ArgSets, Interned

try:
    from traces import chunk_scan  # type: ignore[attr-defined]  # compiled: no stub
except ImportError:  # not built here: msgspec decodes every chunk
    chunk_scan = None

ENV = "STEPSCOPE_CHUNK_SCAN"  # "0": never use the compiled step (measuring, comparing)
ENABLED = os.environ.get(ENV, "1") != "0"

if msgspec is not None:
    # a key's tuple from its fields' JSON texts, exactly as the stream's struct fields decode them
    _KEY = msgspec.json.Decoder(tuple[PHASE, str | None, str | None, int | str | None, int | str | None]).decode
    _TEXT = msgspec.json.Decoder(str).decode


def available() -> bool:
    """Whether the compiled step is built (and msgspec, which makes its new keys, installed)."""
    return chunk_scan is not None and msgspec is not None


def new_scanner(keys: Interned, sets: ArgSets) -> Any | None:
    """A scanner for one read (None: decode every chunk with msgspec). Its `scan(buf, pos, cut)`
    gives (n, codes, dur floats, ts text, set ids, correlations or None, ids, any set) or None."""
    if not ENABLED or not available():
        return None
    return chunk_scan.ChunkScanner(keys, sets, _KEY, link_id, _TEXT)
