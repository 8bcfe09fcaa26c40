"""Analyses over small hand-made traces with known answers (CPU torch-like, GPU torch-like,
xprof GPU layout), and their invariants over the stored real traces."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from traces.analysis import (
    BREAKDOWN,
    busy_fraction,
    describe_source,
    memory_timeline,
    step_breakdown,
    top_ops,
)
from traces.chrome_reader import read_chrome_data
from traces.readers import read_trace
from traces.self_time import self_times
from traces.table import EventTable, Kind

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "traces"
US = 1000  # ns


def x(name: str, ts: float, dur: float, cat: str | None = "cpu_op", pid: Any = 1, tid: Any = 1, **args: Any) -> dict[str, Any]:
    ev = {"ph": "X", "name": name, "cat": cat, "ts": ts, "dur": dur, "pid": pid, "tid": tid}
    if args:
        ev["args"] = args
    return ev


def meta(kind: str, pid: Any, name: str, tid: Any = 0) -> dict[str, Any]:
    key = "labels" if kind == "process_labels" else "name"
    return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": {key: name}}


def table(events: list[dict[str, Any]]) -> EventTable:
    return read_chrome_data(json.dumps({"traceEvents": events}).encode())


@pytest.fixture
def cpu() -> EventTable:
    return table([
        x("ProfilerStep#5", 0, 100, cat="user_annotation"),
        x("aten::linear", 10, 40),
        x("aten::addmm", 15, 30),
        x("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", 50, 10, cat="user_annotation"),
        x("Optimizer.step#Adam.step", 70, 20, cat="user_annotation"),
        x("aten::add_", 72, 5),
        x("ProfilerStep#6", 100, 50, cat="user_annotation"),
        x("aten::linear", 100, 25),
        x("backend_compile", 130, 10, cat="user_annotation"),
        x("PyTorch Profiler (0)", 0, 150, cat="Trace", pid="Spans", tid="PyTorch Profiler"),
        x("train.py(12): step", 0, 150, cat="python_function", tid=2),
    ])


def test_kinds_of_a_cpu_torch_trace(cpu: EventTable) -> None:
    kinds = {cpu.string(int(n)): Kind(int(k)).name for n, k in zip(cpu.name, cpu.kind, strict=True)}
    assert kinds["ProfilerStep#5"] == "STEP" and kinds["aten::addmm"] == "FRAMEWORK_OP"
    assert kinds["enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__"] == "INPUT"
    assert kinds["backend_compile"] == "COMPILE" and kinds["Optimizer.step#Adam.step"] == "ANNOTATION"
    assert kinds["PyTorch Profiler (0)"] == "PROFILER" and kinds["train.py(12): step"] == "PYTHON"
    steps = {cpu.string(int(n)): int(s) for n, s in zip(cpu.name, cpu.step, strict=True)}
    assert steps["aten::addmm"] == 5 and steps["backend_compile"] == 6 and steps["ProfilerStep#6"] == 6


def test_self_time_subtracts_direct_children(cpu: EventTable) -> None:
    own = {cpu.string(int(n)): int(s) for n, s, t in zip(cpu.name, self_times(cpu), cpu.start_ns, strict=True) if t < 100 * US}
    assert own["aten::linear"] == 10 * US and own["aten::addmm"] == 30 * US
    assert own["ProfilerStep#5"] == (100 - 40 - 10 - 20) * US
    assert own["Optimizer.step#Adam.step"] == 15 * US


def test_top_ops_rank_by_self_total_count(cpu: EventTable) -> None:
    by_self = top_ops(cpu)
    assert [(r.name, r.count, r.self_ns, r.total_ns) for r in by_self] == [
        ("aten::linear", 2, 35 * US, 65 * US), ("aten::addmm", 1, 30 * US, 30 * US), ("aten::add_", 1, 5 * US, 5 * US)]
    assert sum(r.percent for r in by_self) == pytest.approx(100.0)
    assert [r.name for r in top_ops(cpu, by="total", limit=1)] == ["aten::linear"]
    assert [r.name for r in top_ops(cpu, by="count", limit=1)] == ["aten::linear"]
    assert [r.name for r in top_ops(cpu, category="annotation")] == ["Optimizer.step#Adam.step"]
    assert top_ops(cpu, category="kernel") == [] and top_ops(cpu, device=True) == []
    with pytest.raises(ValueError, match="unknown event category"):
        top_ops(cpu, category="gpu stuff")


def test_step_breakdown_on_cpu(cpu: EventTable) -> None:
    b = step_breakdown(cpu)
    assert b.basis.startswith("framework ops on the CPU")
    assert b.steps.tolist() == [5, 6] and b.total_ns.tolist() == [100 * US, 50 * US]
    assert b.compute_ns.tolist() == [45 * US, 25 * US]
    assert b.input_ns.tolist() == [10 * US, 0] and b.compile_ns.tolist() == [0, 10 * US]
    assert b.host_overhead_ns.tolist() == [15 * US, 0] and b.idle_ns.tolist() == [30 * US, 15 * US]
    assert b.memcpy_ns.tolist() == [0, 0]
    assert b.fractions()["compute"] == pytest.approx(70 / 150)
    assert b.rows()[0]["compute_ns"] == 45 * US
    assert busy_fraction(cpu).devices == [] and "no device kernel events" in busy_fraction(cpu).reason


@pytest.fixture
def gpu() -> EventTable:
    return table([
        meta("process_name", 0, "python"), meta("process_labels", 0, "GPU 0"),
        x("ProfilerStep#1", 0, 100, cat="user_annotation"),
        x("cudaLaunchKernel", 10, 5, cat="cuda_runtime"),
        x("cudaLaunchKernel", 30, 5, cat="cuda_runtime"),
        x("aten::mm", 8, 30),
        x("gemm", 20, 30, cat="kernel", pid=0, tid=7, grid=[4, 1, 1], block=[128, 1, 1]),
        x("relu", 40, 20, cat="kernel", pid=0, tid=8),
        x("Memcpy HtoD (Pageable -> Device)", 70, 10, cat="gpu_memcpy", pid=0, tid=7),
    ])


def test_gpu_torch_trace_busy_and_breakdown(gpu: EventTable) -> None:
    assert gpu.source.device == "gpu"
    busy = busy_fraction(gpu)
    assert busy.window == "steps" and len(busy.devices) == 1
    dev = busy.devices[0]
    assert (dev.device, dev.busy_ns, dev.window_ns, dev.kernels) == ("python (GPU 0)", 50 * US, 100 * US, 2)
    assert dev.fraction == pytest.approx(0.5)
    b = step_breakdown(gpu)
    assert b.basis == "device kernels (GPU)"
    assert (b.compute_ns[0], b.memcpy_ns[0]) == (40 * US, 10 * US)
    # host work while no kernel runs: aten::mm 8-20 and the launch at 10-15 -> 12 µs
    assert b.host_overhead_ns[0] == 12 * US and b.idle_ns[0] == 38 * US
    assert [r.name for r in top_ops(gpu, category="kernel")] == ["gemm", "relu"]
    assert [r.name for r in top_ops(gpu, device=False)] == ["aten::mm"]
    gemm = int(np.flatnonzero(gpu.name == gpu.string_id("gemm"))[0])
    assert gpu.event_args(gemm) == {"grid": [4, 1, 1], "block": [128, 1, 1]}


def test_xprof_gpu_layout() -> None:
    t = table([
        meta("process_name", 1, "/host:CPU"), meta("thread_name", 1, "python", tid=1),
        meta("process_name", 2, "/device:GPU:0"),
        *[meta("thread_name", 2, n, tid=i) for i, n in enumerate(["Stream #7(Compute)", "XLA Ops", "XLA Modules", "Steps",
                                                                   "Framework Ops"], start=10)],
        x("train 1", 0, 100, cat=None, step_num="1", step_name="train 1"),
        x("PjitFunction(jit(step))", 5, 5, cat=None),
        x("fusion_1", 20, 20, cat=None, pid=2, tid=10, hlo_op="fusion_1", hlo_module="jit_step"),
        x("MemcpyH2D", 50, 5, cat=None, pid=2, tid=10),
        x("fusion_1", 20, 20, cat=None, pid=2, tid=11, hlo_op="fusion_1"),
        x("jit_step", 15, 45, cat=None, pid=2, tid=12),
        x("1", 0, 100, cat=None, pid=2, tid=13),
        x("dense/MatMul", 20, 20, cat=None, pid=2, tid=14),
    ])
    kinds = {(r, t.string(int(n))): Kind(int(k)).name for r, n, k in zip(t.row, t.name, t.kind, strict=True)}
    by_thread = {(t.rows[r].thread, n): k for (r, n), k in kinds.items()}
    assert by_thread[("Stream #7(Compute)", "fusion_1")] == "KERNEL"
    assert by_thread[("Stream #7(Compute)", "MemcpyH2D")] == "MEMCPY"
    assert by_thread[("XLA Ops", "fusion_1")] == "HLO_OP"
    assert by_thread[("XLA Modules", "jit_step")] == by_thread[("Steps", "1")] == "DERIVED"
    assert by_thread[("Framework Ops", "dense/MatMul")] == "DERIVED"
    assert by_thread[("python", "train 1")] == "STEP" and by_thread[("python", "PjitFunction(jit(step))")] == "RUNTIME"
    assert (t.source.device, t.source.framework) == ("gpu", "jax")
    busy = busy_fraction(t).devices
    assert [(d.device, d.busy_ns, d.kernels) for d in busy] == [("/device:GPU:0", 25 * US, 1)]
    b = step_breakdown(t)
    assert b.steps.tolist() == [1] and (b.compute_ns[0], b.memcpy_ns[0], b.host_overhead_ns[0]) == (20 * US, 5 * US, 5 * US)
    assert [r.name for r in top_ops(t, category="hlo_op", device=True)] == ["fusion_1"]


def test_no_step_markers_gives_one_pseudo_step() -> None:
    t = table([x("a", 0, 10), x("b", 20, 10)])
    b = step_breakdown(t)
    assert b.steps.tolist() == [-1] and b.total_ns.tolist() == [30 * US]
    assert b.compute_ns.tolist() == [20 * US] and b.idle_ns.tolist() == [10 * US]
    assert any("no step markers" in n for n in b.notes)


def test_empty_table_analyses() -> None:
    t = table([])
    assert len(t) == 0 and top_ops(t) == [] and memory_timeline(t) == []
    b = step_breakdown(t)
    assert b.total_ns.tolist() == [0]
    assert "0 events" in describe_source(t)


@pytest.mark.parametrize("name", ["torch_convnet.trace.json.gz", "jax_mlp.xplane.pb.gz", "tf_mlp.xplane.pb.gz",
                                  "tf_mlp_noxla.xplane.pb.gz"])
def test_breakdown_invariants_on_real_traces(name: str) -> None:
    t = read_trace(DATA / name)
    b = step_breakdown(t)
    assert len(b) == 2
    parts = np.stack([getattr(b, f"{c}_ns") for c in BREAKDOWN])
    assert (parts >= 0).all() and np.array_equal(parts.sum(axis=0), b.total_ns)
    assert b.fractions()["compute"] > 0.3  # CPU steps are mostly op execution
    assert (self_times(t) <= t.dur_ns).all() and (self_times(t) >= 0).all()
    ops = top_ops(t, limit=5)
    assert ops and ops[0].self_ns >= ops[-1].self_ns


def test_memory_timeline_and_description_of_real_traces() -> None:
    torch_t = read_trace(DATA / "torch_convnet.trace.json.gz")
    mem = {m.field: m for m in memory_timeline(torch_t)}
    assert mem["Total Allocated"].peak > 1e6 and mem["Total Allocated"].device == "CPU"
    assert np.all(np.diff(mem["Total Allocated"].ts_ns) >= 0)
    text = describe_source(torch_t)
    assert text.startswith("torch.profiler") and "on CPU" in text and "no device kernel events" in text
    jax_t = read_trace(DATA / "jax_mlp.xplane.pb.gz")
    assert memory_timeline(jax_t) == []
    text = describe_source(jax_t)
    assert "jax.profiler" in text and "per-HLO-op events present" in text and "no memory counters" in text
    noxla = describe_source(read_trace(DATA / "tf_mlp_noxla.xplane.pb.gz"))
    assert "no per-HLO-op events" in noxla and "framework op" in noxla
