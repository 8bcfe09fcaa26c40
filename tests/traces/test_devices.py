"""Device work recognised by the row it runs on and by Kineto's activity types, with the device
kind named from what the trace says (CUPTI range-profiled kernels, MTIA, an xprof TPU layout),
and old Kineto files (capitalised categories) read as PyTorch traces. Hand-made traces shaped
as their producers write them (kineto output_json.cpp, xprof's trace_viewer conversion), with
known answers."""
from __future__ import annotations

import json
from typing import Any

import pytest

from tests.traces.test_analysis import meta, x  # the same hand-made event shapes
from traces.analysis import busy_fraction, describe_source, step_breakdown, top_ops
from traces.chrome_reader import read_chrome_data
from traces.classify import event_kind
from traces.table import EventTable, Kind

US = 1000  # ns


def read(events: list[dict[str, Any]], **top: Any) -> EventTable:
    return read_chrome_data(json.dumps({**top, "traceEvents": events}).encode())


def kinds(t: EventTable) -> dict[str, str]:
    return {t.string(int(n)): Kind(int(k)).name for n, k in zip(t.name, t.kind, strict=True)}


def test_cupti_range_profiler_kernels_are_gpu_device_work() -> None:
    # kineto's CuptiRangeProfiler: one cuda_profiler_range event per profiled kernel, pid = the GPU
    t = read([
        meta("process_name", 0, "python"), meta("process_labels", 0, "GPU 0"),
        x("void gemm_kernel<float>", 0, 60, cat="cuda_profiler_range", pid=0, tid=0,
          **{"sm__inst_executed_pipe_tensor.sum": 12}),
        x("relu_kernel", 60, 40, cat="cuda_profiler_range", pid=0, tid=0),
    ], schemaVersion=1)
    assert kinds(t) == {"void gemm_kernel<float>": "KERNEL", "relu_kernel": "KERNEL"}
    assert (t.source.framework, t.source.device) == ("torch", "gpu")
    text = describe_source(t)
    assert "on GPU" in text and "GPU device work: 2 kernels on 1 device row" in text
    assert "no device kernel events" not in text and "cuda_profiler_range events carry CUPTI metrics" in text
    (busy,) = busy_fraction(t).devices
    assert (busy.device, busy.kind, busy.busy_ns, busy.kernels) == ("python (GPU 0)", "GPU", 100 * US, 2)


def test_mtia_trace_is_mtia_device_work_even_under_kineto_gpu_labels() -> None:
    # Kineto labels every device pid "GPU N" whatever the backend: the mtia_* categories say MTIA
    t = read([
        meta("process_name", 0, "python"), meta("process_labels", 0, "GPU 0"),
        meta("process_name", 4242, "python"), meta("process_labels", 4242, "CPU"),
        x("ProfilerStep#3", 0, 100, cat="user_annotation", pid=4242, tid=7),
        x("mtiaLaunchKernel", 5, 5, cat="mtia_runtime", pid=4242, tid=7),
        x("fused_linear", 20, 40, cat="mtia_ccp_events", pid=0, tid=3),
        x("ccp_job_sync", 70, 10, cat="mtia_vendor_event", pid=0, tid=3),  # unknown category on the device row
    ], schemaVersion=1)
    assert kinds(t) == {"ProfilerStep#3": "STEP", "mtiaLaunchKernel": "RUNTIME", "fused_linear": "KERNEL",
                        "ccp_job_sync": "KERNEL"}
    assert (t.source.framework, t.source.device) == ("torch", "mtia")
    text = describe_source(t)
    assert "on MTIA" in text and "MTIA device work: 2 kernels on 1 device row" in text
    (busy,) = busy_fraction(t).devices
    assert (busy.kind, busy.busy_ns, busy.window_ns, busy.kernels) == ("MTIA", 50 * US, 100 * US, 2)
    b = step_breakdown(t)
    assert b.basis == "device kernels (MTIA)" and b.compute_ns.tolist() == [50 * US]


