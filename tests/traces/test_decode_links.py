"""The launch-link fields (correlation arguments, flow ids) read by the main decode
(`Columns.links`) are those the separate pass of `traces.launch_links` reads, in one process
and through the worker's blocks, and they leave the argument sets as they were."""
from __future__ import annotations

import itertools
import json
from typing import Any
from unittest import mock

import msgspec
import numpy as np
import pytest

from traces import decode, decode_pool, json_decoders, launch_links

IDS: list[Any] = [7, "0x1f", "12", 5.0, 5.5, -3, None, 2**64, "x", 2**63 - 1]


def events(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"ph": "M", "name": "process_name", "pid": 1, "tid": 0, "args": {"name": "python"}}]
    for i in range(n):
        corr = IDS[i % len(IDS)]
        args: dict[str, Any] = {"correlation": corr, "grid": [i % 3, 1, 1]} if i % 4 else {"External id": i}
        out.append({"ph": "X", "cat": "kernel" if i % 2 else "cuda_runtime", "name": f"k{i % 5}", "pid": i % 2,
                    "tid": 7, "ts": 10.0 + i, "dur": 1.5, "args": args})
        if i % 3 == 0 and i > n // 3:  # the first flows come late: ids are read from there on
            out.append({"ph": "sf"[i % 2], "cat": "ac2g", "name": "ac2g", "id": IDS[(i // 3) % len(IDS)], "pid": 1,
                        "tid": 7, "ts": 10.0 + i})
    return out


def check(cols: decode.Columns, data: bytes) -> None:
    assert cols.links is not None
    raw = launch_links._decode(data, cols.n, False)
    assert raw is not None
    corr, flow = cols.links
    assert np.array_equal(corr, raw.correlation)
    flows = np.isin(np.array([k[0] for k in cols.ukeys])[cols.code], json_decoders.FLOW_PHASES)
    assert flows.any() and np.array_equal(flow[flows], raw.flow_id[flows])


@pytest.mark.parametrize("chunk", [256, 4096, 1 << 20])
def test_links_of_the_decode_are_those_of_the_separate_pass(chunk: int) -> None:
    data = json.dumps({"traceEvents": events(300)}).encode()
    with mock.patch.object(decode, "CHUNK_BYTES", chunk):
        cols = decode.decode(data, "x", 10**6, 4096)
    check(cols, data)


def test_correlations_leave_the_argument_sets_alone() -> None:
    with_corr = decode.decode(json.dumps(events(200)).encode(), "x", 10**6, 4096)
    plain = events(200)
    for ev in plain:
        ev.get("args", {}).pop("correlation", None)
    without = decode.decode(json.dumps(plain).encode(), "x", 10**6, 4096)
    assert with_corr.arg_keys == without.arg_keys and np.array_equal(with_corr.arg_ref, without.arg_ref)


def test_worker_blocks_give_the_same_links() -> None:
    evs = events(300)
    data = json.dumps(evs).encode()
    merged = decode._Acc("x", 10**6, 4096)
    for i, (a, b) in enumerate(itertools.pairwise([0, 90, 200, len(evs)])):
        block = decode_pool.Block(10**6, 4096)
        block.add_structs(json_decoders.chunk_decoder.decode(json.dumps(evs[a:b]).encode()))
        decode_pool.merge(merged, msgspec.msgpack.decode(msgspec.msgpack.encode(block.part(i)), type=decode_pool.Part))
    check(merged.columns({}), data)


def test_the_generic_path_leaves_links_to_the_separate_pass() -> None:
    evs = events(50)
    evs[3]["args"]["correlation"] = True  # refused by the typed fields: the checking path reads the file
    cols = decode.decode(json.dumps(evs).encode(), "x", 10**6, 4096)
    assert cols.links is None
