"""The stream's compiled per-chunk step (`traces/chunk_scan.pyx`) against msgspec's structs: every
read must give the same columns (keys in the same order, codes, argument sets and ids, times,
correlations, flow ids, async ids, counter arguments, xprof links) whichever path decoded each
chunk. Where the module is not built, the comparisons skip and the rest still runs."""
from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from unittest import mock

import numpy as np
import pytest

from bench.trace_reader import kineto_events, write_trace
from tests.traces.test_stream import SHAPES, epoch, ev
from traces import chunk_scan_glue, stream_columns, stream_decode
from traces.decode import Columns
from traces.exact_time import float_ns
from traces.stream_columns import StreamColumns
from traces.stream_decode import NeedWhole, decode_stream
from traces.stream_events import FLOAT_DUR, decode
from traces.table import Limits

built = pytest.mark.skipif(not chunk_scan_glue.available(),
                           reason="traces/chunk_scan.pyx is not built here (scripts/setup.sh builds it with Cython)")


def read(data: bytes, scan: bool, chunk: int = 2048, round_: int = 8192) -> Columns | str:
    """The stream's columns with the compiled step on or off (small chunks and rounds, so a small
    trace takes every path of a big one); the NeedWhole reason when the stream gives up."""
    with mock.patch.object(chunk_scan_glue, "ENABLED", scan), mock.patch.object(stream_decode, "CHUNK_BYTES", chunk), \
            mock.patch.object(stream_decode, "SCAN_CHUNK_BYTES", chunk), mock.patch.object(stream_decode, "ROUND_BYTES", round_):
        try:
            return decode_stream([data[i:i + 5000] for i in range(0, len(data), 5000)], "t", Limits())
        except NeedWhole as e:
            return f"NeedWhole: {e}"


@contextmanager
def counted() -> Iterator[list[int]]:
    """[chunks refused, chunks taken] by the compiled step while the block runs."""
    counts = [0, 0]
    scan = StreamColumns.scan

    def counting(self: StreamColumns, buf: bytearray, pos: int, cut: int) -> bool:
        got = scan(self, buf, pos, cut)
        if self.scanner is not None:
            counts[got] += 1
        return got

    with mock.patch.object(stream_columns.StreamColumns, "scan", counting):
        yield counts


