"""The stream's chunk-to-columns pieces (`traces.stream_events`): a chunk's columns at once,
keys and argument sets numbered on first sight, and correlations read and reset before the
sets are encoded (the stream against the whole-file path: tests/traces/test_stream.py)."""
from __future__ import annotations

import json
import math
from typing import Any

from traces.stream_events import ArgSets, Interned, arg_codes, columns, decode, flow_ids, key_codes


def chunk(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(events).encode()


def test_keys_and_sets_are_numbered_on_first_sight() -> None:
    keys = Interned()
    codes = key_codes(keys, ("X", "X", "i", "X"), ("a", "a", None, "b"), ("n", "n", "m", "n"), (1, 1, 1, 1), (2, 2, 2, 3))
    assert codes.tolist() == [0, 0, 1, 2] and list(keys) == [("X", "a", "n", 1, 2), ("i", None, "m", 1, 2), ("X", "b", "n", 1, 3)]
    sets = ArgSets()
    assert [sets[k] for k in (b"{}", b'{"grid":[1]}', b"null", b'{"block":[2]}', b'{"grid":[1]}')] == [-1, 0, -1, 1, 0]
    assert sets.sets == [b'{"grid":[1]}', b'{"block":[2]}']


def test_a_chunk_becomes_its_columns() -> None:
    text = chunk([{"ph": "X", "cat": "kernel", "name": "void k<1>()", "pid": 4242, "tid": "stream 7", "ts": 1, "dur": 2},
                  {"ph": "f", "cat": "ac2g", "name": "ac2g", "pid": 0, "tid": 7, "ts": 3.5, "id": 12, "bp": "e"}])
    events, float_dur = decode(text)
    ph, cat, name, pid, tid, ts, dur, args, ids = columns(events)
    assert float_dur and (ph, cat, name, pid, tid) == (("X", "f"), ("kernel", "ac2g"), ("void k<1>()", "ac2g"), (4242, 0),
                                                       ("stream 7", 7))
    assert [bytes(t) for t in ts] == [b"1", b"3.5"] and dur[0] == 2.0 and math.isnan(dur[1])
    assert args == (None, None) and ids == (-1, 12) and flow_ids(ids).tolist() == [-1, 12]
    assert flow_ids(("0x1f", 5.0, None)).tolist() == [31, 5, -1]  # ids as text, floats or null: `link_ids`


def test_a_dur_that_is_no_number_is_read_as_text() -> None:
    events, float_dur = decode(chunk([{"ph": "i", "name": "m", "ts": 1, "dur": "ignored"}]))
    assert not float_dur and bytes(events[0].dur) == b'"ignored"'


def test_correlations_are_read_and_reset_before_the_sets_are_encoded() -> None:
    events, _ = decode(chunk([
        {"ph": "X", "ts": 1, "args": {"correlation": 7, "grid": [1, 1, 1]}},
        {"ph": "X", "ts": 2, "args": {"correlation": 8, "grid": [1, 1, 1]}},
        {"ph": "X", "ts": 3, "args": {"External id": 3}},
        {"ph": "s", "ts": 4, "id": 9}]))
    sets = ArgSets()
    ids, corr, had = arg_codes(sets, columns(events)[7], 1 << 20, False)
    assert ids.tolist() == [0, 0, -1, -1] and corr is not None and corr.tolist() == [7, 8, -1, -1] and had
    assert sets.sets == [b'{"grid":[1, 1, 1]}']  # the argument's own text (a Raw)
    events, _ = decode(chunk([{"ph": "X", "ts": 1, "args": {"correlation": "0x1f"}},
                                              {"ph": "X", "ts": 2, "args": {"correlation": 5.0}}]))
    ids, corr, had = arg_codes(sets, columns(events)[7], 1 << 20, True)  # ids as text and floats; no argument kept
    assert ids.tolist() == [-1, -1] and corr is not None and corr.tolist() == [31, 5] and not had
    events, _ = decode(chunk([{"ph": "X", "ts": 1, "args": {"External id": 1}}]))
    ids, corr, had = arg_codes(sets, columns(events)[7], 1 << 20, True)
    assert ids.tolist() == [-1] and corr is None and not had
