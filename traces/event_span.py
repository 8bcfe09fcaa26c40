"""Where a Chrome trace's traceEvents array lies in the file, found without decoding the
events (split from `traces.decode`, which decodes the array in chunks once its bounds are known).
"""
from __future__ import annotations

import re
from typing import Any

from traces.json_decoders import FAST_ERRORS, TOP_KEYS, top_decoder

MAX_OUTSIDE = 16 << 20  # bytes before and after the event array that `find_events` copies to check
_EVENTS_KEY = re.compile(rb'"traceEvents"[ \t\r\n]*:[ \t\r\n]*\[')
_MARK = b'"stepscope: the traceEvents array"'


def events_span(data: bytes | bytearray) -> tuple[memoryview, int, int, dict[str, Any]] | None:
    """Where the event array is: `view[begin]` is its "[" and `view[end]` its "]"; and the
    top-level keys. None when there is no complete array."""
    if bytes(data[:64]).lstrip()[:1] == b"{":
        found = find_events(data)
        if found is not None:
            return memoryview(data), *found
        doc = top_decoder.decode(data)  # skips through the whole file without building events
        view, top = memoryview(doc.traceEvents), {k: getattr(doc, k) for k in TOP_KEYS}
    else:
        view, top = memoryview(data), {}
    begin, end = 0, len(view) - 1
    while begin <= end and view[begin] in b" \t\r\n":
        begin += 1
    while end >= begin and view[end] in b" \t\r\n":
        end -= 1
    if end <= begin or view[begin] != ord("[") or view[end] != ord("]"):
        return None
    return view, begin, end, top


def find_events(data: bytes | bytearray) -> tuple[int, int, dict[str, Any]] | None:
    """The traceEvents array's bounds without scanning the whole file (a skipping decode of
    160 MB costs 0.2-0.3 s): guess "[" from the first `"traceEvents": [` and "]" from the
    last few "]" in the file, then prove the guess by decoding the rest of the document with
    a marker in the array's place; the marker must come back as top-level traceEvents. The
    array itself is proven valid by decoding it. None: no proof, scan instead."""
    m = _EVENTS_KEY.search(data)
    if m is None:
        return None
    begin = end = m.end() - 1
    stop = len(data)
    for _ in range(4):
        end = data.rfind(b"]", begin + 1, stop)
        if end < 0 or begin + len(data) - end > MAX_OUTSIDE:
            return None
        stop = end
        prefix, suffix = data[:begin], data[end + 1:]
        if _MARK in prefix or _MARK in suffix:
            return None
        try:
            doc = top_decoder.decode(b"".join((prefix, _MARK, suffix)))
        except FAST_ERRORS:
            continue  # that "]" was inside something after the array: try the one before
        if bytes(doc.traceEvents) != _MARK:
            return None  # the key was not the top-level one (or is there twice)
        return begin, end, {k: getattr(doc, k) for k in TOP_KEYS}
    return None