def assert_same(a: Columns | str, b: Columns | str) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    assert a.ukeys == b.ukeys
    assert [type(v) for k in a.ukeys for v in k] == [type(v) for k in b.ukeys for v in k]
    for name in ("code", "ts", "dur", "arg_ref", "ts_ns", "dur_ns"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name  # bit for bit: NaNs, -0.0
    assert a.arg_keys == b.arg_keys
    assert a.links is not None and b.links is not None
    for x, y in zip(a.links, b.links, strict=True):
        assert np.array_equal(x, y)
    assert (a.xla_links is None) == (b.xla_links is None)
    if a.xla_links is not None and b.xla_links is not None:
        for x, y in zip(a.xla_links, b.xla_links, strict=True):
            assert np.array_equal(x, y)
    assert a._ids == b._ids and a._counter_args == b._counter_args and a.top == b.top


def both(data: bytes, **sizes: int) -> tuple[Columns | str, list[int]]:
    """The columns with the compiled step (checked against msgspec's), and [refused, taken]."""
    with counted() as counts:
        scanned = read(data, True, **sizes)
    assert_same(scanned, read(data, False, **sizes))
    return scanned, counts


def trace(events: list[str], pretty: bool = False) -> bytes:
    sep = ",\n" if pretty else ","
    return ('{"schemaVersion": 1, "traceEvents": [\n' + sep.join(events) + '\n], "displayTimeUnit": "ms"}').encode()


def gpu_trace(launches: int) -> bytes:
    return trace(list(kineto_events(launches)), pretty=True)


def cpu_trace(tmp_path: Any, events: int, shapes: bool) -> bytes:
    path = tmp_path / "cpu.json"
    write_trace(path, events, shapes, False)
    return path.read_bytes()


def odd_events() -> list[str]:
    """What a trace may hold: long, unicode and escaped names, pid / tid as text, dur missing
    or as text, nested and null arguments, string and float ids, counters, async pairs."""
    out = [json.dumps({"ph": "M", "name": "process_name", "pid": "host", "tid": 0, "args": {"name": "Ünïcode ✓ \"q\""}})]
    for i in range(300):
        name = ["op\u00e9", "tab\there", "quote\"d", "back\\slash", "x" * 5000, "\U0001f600 emoji", "line\nbreak",
                "plain"][i % 8]
        args: Any = [None, {}, {"Input Dims": [[1, i % 3], []], "nested": {"a": [{"b": None}]}},
                     {"name": "thread ✓", "labels": None, "correlation": 7000 + i, "grid": [1, 2, 3]},
                     {"long_name": "y" * 4100, "Input type": ["float", ""], "x": -1.5e-7}][i % 5]
        more: dict[str, Any] = {"cat": ["cpu_op", "kernel", None][i % 3], "pid": [1, "1", "p\u00e9"][i % 3],
                                "tid": [i % 4, f"t{i % 2}"][i % 2]}
        if args is not None or i % 10 == 3:
            more["args"] = args
        dur = [1.5, None, 0, "-0.0", "1e2", 123456789.123, "2.5E-3"][i % 7]
        out.append(ev("X", name, epoch(i, 123), dur=dur, **more))
        out.append(ev(["s", "f", "t"][i % 3], "ac2g", epoch(i), cat="ac2g", id=[i, f"0x{i:x}", str(i), None][i % 4]))
    for i in range(40):
        out += [ev("b", "async", epoch(i), cat="net", id=f"0x{i % 5}"), ev("e", "async", epoch(i, 5), cat="net", id=i % 5),
                ev("C", "mem", epoch(i), args={"used": i, "free": 2.5}), ev("i", "mark", epoch(i), s="g")]
    return out


@built
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_stream_shape_is_read_the_same(shape: str) -> None:
    both(SHAPES[shape]())


@built
def test_gpu_shaped_kineto_is_scanned_whole_and_the_same() -> None:
    scanned, (refused, taken) = both(gpu_trace(800), chunk=16 << 10, round_=64 << 10)
    assert isinstance(scanned, Columns) and scanned.n == 4 + 1 + 6 * 800
    assert refused == 0 and taken > 20  # the shape this step is for never falls back


@built
@pytest.mark.parametrize("shapes", [False, True])
def test_cpu_op_traces_are_read_the_same(tmp_path: Any, shapes: bool) -> None:
    _, (refused, taken) = both(cpu_trace(tmp_path, 3000, shapes))
    assert refused == 0 and taken > 100


@built
def test_odd_events_are_read_the_same() -> None:
    _, (refused, taken) = both(trace(odd_events()))
    assert taken > 20 and refused > 0  # text durs and float ids are left to msgspec


REFUSED = [
    '{"ph": "X", "ph": "B", "name": "dup"}',  # a field twice
    '{"ph": "X", "name": "esc", "args": {"na\\u006de": 1}}',  # an escaped argument key
    '{"p\\u0068": "X", "name": "esc"}',  # an escaped field name
    '{"ph": "X", "name": "c", "args": {"correlation": "12"}}',  # a correlation as text
    '{"ph": "X", "name": "c", "args": {"correlation": 1, "correlation": 2}}',
    '{"ph": "X", "name": "g", "args": {"grid": 1, "grid": 2}}',
    '{"ph": "X", "name": "d", "dur": null}',
    '{"ph": "X", "name": "d", "dur": 12345678901234567}',  # an integer past 15 digits
    '{"ph": "X", "name": "i", "id": 1.5}',
    '{"ph": "X", "name": "i", "id": 123456789012345678901}',
    '{"ph": "Q", "name": "unknown phase"}',
    '{"ph": "X", "name": "s", "x": "\\ud83d\\ude00"}',  # escaped surrogates
    '{"ph": "X", "name": "p", "pid": 1.0}',
    '{"ph": "X", "name": "n", "args": [1]}',
]


@built
@pytest.mark.parametrize("odd", REFUSED)
def test_a_refused_chunk_falls_back_to_msgspec(odd: str) -> None:
    events = [ev("X", f"op{i % 3}", epoch(i), dur=1, args={"grid": [i % 2]}) for i in range(60)]
    events.insert(30, odd)
    scanned, (refused, taken) = both(trace(events), chunk=512, round_=1024)
    assert refused >= 1 and taken >= 1
    if isinstance(scanned, Columns):  # the chunks before and after the odd one were scanned, numbered in order
        assert scanned.n == 61


def random_value(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.choice(["null", "true", "false"])
    if kind == 1:
        return str(rng.randint(-10**6, 10**6))
    if kind == 2:
        return random_number(rng)
    if kind in (3, 4, 5):
        return json.dumps(rng.choice(["a", "é", "", "}, {", "\\", "\n", "x" * 50, "\u2603"]), ensure_ascii=rng.random() < .5)
    if kind in (6, 7):
        return "{" + ", ".join(f'"{rng.choice("abcgn")}": {random_value(rng, depth + 1)}'
                               for _ in range(rng.randrange(3))) + "}"
    return "[" + " ,".join(random_value(rng, depth + 1) for _ in range(rng.randrange(3))) + "]"


def random_number(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20))).lstrip("0") or "0"
    frac = "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20))) if rng.random() < .7 else ""
    exp = rng.choice(["e", "E"]) + rng.choice(["", "+", "-"]) + str(rng.randint(0, 330)) if rng.random() < .3 else ""
    return rng.choice(["", "-"]) + digits + frac + exp


