"""Times read exactly to the nanosecond the file states (issue 14, defect 1): Kineto writes `ts`
as µs since the Unix epoch with a ns fraction ("1697051443123456.789"), which a float64 holds
only on a 256 ns grid. Every trace here is written in that shape, its exact answer known."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traces.analysis import top_ops
from traces.chrome_reader import read_chrome_data
from traces.exact_time import parse_chunks, parse_times
from traces.export import write_chrome_trace
from traces.readers import read_trace
from traces.self_time import self_times

EPOCH_NS = 1_697_051_443_123_456_789  # 2023-10-11, as Kineto's clock would give it


def us_text(ns: int, style: str = "kineto") -> str:
    """`ns` as the µs text a producer writes: Kineto's three digits, the shortest decimal, or
    exponent notation."""
    whole, frac = divmod(abs(ns), 1000)
    sign = "-" if ns < 0 else ""
    if style == "kineto":
        return f"{sign}{whole}.{frac:03d}"
    text = f"{sign}{whole}.{frac:03d}".rstrip("0").rstrip(".")
    if style == "exponent":
        return f"{Decimal(text):E}"
    return text


def trace(events: list[str], top: str = "") -> bytes:
    return ('{' + top + '"traceEvents": [' + ",".join(events) + "]}").encode()


def op(name: str, start_ns: int, dur_ns: int, style: str = "kineto", tid: int = 1) -> str:
    return (f'{{"ph": "X", "cat": "cpu_op", "name": "{name}", "pid": 7, "tid": {tid}, '
            f'"ts": {us_text(start_ns, style)}, "dur": {us_text(dur_ns, style)}}}')


def spans(table: Any) -> list[tuple[str, int, int]]:
    return sorted((table.string(int(n)), int(s), int(d)) for n, s, d in zip(table.name, table.start_ns, table.dur_ns,
                                                                           strict=True))


@pytest.mark.parametrize("fast", [True, False])
def test_neighbouring_ops_100_ns_apart_at_an_epoch_time_nest_exactly(fast: bool) -> None:
    """The real failure: a parent with two children 100 ns apart. As floats all three starts
    land on one 0.25 µs grid point, the children overlap and the self times come out wrong."""
    parent, a, b = EPOCH_NS, EPOCH_NS + 100, EPOCH_NS + 200  # a ends at +150: b starts 50 ns after it
    data = trace([op("parent", parent, 300), op("a", a, 50), op("b", b, 100)])
    t = read_chrome_data(data, fast=fast)
    assert spans(t) == [("a", a, 50), ("b", b, 100), ("parent", parent, 300)]
    self_ns = dict(zip((t.string(int(n)) for n in t.name), self_times(t).tolist(), strict=True))
    assert self_ns == {"parent": 150, "a": 50, "b": 100}


@pytest.mark.parametrize("fast", [True, False])
def test_every_number_form_reads_to_the_exact_ns(fast: bool) -> None:
    """Integers, short and long fractions (past 3 digits: nearest ns, ties away from zero),
    exponents, negative numbers; begin/end pairs, instants and counters at epoch times."""
    forms = {"1697051443123456": 1697051443123456000, "1697051443123456.7": 1697051443123456700,
             "1697051443123456.789": 1697051443123456789, "1697051443123456.7894": 1697051443123456789,
             "1697051443123456.7895": 1697051443123456790, "1.6970514431234567895E15": 1697051443123456790,
             "-12.5": -12500, "-0.0005": -1, "0.0005": 1, "0.00049999": 0, "2e-4": 0, "1.5e3": 1500000, "0": 0}
    events = [f'{{"ph": "i", "s": "t", "name": "t{i}", "pid": 1, "tid": 1, "ts": {text}}}' for i, text in enumerate(forms)]
    events += [f'{{"ph": "B", "name": "pair", "pid": 1, "tid": 2, "ts": {us_text(EPOCH_NS + 100)}}}',
               f'{{"ph": "E", "pid": 1, "tid": 2, "ts": {us_text(EPOCH_NS + 150)}}}',
               f'{{"ph": "C", "name": "mem", "pid": 1, "tid": 0, "ts": {us_text(EPOCH_NS + 1)}, "args": {{"bytes": 5}}}}',
               '{"ph": "X", "name": "long", "pid": 1, "tid": 3, "ts": 1, "dur": 1.0009e3}']
    t = read_chrome_data(trace(events, '"baseTimeNanoseconds": 1697051443000000000, '), fast=fast)
    got = {name: start for name, start, _ in spans(t)}
    assert got == {**{f"t{i}": ns for i, ns in enumerate(forms.values())}, "pair": EPOCH_NS + 100, "long": 1000}
    assert [d for name, _, d in spans(t) if name in ("pair", "long")] == [1_000_900, 50]
    assert t.counter_ts_ns.tolist() == [EPOCH_NS + 1]
    assert t.source.time_origin_ns == 1697051443000000000


def test_parse_times_reports_missing_and_non_numbers() -> None:
    ns, us = parse_times(b'12.5,null,"soon",[1,2],{"a":1},1e400,-3', 7)
    assert ns.tolist() == [12500, 0, 0, 0, 0, 0, -3000]
    assert np.isnan(us[1]) and np.isinf(us[2:6]).all() and us[[0, 6]].tolist() == [12.5, -3.0]


@st.composite
def nested_ops(draw: st.DrawFn) -> tuple[list[tuple[int, int, int]], dict[int, int]]:
    """(index, start, end) of ops on one thread, nested up to 4 deep with gaps of 1-5000 ns
    between every two boundaries, and each op's exact self time."""
    steps = draw(st.lists(st.tuples(st.booleans(), st.integers(1, 5000)), min_size=1, max_size=40))
    now = draw(st.integers(-10**6, 10**9))  # ns after the epoch base: any start, any fraction
    stack: list[int] = []
    ops: list[list[int]] = []
    child: dict[int, int] = {}
    for open_one, gap in [*steps, *[(False, 1)] * 5]:
        now += gap
        if open_one and len(stack) < 4:
            stack.append(len(ops))
            ops.append([len(ops), now, now])
        elif stack:
            i = stack.pop()
            ops[i][2] = now
            if stack:
                child[stack[-1]] = child.get(stack[-1], 0) + now - ops[i][1]
    done = [(i, s, e) for i, s, e in ops if e > s]
    return done, {i: e - s - child.get(i, 0) for i, s, e in done}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_ops(), st.integers(1_600_000_000_000_000_000, 1_800_000_000_000_000_000),
       st.sampled_from(["kineto", "short", "exponent"]), st.booleans())
