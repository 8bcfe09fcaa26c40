"""The Chrome reader's stream (`traces.stream_decode`) turns each chunk of events into columns
here, and every few MiB (a round) finishes what needs the chunks' own bytes while they are
still in memory, so nothing ever goes back to the file:

- times: the round's ts texts (and the dur texts a float cannot prove, `exact_time.float_ns`)
  parsed to exact ns, so no text piles up (the compiled step reads Kineto's ts to ns itself);
- async ids ("b"/"e") and the full arguments of counters ("C"), which the typed structs skip:
  the chunks holding such events are decoded again with the raw decoder (the whole-file path
  did this as a second pass over the file, `decode.Columns.ids_at` / `counter_args`);
- xprof's link fields (`correlation_id`, flow v2 `bind_id`), read from the first round on in a
  trace whose process names are xprof's ("/host:", "/device:"); one that names them later
  cannot get them without the file (`StreamColumns.columns` leaves `xla_links` None).

A chunk's structs become columns through `traces.stream_events` (few passes over a chunk; keys
and argument sets numbered on first sight), which numbers keys, argument sets, correlations
and flow ids exactly as `traces.decode._Acc` does, so the table is the one the whole-file path
makes. Where the compiled step is built (`traces.chunk_scan_glue`), `scan` writes the same
columns straight from a chunk's text, and the chunks it refuses come through `add`.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate, islice
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.chunk_scan_glue import new_scanner
from traces.decode import Columns, Ids, Int64s
from traces.exact_time import float_ns, parse_chunks
from traces.json_decoders import DUR, NO_ID, chunk, dur_decoder, raw_decoder
from traces.launch_links import _decode as link_fields
from traces.stream_events import ArgSets, Interned, arg_codes, columns, flow_ids, key_codes
from traces.table import TraceError

SPECIAL_PHASES = ("b", "e", "C")  # events whose ids or full args the typed structs skip
XLA_NAMES = (b'"/host:', b'"/device:')  # xprof's process names, in an encoded argument set


class NeedWhole(Exception):
    """The stream cannot decode this file; the whole-file path can, or says precisely why not."""


@dataclass
class _Chunk:
    """One decoded chunk of the round: its first event, its events, its bytes in the buffer,
    its ts text (or, read by the compiled step, its ts as ns and µs), (text-dur chunks only)
    its dur text and (where the compiled step read every dur exactly) its dur in ns."""

    start: int
    n: int
    pos: int
    cut: int
    ts: bytes | tuple[Int64s, npt.NDArray[np.float64]]
    dur: bytes | None
    dur_ns: Int64s | None = None


class Growing:
    """A column written a round at a time. It grows into a new array twice the size, copying
    what it holds, so a column is copied about once in all however long the read; the capacity
    not yet written is never touched, so it costs address space, not memory, and numpy asks for
    huge pages on arrays of 4 MiB and more. (`ndarray.resize` by an eighth, before: inside a
    read, where big blocks come from the heap (`traces.heap_reuse`), its reallocs copy the
    column eight times over, and each zero-fills what it adds 4 KiB page by page.) The old
    array goes back to the read's heap, for the arrays made after it."""

    def __init__(self, dtype: Any, fill: int | None = None) -> None:
        self.array: npt.NDArray[Any] = np.empty(0, dtype)
        self.fill = fill  # what the events never written hold (None: every event is written)
        self.n = 0

    def put(self, start: int, values: npt.NDArray[Any]) -> None:
        end = start + len(values)
        if end > len(self.array):
            grown = np.empty(max(end, 2 * len(self.array), 1 << 16), self.array.dtype)
            grown[:self.n] = self.array[:self.n]
            self.array = grown
        if self.fill is not None and start > self.n:
            self.array[self.n:start] = self.fill
        self.array[start:end] = values
        self.n = end

    def take(self, n: int) -> npt.NDArray[Any]:
        """The column of `n` events, let go here."""
        if self.fill is not None and n > self.n:
            self.put(n, np.empty(0, self.array.dtype))
        out, self.array = self.array, np.empty(0, self.array.dtype)
        out.resize(n, refcheck=False)
        return out


