"""Every way a trace file can be bad gives one TraceError line naming the file and the
problem, and memory stays bounded by the size limit."""
from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path

import pytest

from traces.chrome_reader import read_chrome_trace
from traces.readers import read_trace
from traces.table import Limits, TraceError, table_from_blobs, table_to_blobs
from traces.xplane_write import len_field

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "traces"
GOOD = {"ph": "X", "name": "aten::add", "cat": "cpu_op", "ts": 1.0, "dur": 2.0, "pid": 1, "tid": 1}


def fails(path: Path, match: str, limits: Limits | None = None) -> str:
    """The TraceError message for `path` (both decode paths for Chrome traces)."""
    messages = []
    readers = [lambda: read_trace(path, limits)]
    if path.is_file() and not path.name.endswith((".xplane.pb", ".xplane.pb.gz")):
        readers.append(lambda: read_chrome_trace(path, limits, fast=False))
    for read in readers:
        with pytest.raises(TraceError) as info:
            read()
        message = str(info.value)
        assert "\n" not in message and message.startswith(str(path)), message
        assert match.lower() in message.lower(), message
        messages.append(message)
    return messages[0]


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def trace(*events: object) -> str:
    return json.dumps({"traceEvents": list(events)})


@pytest.mark.parametrize("content, match", [
    ("hello, this is not a trace", "not a trace: text that is not JSON"),
    (b"\x00\x01\x02binary\xff", "not a trace: binary data"),
    ("", "is empty"),
    ("   \n\t ", "is empty"),
    ('{"traceEvents": [{"ph": "X", "name": "a", "ts": 1, "dur"', "not valid JSON"),
    ('{"something": 1}', "no traceEvents"),
    ('{"traceEvents": 5}', "no traceEvents"),
    ("42", "not a trace"),
    ('"just a string"', "not a trace"),
    ('{"traceEvents": [1, 2]}', "event 0 is not a JSON object"),
    ('{"traceEvents": [{"ph": "X", "name": "n", "ts": NaN, "dur": 1}]}', "NaN"),
    ('{"traceEvents": [{"ph": "X", "name": "n", "ts": 1, "dur": Infinity}]}', "Infinity"),
    ('{"traceEvents": [{"ph": "X", "name": "n", "ts": 1e400, "dur": 1}]}', "out of range"),
    (trace(GOOD, dict(GOOD, name="late", dur=-5)), "event 1 ('late') has a negative duration (-5.0 µs)"),
    (trace(dict(GOOD, ts=1e308)), "has no valid ts (1e+308"),
    (trace(dict(GOOD, dur=1e300)), "an invalid duration"),
    (trace(dict(GOOD, ts="12")), "has no valid ts (not a number"),
    (trace(dict(GOOD, ts=None)), "has no valid ts (missing"),
    (trace(dict(GOOD, ts=True)), "has no valid ts"),
    (trace(dict(GOOD, ph="i", ts=-1e200)), "has no valid ts"),
    (trace(dict(GOOD, ph="B"), dict(GOOD, ph="E", ts=float("1e20"))), "has no valid ts"),
    (trace({"ph": "C", "name": "mem", "ts": 1e99, "args": {"a": 1}}), "has no valid ts"),
    (trace({"ph": "i", "name": "[memory]", "ts": -9e99, "args": {"Total Allocated": 1}}), "has no valid ts"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    (trace(dict(GOOD, args={"deep": json.loads("[" * 500 + "]" * 500)})) .replace("[]", "[" * 5000 + "]" * 5000),
     "nested too deeply"),
    ('{"traceEvents": [' + ",".join([json.dumps(GOOD)] * 3) + "]} trailing junk", "not valid JSON"),
    (b'{"traceEvents": [{"ph": "X", "name": "\xff\xfe", "ts": 1, "dur": 1}]}', "not valid JSON"),
])
def test_bad_chrome_traces(tmp_path: Path, content: bytes | str, match: str) -> None:
    fails(write(tmp_path, "t.json", content), match)


def test_odd_but_valid_values_are_kept(tmp_path: Path) -> None:
    odd = [dict(GOOD, pid=10**40, tid=2.0, name=12, cat=["x"]), dict(GOOD, name=None, ph="i", dur="ignored"),
           {"ph": "X", "ts": 5, "pid": 1, "tid": 1}, {"ph": "Q", "ts": "bad", "name": "unknown phase: skipped"},
           dict(GOOD, args={"hlo_op": 7, "long_name": None, "Input Dims": [[1, 2]], "x": {"y": 1}})]
    t = read_trace(write(tmp_path, "odd.json", json.dumps({"traceEvents": odd})))
    assert len(t) == 4
    assert {t.string(int(i)) for i in t.name} == {"12", "", "aten::add"}
    assert any(r.pid.startswith("1000000000") for r in t.rows)


def test_truncated_gzip(tmp_path: Path) -> None:
    whole = gzip.compress(trace(*[GOOD] * 1000).encode())
    fails(write(tmp_path, "t.json.gz", whole[: len(whole) // 2]), "truncated gzip")


def test_damaged_gzip(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(trace(*[GOOD] * 1000).encode()))
    data[-8] ^= 0xFF  # CRC
    fails(write(tmp_path, "crc.json.gz", bytes(data)), "damaged gzip")
    fails(write(tmp_path, "junk.json.gz", b"\x1f\x8b" + os.urandom(200)), "gzip")


def test_gzip_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    bomb = write(tmp_path, "bomb.json.gz", gzip.compress(b"[" + b" " * (64 << 20) + b"]", 9))
    assert bomb.stat().st_size < 200_000
    message = fails(bomb, "expands past the 8,388,608-byte limit", Limits(max_bytes=8 << 20))
    assert "raise Limits.max_bytes" in message
    assert len(read_trace(bomb, Limits(max_bytes=80 << 20))) == 0  # the user can raise the limit


def test_plain_file_over_the_limit(tmp_path: Path) -> None:
    fails(write(tmp_path, "big.json", trace(*[GOOD] * 100)), "over the 1,000-byte limit", Limits(max_bytes=1000))


def test_too_many_events(tmp_path: Path) -> None:
    fails(write(tmp_path, "many.json", trace(*[GOOD] * 50)), "more than 10 events", Limits(max_events=10))


def test_overlong_strings_are_cut(tmp_path: Path) -> None:
    t = read_trace(write(tmp_path, "long.json", trace(dict(GOOD, name="n" * 10_000, args={"hlo_op": "h" * 10_000}))),
                   Limits(max_string=100))
    assert len(t.string(int(t.name[0]))) == 100
    assert "truncated" in t.event_args(0)
    assert t.source.notes.count("cut names, categories or arguments longer than 100 characters (Limits.max_string)") == 1


@pytest.mark.parametrize("content, match", [
    (b"hello not a protobuf", "could not read this XPlane"),
    (os.urandom(4096), "could not read this XPlane"),
    (b"", "is empty"),
])
def test_bad_xplanes(tmp_path: Path, content: bytes, match: str) -> None:
    fails(write(tmp_path, "host.xplane.pb", content), match)


def test_truncated_and_gzipped_xplanes(tmp_path: Path) -> None:
    real = gzip.decompress((DATA / "jax_mlp.xplane.pb.gz").read_bytes())
    fails(write(tmp_path, "cut.xplane.pb", real[:5000]), "could not read this XPlane: it ends inside")
    fails(write(tmp_path, "cut.xplane.pb.gz", gzip.compress(real)[:3000]), "truncated gzip")
    fails(write(tmp_path, "big.xplane.pb", real), "over the", Limits(max_bytes=1000))
    bomb = gzip.compress(len_field(9, bytes(4 << 20)))  # valid protobuf all the way: only the cap stops it
    fails(write(tmp_path, "bomb.xplane.pb.gz", bomb), "expands past", Limits(max_bytes=1 << 20))


def test_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    fails(tmp_path / "nope.json", "no such file")
    fails(tmp_path, "holds no profile")
    (tmp_path / "plugins" / "profile" / "run1").mkdir(parents=True)
    fails(tmp_path, "holds no profile")


def test_a_bad_file_inside_a_logdir_names_that_file(tmp_path: Path) -> None:
    run = tmp_path / "plugins" / "profile" / "2026_01_01_00_00_00"
    run.mkdir(parents=True)
    write(run, "vm.xplane.pb", b"garbage")
    with pytest.raises(TraceError, match="vm.xplane.pb: could not read this XPlane"):
        read_trace(tmp_path)


def test_damaged_blobs() -> None:
    t = read_trace(DATA / "torch_convnet.trace.json.gz")
    blobs = table_to_blobs(t)
    with pytest.raises(TraceError, match="damaged"):
        table_from_blobs(dict(blobs, dur_ns=b"not zlib"))
    with pytest.raises(TraceError, match="incomplete"):
        table_from_blobs({k: v for k, v in blobs.items() if k != "kind"})
    with pytest.raises(TraceError, match="expands past"):
        table_from_blobs(dict(blobs, strings=zlib.compress(b"[" + b" " * 10_000 + b"]")), max_bytes=1000)
    pickled = zlib.compress(b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }" + b" " * 50)
    with pytest.raises(TraceError):
        table_from_blobs(dict(blobs, name=pickled))  # object arrays need pickle: refused