def test_nested_ops_at_epoch_times_read_exactly(ops: tuple[list[tuple[int, int, int]], dict[int, int]], base: int,
                                                style: str, fast: bool) -> None:
    """Random nested ops at epoch-µs times with ns fractions: starts, durations, self times and
    top ops by self time are exactly the integers the file states."""
    events, expected_self = ops
    if not events:
        return
    data = trace([op(f"op{i % 3}", base + s, e - s, style) for i, s, e in events])
    t = read_chrome_data(data, fast=fast)
    assert spans(t) == sorted((f"op{i % 3}", base + s, e - s) for i, s, e in events)
    by_start = {base + s: i for i, s, _ in events}
    got_self = {by_start[int(s)]: int(x) for s, x in zip(t.start_ns, self_times(t), strict=True)}
    assert got_self == expected_self
    per_name: dict[str, int] = {}
    for i, x in expected_self.items():
        per_name[f"op{i % 3}"] = per_name.get(f"op{i % 3}", 0) + x
    assert {r.name: r.self_ns for r in top_ops(t, by="self", limit=None)} == per_name


def test_the_fixed_width_parse_takes_only_its_own_layout() -> None:
    """Chunks whose tokens are all one width are parsed as a table of rows (`exact_time._fixed`);
    equal-width tokens of another layout (a sign, an exponent, a point elsewhere, no point) fall
    back to the digit-by-digit parse and still read exactly."""
    def both(tokens: list[bytes]) -> tuple[list[int], list[int]]:
        text = b",".join(tokens)
        ns, _ = parse_chunks([(0, len(tokens), text)], len(tokens))
        return ns.tolist(), parse_times(text, len(tokens))[0].tolist()

    kineto = [b"1697051443123456.789", b"1697051443123457.001"]
    assert both(kineto) == ([1697051443123456789, 1697051443123457001],) * 2
    for tokens, want in (([b"-123.456", b"1234.567"], [-123456, 1234567]),
                         ([b"1.25e+02", b"1234.567"], [125000, 1234567]),
                         ([b"12.34567", b"1234.567"], [12346, 1234567]),
                         ([b"12345678", b"1234.567"], [12345678000, 1234567])):
        got, general = both(tokens)
        assert got == general == want, tokens


def test_export_writes_the_exact_ns_back(tmp_path: Path) -> None:
    """Export -> import gives the same start_ns, dur_ns and counter times, to the ns."""
    events = [op("a", EPOCH_NS, 333), op("b", EPOCH_NS + 101, 7), op("c", EPOCH_NS + 86_400_000_000_001, 1, tid=2),
              f'{{"ph": "C", "name": "mem", "pid": 7, "tid": 0, "ts": {us_text(EPOCH_NS + 3)}, "args": {{"bytes": 5}}}}',
              f'{{"ph": "i", "s": "t", "name": "mark", "pid": 7, "tid": 1, "ts": {us_text(EPOCH_NS + 999)}}}']
    t = read_chrome_data(trace(events))
    out = write_chrome_trace(t, tmp_path / "out.json")
    back = read_trace(out)
    assert back.start_ns.tolist() == t.start_ns.tolist() and back.dur_ns.tolist() == t.dur_ns.tolist()
    assert back.counter_ts_ns.tolist() == t.counter_ts_ns.tolist() == [EPOCH_NS + 3]
    written = [e for e in json.loads(out.read_bytes())["traceEvents"] if e.get("name") == "b"]
    assert written[0]["ts"] == 0.101 and written[0]["dur"] == 0.007  # µs after the first event, as exact text