def test_labelled_mtia_process_with_unknown_categories() -> None:
    t = read([meta("process_name", 1, "MTIA 1"), meta("thread_name", 1, "queue 0", tid=9),
              x("aten_mm_kernel", 0, 30, cat="device_activity", pid=1, tid=9),
              x("Memcpy DtoH", 30, 10, cat="device_activity", pid=1, tid=9)])
    assert kinds(t) == {"aten_mm_kernel": "KERNEL", "Memcpy DtoH": "MEMCPY"}
    assert t.source.device == "mtia" and t.rows[0].device
    assert "on MTIA" in describe_source(t)


TPU_LINES = ["Steps", "XLA Modules", "XLA Ops", "Host Offload Ops", "Framework Ops", "Source code"]


@pytest.fixture
def tpu() -> EventTable:
    """xprof's trace_viewer conversion of a TPU XPlane: each plane a process named after it, each
    line a thread named after it, plus the host plane."""
    return read([
        meta("process_name", 1, "/host:CPU"), meta("thread_name", 1, "python3", tid=11),
        meta("process_name", 3, "/device:TPU:0"),
        *[meta("thread_name", 3, n, tid=i) for i, n in enumerate(TPU_LINES, start=1)],
        x("train 7", 0, 100, cat=None, pid=1, tid=11, step_num="7", step_name="train 7"),
        x("PjitFunction(train_step)", 2, 6, cat=None, pid=1, tid=11),
        x("7", 5, 90, cat=None, pid=3, tid=1),
        x("jit_train_step", 10, 80, cat=None, pid=3, tid=2),
        x("fusion.12", 10, 30, cat=None, pid=3, tid=3, hlo_op="fusion.12", hlo_module="jit_train_step"),
        x("convolution.3", 45, 25, cat=None, pid=3, tid=3, hlo_op="convolution.3"),
        x("copy-start.1", 60, 20, cat=None, pid=3, tid=4, hlo_op="copy-start.1"),
        x("jit(train_step)/dot_general", 10, 30, cat=None, pid=3, tid=5),
        x("model.py:41", 10, 30, cat=None, pid=3, tid=6),
    ])


def test_tpu_rows_of_an_xplane_are_tpu_device_work(tpu: EventTable) -> None:
    by_line = {(tpu.rows[int(r)].thread, tpu.string(int(n))): Kind(int(k)).name
               for r, n, k in zip(tpu.row, tpu.name, tpu.kind, strict=True)}
    assert by_line[("XLA Ops", "fusion.12")] == by_line[("XLA Ops", "convolution.3")] == "HLO_OP"
    assert by_line[("Host Offload Ops", "copy-start.1")] == "HLO_OP"
    assert by_line[("Steps", "7")] == by_line[("XLA Modules", "jit_train_step")] == "DERIVED"
    assert by_line[("Framework Ops", "jit(train_step)/dot_general")] == by_line[("Source code", "model.py:41")] == "DERIVED"
    assert by_line[("python3", "train 7")] == "STEP" and by_line[("python3", "PjitFunction(train_step)")] == "RUNTIME"
    assert tpu.source.device == "tpu"
    text = describe_source(tpu)
    assert "on TPU" in text and "TPU device work: 3 XLA ops on 2 device rows" in text
    assert "GPU" not in text and "no device kernel events" not in text
    (busy,) = busy_fraction(tpu).devices
    # XLA Ops 10-40 and 45-70, host offload 60-80: union 10-40 + 45-80 = 65 µs of the 100 µs step
    assert (busy.device, busy.kind, busy.busy_ns, busy.window_ns, busy.kernels) == ("/device:TPU:0", "TPU", 65 * US, 100 * US, 3)
    b = step_breakdown(tpu)
    assert b.basis == "XLA ops on the TPU (the device's op lines)"
    assert b.steps.tolist() == [7] and b.compute_ns.tolist() == [65 * US] and b.host_overhead_ns.tolist() == [6 * US]
    assert [r.name for r in top_ops(tpu, category="hlo_op", device=True)] == ["fusion.12", "convolution.3", "copy-start.1"]


