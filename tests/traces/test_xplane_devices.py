"""TPU and GPU XPlanes this machine cannot record, written with `traces.xplane_write` in the
layout their profilers write (host threads, "/device:TPU:N" planes with Steps / XLA Modules /
XLA Ops / Host Offload Ops / Async XLA Ops lines, "/device:GPU:N" planes with streams and
correlation ids), read directly and compared with xprof's conversion of the same bytes.

Where they differ, on purpose, and nothing else: xprof's preprocessing adds derived lines to
device planes (on a TPU "Framework Ops" from the ops' tf_op stats; on a GPU "XLA Modules - from
#N" / "XLA Ops - from #N" from the kernels' hlo stats), all of DERIVED kind, a re-slicing of
device time the recorded lines hold; and on a GPU plane xprof renumbers the streams' tids into
its display order (compute streams first, by event count, each followed by its derived
lines), where the direct reader keeps each stream's own display id. The streams' names, which
`traces.devices` reads, are the same.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.traces.test_xplane_real import Event, canon, xprof_table
from traces.analysis import busy_fraction, describe_source
from traces.table import EventTable, Kind
from traces.xplane_reader import read_xplane
from traces.xplane_write import PlaneWriter, Ref, encode_space

US = 1_000_000  # ps
DERIVED_TPU = {"Framework Ops"}
DERIVED_GPU = {"XLA Modules - from #7", "XLA Ops - from #7"}


def host_plane() -> PlaneWriter:
    """Three annotated steps on the python thread; a thread-pool region, an HLO op and two
    allocator events on a pool thread."""
    host = PlaneWriter(0, "/host:CPU")
    py = host.line(101, "python", 1_000)
    for i in range(3):
        t = i * 1000 * US
        py.event("train", t, 900 * US, {"step_num": i, "_r": 1})
        py.event("$train.py:10 step", t + 5 * US, 800 * US)
        py.event("PjitFunction(train_step)", t + 10 * US, 50 * US)
    pool = host.line(102, "tf_pool/123", 1_000)
    pool.event("ThreadpoolListener::StartRegion", 20 * US, 0, {"_ct": 15, "_c": 99})
    pool.event("thunk", 25 * US, 100 * US, {"hlo_op": Ref("fusion.1"), "hlo_module": Ref("jit_train_step")})
    pool.event("MemoryAllocation", 30 * US, 0, {"allocator_name": Ref("bfc"), "bytes_allocated": 4096,
                                                "bytes_reserved": 0, "bytes_available": 1 << 20})
    pool.event("MemoryDeallocation", 90 * US, 0, {"allocator_name": Ref("bfc"), "bytes_allocated": 0,
                                                  "bytes_reserved": 0, "bytes_available": 1 << 20})
    pool.event("ThreadpoolListener::StopRegion", 200 * US, 0, {"_ct": 15, "_c": 99})
    return host


def tpu_plane(plane_id: int) -> PlaneWriter:
    tpu = PlaneWriter(plane_id, f"/device:TPU:{plane_id - 1}")
    steps, modules, ops, offload, asynchronous = (tpu.line(i + 1, n, 1_000) for i, n in enumerate(
        ("Steps", "XLA Modules", "XLA Ops", "Host Offload Ops", "Async XLA Ops")))
    tpu.event_id("%fusion.12 = f32[8]{0} fusion(...)", "fusion.12", {"tf_op": Ref("jit(train)/conv")})
    for i in range(3):
        t = i * 1000 * US + 100 * US
        steps.event(str(i), t, 700 * US, {"step_num": i})
        modules.event("jit_train_step(123)", t, 600 * US, {"run_id": 5, "queue_id": 0})
        ops.event("%fusion.12 = f32[8]{0} fusion(...)", t, 300 * US, {"hlo_module": Ref("jit_train_step")})
        ops.event("convolution.3", t + 350 * US, 250 * US)
        offload.event("copy-start.1", t + 400 * US, 100 * US)
        asynchronous.event("all-reduce-start", t + 10 * US, 50 * US)
    return tpu


def gpu_space() -> bytes:
    host = host_plane()
    launch = host.line(103, "cuda_launch", 1_000)
    gpu = PlaneWriter(1, "/device:GPU:0")
    compute = gpu.line(7, "Stream #7(Compute)", 1_000, display_id=7, display_name="Stream #7(Compute)")
    copies = gpu.line(8, "Stream #8(MemcpyH2D)", 1_000)
    for i in range(3):
        t = i * 1000 * US
        launch.event("cuLaunchKernel", t + 100 * US, 10 * US, {"correlation_id": 10 + i})
        launch.event("cuMemcpyHtoDAsync", t + 120 * US, 5 * US, {"correlation_id": 20 + i})
        compute.event("fusion_kernel", t + 1200 * US, 200 * US,
                      {"correlation_id": 10 + i, "hlo_op": Ref("fusion.1"), "hlo_module": Ref("jit_train_step")})
        copies.event("MemcpyH2D", t + 300 * US, 20 * US, {"correlation_id": 20 + i})
    return encode_space([host, gpu, PlaneWriter(99, "/host:CUPTI")], hostnames=("vm",))


def tpu_space() -> bytes:
    metadata = PlaneWriter(5, "/host:metadata")
    metadata.event_id("jit_train_step(123)", stats={"Hlo Proto": b"\x0a" * 100_000})  # skipped, never held
    return encode_space([metadata, host_plane(), tpu_plane(1), tpu_plane(2), PlaneWriter(9, "Task Environment")],
                        hostnames=("vm",))


def both(tmp_path: Path, data: bytes) -> tuple[EventTable, EventTable]:
    path = tmp_path / "vm.xplane.pb"
    path.write_bytes(data)
    return read_xplane(path), xprof_table(path)


def without(rows: list[Event], threads: set[str]) -> list[Event]:
    return [e for e in rows if e[1][3] not in threads]


def test_tpu_planes_read_as_xprof_shows_them_less_its_derived_lines(tmp_path: Path) -> None:
    direct, converted = both(tmp_path, tpu_space())
    assert canon(direct) == without(canon(converted), DERIVED_TPU)
    derived = [e for e in canon(converted) if e[1][3] in DERIVED_TPU]
    assert len(derived) == 6 and {e[4] for e in derived} == {Kind.DERIVED}
    by_line = {(direct.rows[int(r)].process, direct.rows[int(r)].thread) for r in direct.row}
    assert ("/device:TPU:0", "Async XLA Ops") not in by_line and ("/device:TPU:1", "Host Offload Ops") in by_line
    kinds = {(direct.rows[int(r)].thread, direct.string(int(n))): Kind(int(k)) for r, n, k in
             zip(direct.row, direct.name, direct.kind, strict=True)}
    assert kinds[("XLA Ops", "fusion.12")] == kinds[("Host Offload Ops", "copy-start.1")] == Kind.HLO_OP
    assert kinds[("Steps", "0")] == kinds[("XLA Modules", "jit_train_step(123)")] == Kind.DERIVED
    assert kinds[("python", "train 1")] == Kind.STEP  # the annotation, with xprof's step name
    fusion = int(np.flatnonzero(direct.name == direct.string_id("fusion.12"))[0])
    assert direct.event_args(fusion) == {"hlo_module": "jit_train_step", "long_name": "%fusion.12 = f32[8]{0} fusion(...)",
                                         "tf_op": "jit(train)/conv"}
    assert [direct.rows[i].pid for i in range(len(direct.rows))][-1] == "3"  # 1 + the plane's id, as xprof numbers it
    assert direct.source.device == "tpu" and "on TPU" in describe_source(direct)
    busy = {b.device: b.busy_ns for b in busy_fraction(direct).devices}
    assert busy == {"/device:TPU:0": 3 * 550 * 1000, "/device:TPU:1": 3 * 550 * 1000}  # XLA Ops + offload, per step


def test_thread_pool_regions_and_allocator_counters_as_xprof_makes_them(tmp_path: Path) -> None:
    direct, converted = both(tmp_path, tpu_space())
    region = int(np.flatnonzero(direct.name == direct.string_id("ThreadpoolListener::Region"))[0])
    assert (direct.start_ns[region], direct.dur_ns[region]) == (1_000 + 20_000, 180_000)
    assert direct.string_id("MemoryAllocation") == -1  # tsl's internal events are not shown
    assert [s.label for s in direct.series] == ["allocator bfc heap allocated", "allocator bfc stack reserved",
                                                "allocator bfc free"]
    assert direct.counter_ts_ns.tolist() == [31_000, 91_000] * 3 and direct.counter_value[:2].tolist() == [4096.0, 0.0]
    assert not converted.series  # the old path read none: xprof's memory_profile is a separate tool


def test_gpu_streams_and_launch_links_as_xprof_less_its_derived_lines_and_tids(tmp_path: Path) -> None:
    direct, converted = both(tmp_path, gpu_space())

    def by_names(rows: list[Event]) -> list[tuple[object, ...]]:  # xprof renumbers GPU stream tids: rows by names
        return sorted(((e[0], e[1][0], e[1][2], e[1][3], e[1][4], *e[2:]) for e in rows), key=repr)

    assert by_names(canon(direct)) == by_names(without(canon(converted), DERIVED_GPU))
    assert {r.thread: r.tid for r in direct.rows if r.process == "/device:GPU:0"} == {"Stream #7(Compute)": "7",
                                                                                     "Stream #8(MemcpyH2D)": "8"}
    assert {r.thread: r.tid for r in converted.rows if r.process == "/device:GPU:0"}["Stream #7(Compute)"] == "1"
    for t in (direct, converted):  # each kernel and copy linked to its launch by correlation_id
        pairs = {(t.string(int(t.name[s])), t.string(int(t.name[d])), int(t.start_ns[d])) for s, d in
                 zip(t.link_src, t.link_dst, strict=True)}
        assert len(pairs) == 6 and ("cuLaunchKernel", "fusion_kernel", 1_201_000) in pairs
    assert direct.source.device == "gpu"
    kernels = direct.kind == Kind.KERNEL  # each runs after its step's window: it counts in the step that launched it
    assert sorted(direct.step[kernels].tolist()) == [0, 1, 2]
