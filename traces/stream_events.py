"""The stream's typed events (`traces.stream_columns`): how a chunk is decoded and turned into
columns with the fewest passes over it. A Kineto GPU trace holds ~6 events per kernel launch;
each is a struct, and every C-level pass over a chunk's structs costs 10-60 ns an event.

- Columns at once: `msgspec.structs.astuple` per event and one `zip(*...)` give every field as
  a tuple (~60 ns an event), cheaper than an attrgetter pass per field.
- Keys by code: (ph, cat, name, pid, tid) tuples looked up in a dict that numbers a key on
  first sight (`Interned`), so the codes need no search afterwards.
- Tried and left out: names, categories and pids / tids decoded as members of Enums learned
  from the file (msgspec hands back the member itself, its hash cached, and calls
  `Enum._missing_` for a new value) made decoding and key codes 35 ms faster on a 200 MB
  Kineto trace measured alone, and the whole read no faster (0.637 against 0.631 CPU-s); as
  `Literal`s of the values seen so far, decoding took ~9 % longer and key codes no less.
  `np.array` in place of `array("q")` for correlations and flow ids: fewer instructions, no
  faster. Where an event's time goes: bench/README.md, "The GPU-shaped read's time".
- Argument sets: the correlations read and reset in one pass each, every set encoded once
  (`arg_codes`; `json_decoders.arg_ids`, the whole-file path's, encodes a chunk up to three times).

Keys, sets and ids are numbered exactly as `traces.decode._Acc` numbers them, so the whole-file
path's table and the stream's are one.
"""
from __future__ import annotations

import math
from array import array
from collections import deque
from itertools import repeat
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from traces import json_decoders
from traces.json_decoders import KNOWN_PHASES, LINK_TYPE, NO_ID, NOTHING, _encode_one, encode, link_ids, msgspec

PHASE: Any = Literal[KNOWN_PHASES]
Text = bytes | bytearray | memoryview


def _struct(name: str, dur: Any) -> Any:
    """The stream's event struct: `json_decoders.Event`'s fields in Kineto's order (msgspec
    looks a key up from the field after the last one it found), dur a float or its text."""
    missing = json_decoders.MISSING  # these two exist where msgspec does
    return msgspec.defstruct(name, [
        ("ph", PHASE, ""), ("cat", str | None, None), ("name", str | None, None), ("pid", int | str | None, None),
        ("tid", int | str | None, None), ("ts", msgspec.Raw, missing), ("dur", dur, math.nan if dur is float else missing),
        ("args", json_decoders.Args | None, None), ("id", LINK_TYPE, NO_ID)], gc=False)


if msgspec is not None:
    ValidationError: type[Exception] = msgspec.ValidationError
    astuple = msgspec.structs.astuple
    # `json_decoders.FloatDurEvent` and `Event` in this order: dur a float (the fast path) or its text
    _FLOAT: Any = _struct("StreamFloatDur", float)
    _TEXT: Any = _struct("StreamTextDur", msgspec.Raw)
    FLOAT_DUR, TEXT_DUR = msgspec.json.Decoder(list[_FLOAT]), msgspec.json.Decoder(list[_TEXT])


class Interned(dict[Any, int]):
    """Key -> its code, numbered in order of first sight by the lookup itself (`__missing__`
    runs only for a new key), so `map(interned.__getitem__, keys)` gives the codes."""

    def __missing__(self, key: Any) -> int:
        code = self[key] = len(self)
        return code


class ArgSets(dict[bytes, int]):
    """Encoded argument set -> its id in order of first sight; the sets that are no arguments
    (`json_decoders.NOTHING`) -> -1. `sets` lists the others by id."""

    def __init__(self) -> None:
        super().__init__()
        self.sets: list[bytes] = []

    def __missing__(self, key: bytes) -> int:
        code = -1 if key in NOTHING else len(self.sets)
        if code >= 0:
            self.sets.append(key)
        self[key] = code
        return code


def columns(events: list[Any]) -> tuple[tuple[Any, ...], ...]:
    """The chunk's (ph, cat, name, pid, tid, ts, dur, args, id) columns (at least one event)."""
    return tuple(zip(*map(astuple, events), strict=True))


def key_codes(keys: Interned, ph: tuple[Any, ...], cat: tuple[Any, ...], name: tuple[Any, ...], pid: tuple[Any, ...],
              tid: tuple[Any, ...]) -> npt.NDArray[np.intp]:
    """Per event the code of its (ph, cat, name, pid, tid)."""
    return np.fromiter(map(keys.__getitem__, zip(ph, cat, name, pid, tid, strict=True)), np.intp, len(ph))


def arg_codes(sets: ArgSets, args: tuple[Any, ...], max_string: int, whole_first: bool
              ) -> tuple[npt.NDArray[np.int32], array[int] | None, bool]:
    """Per event the id of its argument set (-1: none), the correlations as link ids (None when
    no event has one), and whether any event had an argument. The correlations are reset before
    the sets are encoded, or every set would be unique. `whole_first`: encode the chunk's sets
    as one first, so a chunk without any argument costs one encode (~20 ns an event, not ~45):
    worth trying when the chunk before had none."""
    n = len(args)
    try:
        corr: array[int] | None = array("q", map(getattr, args, repeat("corr"), repeat(NO_ID)))
    except (TypeError, OverflowError):  # ids as text or floats, or past int64
        corr = link_ids(list(map(getattr, args, repeat("corr"), repeat(NO_ID))))
    if corr is not None and corr.count(NO_ID) == n:
        corr = None
    elif corr is not None:
        deque(map(setattr, filter(None, args), repeat("corr"), repeat(NO_ID)), 0)
    if whole_first:
        try:
            if b'"' not in encode(args):  # a set with an argument encodes its key in quotes
                return np.full(n, -1, np.int32), corr, False
        except (TypeError, ValueError, OverflowError, RecursionError):
            pass
    try:  # None -> b"null", an empty set -> b"{}"
        ids = np.fromiter(map(sets.__getitem__, map(encode, args)), np.int32, n)
    except (TypeError, ValueError, OverflowError, RecursionError):  # the sets numbered before keep their ids
        ids = np.fromiter(map(sets.__getitem__, [_encode_one(a, max_string) for a in args]), np.int32, n)
    return ids, corr, int(ids.max()) >= 0


def flow_ids(ids: tuple[Any, ...]) -> array[int]:
    """The events' `id`s as link ids (`json_decoders.link_ids`)."""
    try:
        return array("q", ids)
    except (TypeError, OverflowError):
        return link_ids(list(ids))


def decode(text: Text) -> tuple[list[Any], bool]:
    """A chunk's structs, and whether their dur is a float (else its text: a chunk holding a
    dur that is no number)."""
    try:
        return FLOAT_DUR.decode(text), True
    except ValidationError:
        return TEXT_DUR.decode(text), False