OLD_KINETO = [  # torch_tb_profiler's fixtures of the format Kineto wrote before 2021: no schemaVersion either
    x("ProfilerStep#1", 50, 400, cat="Operator", pid=13721, tid="123"),
    x("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", 100, 180, cat="Operator", pid=13721, tid="123"),
    x("aten::to", 300, 60, cat="Operator", pid=13721, tid="123"),
    x("Memcpy HtoD (Pageable -> Device)", 405, 10, cat="Memcpy", pid=0, tid="stream 7"),
    x("cudaMemcpyAsync", 360, 20, cat="Runtime", pid=13721, tid="456"),
    x("Memset (Device)", 420, 5, cat="Memset", pid=0, tid="stream 7"),
    x("void cunn_ClassNLLCriterion_updateGradInput_kernel<float>", 430, 15, cat="Kernel", pid=0, tid="stream 7"),
    x("cudaLaunchKernel", 405, 5, cat="Runtime", pid=13721, tid="456"),
    x("train.py(20): <module>", 40, 420, cat="Python", pid=13721, tid="123"),
]


def test_old_kineto_capitalised_categories_read_as_a_torch_trace() -> None:
    t = read(OLD_KINETO)
    assert (t.source.framework, t.source.producer, t.source.device) == ("torch", "torch.profiler", "gpu")
    assert kinds(t) == {
        "ProfilerStep#1": "STEP", "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__": "INPUT",
        "aten::to": "FRAMEWORK_OP", "Memcpy HtoD (Pageable -> Device)": "MEMCPY", "cudaMemcpyAsync": "RUNTIME",
        "Memset (Device)": "MEMCPY", "void cunn_ClassNLLCriterion_updateGradInput_kernel<float>": "KERNEL",
        "cudaLaunchKernel": "RUNTIME", "train.py(20): <module>": "PYTHON"}
    assert all(r.device == (r.tid == "stream 7") for r in t.rows)
    assert "GPU device work: 1 kernel, 2 copies on 1 device row" in describe_source(t)


def test_kineto_without_cpu_ops_is_torch_and_a_lone_kernel_category_is_not() -> None:
    gpu_only = read([x("sgemm", 10, 5, cat="kernel", pid=0, tid=7), x("cudaLaunchKernel", 8, 2, cat="cuda_runtime")])
    assert gpu_only.source.framework == "torch"
    other_tool = read([x("OV::Convolution", 0, 5, cat="Kernel"), x("partition", 0, 9, cat="Session")])
    assert other_tool.source.framework is None and other_tool.source.producer == "Chrome trace"


@pytest.mark.parametrize(("cat", "kind"), [
    ("cuda_profiler_range", Kind.KERNEL), ("mtia_ccp_events", Kind.KERNEL), ("xpu_scope_profiler", Kind.KERNEL),
    ("gpu_memset", Kind.MEMCPY), ("mtia_runtime", Kind.RUNTIME), ("cuda_driver", Kind.RUNTIME), ("cuda_sync", Kind.RUNTIME),
    ("hpu_op", Kind.RUNTIME), ("privateuse1_runtime", Kind.RUNTIME), ("overhead", Kind.PROFILER),
    ("external_correlation", Kind.PROFILER), ("mtia_insight", Kind.DERIVED), ("mtia_counters", Kind.DERIVED),
    ("cpu_instant_event", Kind.ANNOTATION), ("gpu_user_annotation", Kind.ANNOTATION), ("Operator", Kind.FRAMEWORK_OP),
    ("Runtime", Kind.RUNTIME), ("Kernel", Kind.KERNEL), ("Python", Kind.PYTHON), ("collective_comm", Kind.OTHER),
])
def test_kineto_activity_types_have_their_kinds(cat: str, kind: Kind) -> None:
    assert event_kind(cat, "some_event", 0, "torch") == kind