def random_args(rng: random.Random) -> str:
    values = {"correlation": lambda: rng.choice([str(rng.randrange(10**6))] * 8 + ['"5"', "null", "1.5", "-1"]),
              "External id": lambda: str(rng.randrange(10**6))}
    keys = rng.sample(["name", "grid", "block", "Input Dims", "correlation", "External id", "labels"], rng.randrange(5))
    return "{" + ", ".join(f'"{k}": {values.get(k, lambda: random_value(rng, 1))()}' for k in keys) + "}"


def random_event(rng: random.Random) -> str:
    fields = {"ph": json.dumps(rng.choice(["X", "X", "i", "s", "f", "B", "E", "M"])),
              "name": json.dumps(rng.choice(["a", "b", "ü", "k\"q", "z" * 300, "\u2603"]), ensure_ascii=rng.random() < .3),
              "cat": rng.choice(['"cpu_op"', '"kernel"', "null"]), "pid": rng.choice(["1", '"1"', "-0", "2"]),
              "tid": rng.choice(["0", "7", '"t"', "null"]), "ts": rng.choice([epoch(rng.randrange(1000), 5), "1.5", '"12"']),
              "dur": rng.choice([random_number(rng), str(rng.randint(0, 10**6)), "1.25", "0.001"]),
              "id": rng.choice([str(rng.randrange(10**9)), '"0x1f"', "null", "-3"]),
              "args": rng.choice(["null", "{}", random_value(rng, 2), *[random_args(rng)] * 6]),
              "extra": random_value(rng)}
    keys = [k for k in fields if rng.random() < .8]
    rng.shuffle(keys)
    return "{" + ", ".join(f'"{k}": {fields[k]}' for k in keys) + "}"


def fed(chunks: list[list[str]], scan: bool) -> tuple[Columns, list[str]]:
    """Chunks of events one by one into a stream's columns, each its own round: with the compiled
    step (msgspec where it refuses) or msgspec alone. Per chunk: scanned, msgspec or bad. A chunk
    msgspec cannot decode is read again as the stream reads it (from its first event: here its
    events up to the first bad one), and the sequence stops there (the stream would cut it
    elsewhere or read the file whole); so the keys and sets the compiled step numbered before it
    refused are numbered by the next chunk in the same order."""
    with mock.patch.object(chunk_scan_glue, "ENABLED", scan):
        acc = StreamColumns("t", 10**9, 10**6)
    paths = []
    for events in chunks:
        if not feed(acc, events, paths):
            good = next(k for k in range(len(events) + 1) if k == len(events) or not decodes(events[:k + 1]))
            if good:
                feed(acc, events[:good], [])
            break
    return acc.columns({}), paths