class StreamColumns:
    """Events added chunk by chunk (`add`), finished a round at a time (`end_round`), made
    into `Columns` at the end."""

    def __init__(self, where: object, max_events: int, max_string: int) -> None:
        self.where, self.max_events, self.max_string = where, max_events, max_string
        self.keys = Interned()  # (ph, cat, name, pid, tid) -> code
        self.args = ArgSets()
        self.flows = False  # as in `decode._Acc`: flow ids are read from the first flow event on
        self.n = 0
        self.special: list[int] = []  # the codes of the keys with a phase in SPECIAL_PHASES
        self._had_args = True  # whether the last chunk had an argument set (`stream_events.arg_codes`)
        self.ids: dict[int, Any] = {}
        self.counter_args: dict[int, Any] = {}
        self.xla_from: int | None = None  # the event from which xprof's link fields were read
        self.out = {"code": Growing(np.intp), "ts_ns": Growing(np.int64), "ts": Growing(np.float64),
                    "dur_ns": Growing(np.int64), "dur": Growing(np.float64), "ref": Growing(np.int32)}
        self.links = {"corr": Growing(np.int64, NO_ID), "flow": Growing(np.int64, NO_ID)}
        self.xla = {"corr": Growing(np.int64, NO_ID), "flow": Growing(np.int64, NO_ID), "bind": Growing(np.int64, NO_ID)}
        self._round: list[_Chunk] = []
        self._code: list[npt.NDArray[np.intp]] = []
        self._dur: list[npt.NDArray[np.float64]] = []
        self._ref: list[npt.NDArray[np.int32]] = []
        self._links: list[tuple[int, Ids | None, Ids | None]] = []  # first event, correlations, flow ids
        self._sets_seen = 0  # argument sets checked for xprof's process names
        self.scanner = new_scanner(self.keys, self.args)  # the compiled step, None where it is not built

    def add(self, events: list[Any], pos: int, cut: int, float_dur: bool) -> None:
        """One chunk's structs, from `decode`: dur a float (`float_dur`) or its text."""
        n = len(events)
        self._check(n)
        if not n:
            return
        ph, cat, name, pid, tid, ts, dur, args, ids = columns(events)
        before = len(self.keys)
        self._code.append(key_codes(self.keys, ph, cat, name, pid, tid))
        if len(self.keys) > before:
            self._new_keys(before)
        if float_dur:
            self._dur.append(np.array(dur, np.float64))
            dur_text = None
        else:
            self._dur.append(np.full(n, np.nan))
            dur_text = b",".join(dur)
        self._round.append(_Chunk(self.n, n, pos, cut, b",".join(ts), dur_text))
        ref, corr, self._had_args = arg_codes(self.args, args, self.max_string, not self._had_args)
        self._put_links(ref, corr, flow_ids(ids) if self.flows else None, n)

    def scan(self, buf: bytearray, pos: int, cut: int) -> bool:
        """`add` for the chunk `buf[pos:cut]` through the compiled step (`traces.chunk_scan_glue`),
        no structs made; False when it is not built or refuses the chunk: `decode` and `add` it."""
        if self.scanner is None:
            return False
        before = len(self.keys)
        got = self.scanner.scan(buf, pos, cut)
        if len(self.keys) > before:  # numbered even when the chunk was refused after them
            self._new_keys(before)
        if got is None:
            return False
        n, code, dur, ts, ref, corr, ids, self._had_args, dur_ns = got
        self._check(n)
        self._code.append(code)
        self._dur.append(dur)
        self._round.append(_Chunk(self.n, n, pos, cut, ts, None, dur_ns))
        self._put_links(ref, corr, ids if self.flows else None, n)
        return True

    def _check(self, n: int) -> None:
        if self.n + n > self.max_events:
            raise TraceError(self.where, f"more than {self.max_events:,} events (raise Limits.max_events to read it)")

    def _put_links(self, ref: npt.NDArray[np.int32], corr: Ids | None, flows: Ids | None, n: int) -> None:
        if corr is not None or flows is not None:
            self._links.append((self.n, corr, flows))
        self._ref.append(ref)
        self.n += n

    def _new_keys(self, before: int) -> None:
        fresh = list(islice(reversed(self.keys), len(self.keys) - before))  # from the end: a read numbers thousands
        fresh.reverse()
        for code, key in enumerate(fresh, before):
            if key[0] in ("s", "t", "f"):
                self.flows = True
            if key[0] in SPECIAL_PHASES:
                self.special.append(code)

    def end_round(self, buf: bytearray) -> None:
        """Finish the chunks added since the last round; their bytes are still in `buf`."""
        round_, self._round = self._round, []
        code, ref, dur_us = _joined(self._code, np.intp), _joined(self._ref, np.int32), _joined(self._dur, np.float64)
        if not len(code):
            return
        start = self.n - len(code)
        with memoryview(buf) as view:
            ts_ns, ts_us = _times(round_, start, len(code))
            dur_ns = self._durations(round_, view, start, dur_us)
            self._special(round_, view, code, start)
            self._xla(round_, view)
        # keys are numbered in order of first sight (`stream_events.Interned`), as `decode._Acc` numbers them
        for name, column in (("code", code), ("ts_ns", ts_ns), ("ts", ts_us),
                             ("dur_ns", dur_ns), ("dur", dur_us), ("ref", ref)):
            self.out[name].put(start, column)
        for begin, corr, flow in self._links:
            for name, values in (("corr", corr), ("flow", flow)):
                if values is not None and len(values):
                    self.links[name].put(begin, np.frombuffer(values, np.int64))
        self._links.clear()

    def _durations(self, round_: list[_Chunk], view: memoryview, start: int, dur_us: npt.NDArray[np.float64]) -> Int64s:
        """The round's dur in ns (and `dur_us` corrected in place) as `decode._Acc._durations`
        makes them: floats where `float_ns` proves them, the text elsewhere; what the compiled
        step read exactly (the same ns: `parse_dur_ns`) as it is."""
        read = [c.dur_ns for c in round_ if c.dur_ns is not None]
        if len(read) == len(round_):
            return read[0] if len(read) == 1 else np.concatenate(read)
        dur_ns, exact = float_ns(dur_us)
        for c in round_:
            if c.dur_ns is not None:
                dur_ns[c.start - start:c.start - start + c.n] = c.dur_ns
                exact[c.start - start:c.start - start + c.n] = True
        texts = [(c.start - start, c.n, c.dur) for c in round_ if c.dur is not None]
        redo = np.flatnonzero(~exact & ~np.isnan(dur_us))
        if len(redo):
            floats = [c for c in round_ if c.dur is None]
            begins = np.array([c.start - start for c in floats], np.int64)
            for k in np.unique(np.searchsorted(begins, redo, side="right") - 1).tolist():
                c = floats[k]
                events = dur_decoder.decode(chunk(view, c.pos, c.cut))
                texts.append((c.start - start, len(events), b",".join(map(DUR, events))))
        if texts:
            idx = np.concatenate([np.arange(a, a + k) for a, k, _ in texts])
            at = accumulate((k for _, k, _ in texts), initial=0)
            dur_ns[idx], dur_us[idx] = parse_chunks([(a, k, t) for a, (_, k, t) in zip(at, texts, strict=False)], len(idx))
        return dur_ns

    def _special(self, round_: list[_Chunk], view: memoryview, code: npt.NDArray[np.intp], start: int) -> None:
        """Async ids and counter arguments of the round's "b" / "e" / "C" events (`start`: its first event)."""
        if not self.special:
            return
        hit = np.isin(code, np.array(self.special, np.intp))
        if not hit.any():
            return
        for c in round_:
            mine = np.flatnonzero(hit[c.start - start:c.start - start + c.n])
            if not len(mine):
                continue
            raw = raw_decoder.decode(chunk(view, c.pos, c.cut))
            for j in mine.tolist():
                ev = raw[j]
                if ev.ph == "C":
                    self.counter_args[c.start + j] = ev.args
                else:
                    self.ids[c.start + j] = ev.id

    def _xla(self, round_: list[_Chunk], view: memoryview) -> None:
        """xprof's link fields, from the round whose argument sets first name an xprof process on."""
        if self.xla_from is None:
            fresh = islice(self.args.sets, self._sets_seen, None)
            self._sets_seen = len(self.args.sets)
            if not any(name in key for key in fresh for name in XLA_NAMES):
                return
            self.xla_from = round_[0].start
        for c in round_:
            raw = link_fields(chunk(view, c.pos, c.cut), c.n, True)
            if raw is None:  # the chunk decoded, so this cannot be: let the whole-file path read it
                raise NeedWhole("xprof's link fields of a chunk do not decode")
            for name, values in (("corr", raw.correlation), ("flow", raw.flow_id), ("bind", raw.bind_id)):
                self.xla[name].put(c.start, values)

    def columns(self, top: dict[str, Any]) -> Columns:
        """The events as `Columns`; each column is handed over, not copied."""
        n = self.n
        out = {name: column.take(n) for name, column in self.out.items()}
        xla = None
        if self.xla_from == 0 or n == 0:
            xla = self.xla["corr"].take(n), self.xla["flow"].take(n), self.xla["bind"].take(n)
        return Columns(list(self.keys), out["code"], out["ts"], out["dur"], out["ref"], self.args.sets, top, ids=self.ids,
                       counter_args=self.counter_args, ts_ns=out["ts_ns"], dur_ns=out["dur_ns"], links=self._all_links,
                       xla_links=xla)

    def _all_links(self) -> tuple[Int64s, Int64s]:
        """Per event its correlation and flow id (-1: none), when first asked for."""
        corr, flow = self.links["corr"].take(self.n), self.links["flow"].take(self.n)
        np.maximum(corr, NO_ID, out=corr)  # negative ids are none
        np.maximum(flow, NO_ID, out=flow)
        return corr, flow


def _times(round_: list[_Chunk], start: int, n: int) -> tuple[Int64s, npt.NDArray[np.float64]]:
    """The round's ts (`start`: its first event) in ns and µs: the texts parsed (`exact_time`),
    and what the compiled step read already put in place."""
    texts = [(c.start - start, c.n, c.ts) for c in round_ if isinstance(c.ts, bytes)]
    if len(texts) == len(round_):
        return parse_chunks(texts, n)
    if not texts:
        return np.concatenate([c.ts[0] for c in round_]), np.concatenate([c.ts[1] for c in round_])
    ts_ns, ts_us = parse_chunks(texts, n)
    for c in round_:
        if not isinstance(c.ts, bytes):
            ts_ns[c.start - start:c.start - start + c.n], ts_us[c.start - start:c.start - start + c.n] = c.ts
    return ts_ns, ts_us


def _joined(parts: list[npt.NDArray[Any]], dtype: Any) -> npt.NDArray[Any]:
    """The parts as one array (an empty one of `dtype` when there were none); the list is emptied."""
    out = np.concatenate(parts) if parts else np.empty(0, dtype)
    parts.clear()
    return out