def decodes(events: list[str]) -> bool:
    try:
        decode(("[" + ",".join(events) + "]").encode())
    except ValueError:  # msgspec's DecodeError and ValidationError
        return False
    return True


def feed(acc: StreamColumns, events: list[str], paths: list[str]) -> bool:
    text = ",\n ".join(events).encode()
    buf = bytearray(text)
    if acc.scan(buf, 0, len(buf)):
        paths.append("scanned")
    elif decodes(events):
        structs, float_dur = decode(b"[" + text + b"]")
        acc.add(structs, 0, len(buf), float_dur)
        paths.append("msgspec")
    else:
        paths.append("bad")
        return False
    acc.end_round(buf)
    return True


@built
@pytest.mark.parametrize("seed", range(4))
def test_random_chunks_are_read_the_same(seed: int) -> None:
    """Random events from a small grammar, a few to a chunk, 5 chunks to a read: a chunk msgspec
    cannot decode is refused here too, and the rest give the same columns."""
    rng = random.Random(seed)
    paths: list[str] = []
    for _ in range(80):
        chunks = [[random_event(rng) for _ in range(rng.randint(1, 5))] for _ in range(5)]
        scanned, scanned_paths = fed(chunks, True)
        alone, alone_paths = fed(chunks, False)
        assert_same(scanned, alone)
        assert [p == "bad" for p in scanned_paths] == [p == "bad" for p in alone_paths]
        paths += scanned_paths
    assert paths.count("scanned") > 60 and paths.count("msgspec") > 20 and len(paths) > 200


@built
@pytest.mark.parametrize("odd_ts", ["17", "1.5", '"12"', "1697051443000001.0000", None])
def test_a_ts_not_in_kinetos_form_is_read_as_text_after_the_chunk_began_reading(odd_ts: str | None) -> None:
    """A chunk begins reading Kineto's ts to ns; one of another form (or none) after new keys and
    argument sets were numbered: the chunk is read again with its ts as text, the next chunk
    begins with text, the one after reads again; the same columns as msgspec's path."""
    def kineto(i: int) -> str:
        return f'{{"ph": "X", "name": "k{i}", "ts": {epoch(i, 3)}, "dur": {i}.500, "args": {{"grid": [{i}, 1, 1]}}}}'

    ts = f', "ts": {odd_ts}' if odd_ts is not None else ""
    odd = f'{{"ph": "X", "name": "odd", "dur": 2.000{ts}, "args": {{"grid": [99, 1, 1]}}}}'
    chunks = [[kineto(i) for i in range(3)], [kineto(3), kineto(7), odd, kineto(4)], [kineto(5), kineto(8)],
              [kineto(6), kineto(9)]]
    scanned, paths = fed(chunks, True)
    alone, _ = fed(chunks, False)
    assert paths == ["scanned"] * 4
    assert_same(scanned, alone)
    scanner = chunk_scan_glue.new_scanner(stream_columns.Interned(), stream_columns.ArgSets())
    texts = [",".join(events).encode() for events in chunks]
    read_to_ns = [isinstance(scanner.scan(bytearray(t), 0, len(t))[3], tuple) for t in texts]
    assert read_to_ns == [True, False, False, True]


@built
def test_durations_are_the_floats_msgspec_makes() -> None:
    """Bit for bit, for decimals of every length and exponent (Clinger's path and Python's parse)."""
    rng = random.Random(7)
    numbers = [random_number(rng) for _ in range(20000)] + ["0", "-0", "-0.0", "0e5", "1e22", "1e23", "9007199254740993",
                                                           "123456789012345", "0.1", "2.2250738585072014e-308"]
    scanner = chunk_scan_glue.new_scanner(stream_columns.Interned(), stream_columns.ArgSets())
    kept = 0
    for k in range(0, len(numbers), 100):
        for x in numbers[k:k + 100]:
            text = f'{{"ph": "X", "dur": {x}}}'.encode()
            try:
                want = FLOAT_DUR.decode(b"[" + text + b"]")[0].dur
            except ValueError:
                want = None
            got = scanner.scan(bytearray(text), 0, len(text))
            if got is not None:
                kept += 1
                assert want is not None and math.copysign(1, got[2][0]) == math.copysign(1, want), x
                assert got[2][0] == want, x
    assert kept > 10000


@built
def test_durations_read_to_ns_here_are_the_ns_float_ns_proves() -> None:
    """Where the step reads a dur to exact ns itself (`parse_dur_ns`: up to 15 digits and 3
    fraction digits, under 2**41 ns), it is the text's ns, which `float_ns` also proves from
    msgspec's float; every other form is left to `float_ns` (and the text)."""
    rng = random.Random(11)
    numbers = [str(rng.randrange(10 ** rng.randint(1, 16))) + ("." + str(rng.randrange(10 ** k)).zfill(k) if
               (k := rng.randint(0, 4)) else "") for _ in range(20000)]
    numbers += ["0", "0.0", "0.001", "84", "12.5", "2199023255.551", "2199023255.552", "70305689300.46",
                "999999999999999", "1.2345", "1e3", "-5.0", "1234567890123456"]
    scanner = chunk_scan_glue.new_scanner(stream_columns.Interned(), stream_columns.ArgSets())
    read = 0
    for x in numbers:
        text = f'{{"ph": "X", "dur": {x}}}'.encode()
        got = scanner.scan(bytearray(text), 0, len(text))
        if got is None:  # an integer msgspec would not make a float of exactly: the whole chunk is refused
            assert re.fullmatch(r"\d{16,}", x), x
            continue
        exact_ns = Decimal(x) * 1000
        expected = re.fullmatch(r"\d{1,15}(\.\d{1,3})?", x) is not None and exact_ns < 2**41
        assert (got[8] is not None) == expected, x
        if expected:
            read += 1
            proved, exact = float_ns(np.array([FLOAT_DUR.decode(b"[" + text + b"]")[0].dur]))
            assert exact[0] and got[8][0] == proved[0] == int(exact_ns), x
    assert 8000 < read < len(numbers) - 1000


def test_the_stream_reads_without_the_compiled_step() -> None:
    """Not built, or switched off: every chunk through msgspec, the same table (this runs everywhere)."""
    data = SHAPES["links"]()
    with mock.patch.object(chunk_scan_glue, "chunk_scan", None):
        assert chunk_scan_glue.new_scanner(stream_columns.Interned(), stream_columns.ArgSets()) is None
        absent = read(data, True)
    assert isinstance(absent, Columns) and absent.n > 500
    assert_same(absent, read(data, False))



@built
def test_a_numbers_digits_end_at_the_first_byte_that_is_no_digit() -> None:
    """The step finds a run of digits 8 bytes at a time (`digits_end`): whatever byte follows the
    digits, and wherever the run falls against the 8-byte words, the chunk is read exactly when
    msgspec reads it, to the same values."""
    for length in (1, 7, 8, 9, 16, 17):
        for pad in range(8):
            for byte in range(1, 256):
                digits = "".join(str((k * 7 + 3) % 10) for k in range(length)).lstrip("0") or "0"
                value = f"{digits}.5{chr(byte)}" if byte & 1 else f"{digits}{chr(byte)}"
                text = ('{"ph": "X", "name": "' + "n" * pad + '", "ts": 1697051443000000.250, "dur": 2, "args": '
                        '{"External id": ' + value + ', "grid": [' + digits + ']}}').encode("latin-1")
                buf = bytearray(text)
                with mock.patch.object(chunk_scan_glue, "ENABLED", True):
                    acc = StreamColumns("t", 10**9, 10**6)
                scanned = acc.scan(buf, 0, len(buf))
                assert scanned == decodes([text.decode("latin-1")]), (length, pad, byte)
                if scanned:
                    acc.end_round(buf)
                    cols = acc.columns({})
                    assert cols.arg_keys == [b'{"grid":[' + digits.encode() + b"]}"], (length, pad, byte)
