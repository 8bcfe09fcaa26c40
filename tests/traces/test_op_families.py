"""Op families: names from each framework's vocabulary land in their family; a small built trace
whose self times are known gives exactly those per family and per step; the JAX scatter case;
the HLO modules of the stored XPlanes say what opaque XLA:CPU fusions hold."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from traces.analysis import step_windows
from traces.chrome_reader import read_chrome_data
from traces.family_breakdown import family_breakdown
from traces.hlo_modules import HloIndex, HloOp, read_hlo_index
from traces.op_families import FAMILIES, check_vocabulary, op_family
from traces.readers import read_trace
from traces.self_time import self_times
from traces.table import EventTable, Kind, TraceError

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "traces"
US = 1000  # ns

ATEN_NAMES = {
    "aten::conv2d": "convolution", "aten::mkldnn_convolution": "convolution", "aten::convolution_backward": "convolution",
    "aten::addmm": "matmul", "aten::mm": "matmul", "aten::bmm": "matmul", "aten::linear": "matmul",
    "aten::add_": "elementwise", "aten::relu": "elementwise", "aten::threshold_backward": "elementwise",
    "aten::sum": "reduction", "aten::mean": "reduction", "aten::_log_softmax": "reduction",
    "aten::max_pool2d_with_indices": "reduction", "aten::native_layer_norm": "reduction",
    "aten::index_select": "gather/scatter", "aten::scatter_add_": "gather/scatter", "aten::embedding": "gather/scatter",
    "aten::nll_loss_forward": "gather/scatter",
    "aten::copy_": "data movement", "aten::to": "data movement", "aten::fill_": "data movement", "aten::cat": "data movement",
    "aten::view": "framework overhead", "aten::t": "framework overhead", "aten::transpose": "framework overhead",
    "aten::empty": "framework overhead", "aten::_local_scalar_dense": "framework overhead",
    "aten::_foreach_add_": "optimizer update", "aten::_fused_adam_": "optimizer update",
    "c10d::allreduce_": "communication", "record_param_comms": "communication",
    "ConvolutionBackward0": "convolution", "AddmmBackward0": "matmul", "MaxPool2DWithIndicesBackward0": "reduction",
    "NllLossBackward0": "gather/scatter", "ReluBackward0": "elementwise", "ViewBackward0": "framework overhead",
    "autograd::engine::evaluate_function: AddmmBackward0": "framework overhead",
    "torch::autograd::AccumulateGrad": "framework overhead", "aten::some_future_op": "other",
    "Torch-Compiled Region: 0/0": "framework overhead", "CompiledFunctionBackward": "framework overhead",
    "cpp_fused_add_max_pool2d_with_indices_relu_0": "reduction",  # Inductor's C++ kernel, when profiled
}
TF_NAMES = {  # (event name, long_name) as TensorFlow's XPlanes write them: the type, and "scope/name:Type"
    ("Conv2D", "model/conv/Conv2D:Conv2D"): "convolution",
    ("Conv2DBackpropFilter", "gradient_tape/model/conv/Conv2DBackpropFilter:Conv2DBackpropFilter"): "convolution",
    ("MatMul", "model/dense/MatMul:MatMul"): "matmul", ("BatchMatMulV2", "attn/BatchMatMulV2:BatchMatMulV2"): "matmul",
    ("BiasAdd", "model/dense/BiasAdd:BiasAdd"): "elementwise", ("Relu", "model/Relu:Relu"): "elementwise",
    ("Sum", "Sum:Sum"): "reduction", ("Mean", "Mean:Mean"): "reduction",
    ("BiasAddGrad", "g/BiasAddGrad:BiasAddGrad"): "reduction",
    ("MaxPoolGrad", "g/MaxPoolGrad:MaxPoolGrad"): "reduction", ("GatherV2", "emb/GatherV2:GatherV2"): "gather/scatter",
    ("ScatterNd", "s/ScatterNd:ScatterNd"): "gather/scatter", ("Identity", "Identity:Identity"): "framework overhead",
    ("Cast", "Cast:Cast"): "elementwise", ("Transpose", "t/Transpose:Transpose"): "data movement",
    ("ResourceApplyAdam", "Adam/update/ResourceApplyAdam:ResourceApplyAdam"): "optimizer update",
    ("Sub", "adam/sub_13:Sub"): "optimizer update", ("AssignAddVariableOp", "adam/AssignAddVariableOp_7:AssignAddVariableOp"):
        "optimizer update",
    ("_Send", "_Send:_Send"): "communication", ("_Recv", "_Recv:_Recv"): "communication",
    ("__inference__train_step_611", "__inference__train_step_611:__inference__train_step_611"): "framework overhead",
}
# XLA:CPU thunk names (<producer>_<consumer>_fusion, wrapped_<opcode>), XLA:GPU's <kind>_<heroes>_fusion, TF-named ops
XLA_NAMES = {
    "convolution.1": "convolution", "dot.1": "matmul", "MatMul_1.4": "matmul", "wrapped_scatter": "gather/scatter",
    "wrapped_iota.2": "data movement", "wrapped_reduce-window": "reduction", "multiply_add_fusion.6": "elementwise",
    "broadcast_maximum_fusion.1": "elementwise", "transpose_copy_fusion": "data movement",
    "reduce_multiply_fusion": "reduction", "copy.15": "data movement", "all-reduce.3": "communication",
    "dynamic-update-slice.2": "gather/scatter", "loop_dynamic_update_slice_fusion": "gather/scatter",
    "input_reduce_fusion.3": "reduction", "loop_multiply_fusion_2": "elementwise", "ynn_fusion.8": "other",
}
KERNEL_NAMES = {
    "void cutlass::Kernel<cutlass_80_tensorop_s1688gemm_64x64_32x6_tn_align4>"
    "(cutlass_80_tensorop_s1688gemm_64x64_32x6_tn_align4::Params)": "matmul",
    "ampere_sgemm_128x64_nn": "matmul", "volta_scudnn_128x64_relu_interior_nn_v1": "convolution",
    "void cudnn::detail::implicit_convolve_sgemm<float, float, 128, 5, 5, 3, 3, 3, 1, false, false, true>(int, int)":
        "convolution",
    "sm80_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nhwckrsc_nchw_tilesize128x128x16_stage4_warpsize2x2x1_g1_tensor16x8x8":
        "convolution",
    "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>, at::detail::Array<char*, 3> >(int)":
        "elementwise",
    "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::func_wrapper_t<float, "
    "at::native::sum_functor<float, float, float>::operator()(at::TensorIterator&)::{lambda(float, float)#1}>, "
    "unsigned int, float, 4> >(at::native::ReduceOp<float>)": "reduction",
    "void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, at::detail::Array<char*, 1> >(int)":
        "data movement",
    "void at::native::(anonymous namespace)::indexSelectLargeIndex<float, long, unsigned int, 2, 2, -2, true>(int)":
        "gather/scatter",
    "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)": "communication",
    "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::"
    "TensorListMetadata<4>, at::native::(anonymous namespace)::FusedAdamMathFunctor<float, 4>>(int)": "optimizer update",
    "triton_poi_fused_add_relu_0": "elementwise", "triton_per_fused_native_layer_norm_0": "reduction",
    "triton_poi_fused_convolution_relu_1": "elementwise",  # the epilogue after an extern conv, not the conv
    "triton_tem_fused_mm_0": "matmul", "triton_poi_fused_embedding_0": "gather/scatter",
    "loop_add_fusion_1": "elementwise",
}


def test_the_vocabularies_file_each_name_once() -> None:
    assert check_vocabulary() == []


@pytest.mark.parametrize(("name", "family"), ATEN_NAMES.items())
def test_pytorch_ops(name: str, family: str) -> None:
    assert op_family(name, Kind.FRAMEWORK_OP) == family


@pytest.mark.parametrize(("names", "family"), TF_NAMES.items())
def test_tensorflow_ops(names: tuple[str, str], family: str) -> None:
    assert op_family(names[0], Kind.FRAMEWORK_OP, {"long_name": names[1]}) == family


@pytest.mark.parametrize(("name", "family"), XLA_NAMES.items())
def test_xla_ops_by_name(name: str, family: str) -> None:
    assert op_family(name, Kind.HLO_OP, {"hlo_op": name, "hlo_module": "jit_train"}) == family


@pytest.mark.parametrize(("name", "family"), KERNEL_NAMES.items())
def test_device_kernels(name: str, family: str) -> None:
    assert op_family(name, Kind.KERNEL) == family


def test_copies_context_and_hlo_text() -> None:
    assert op_family("Memcpy HtoD (Pageable -> Device)", Kind.MEMCPY) == "data movement"
    assert op_family("Memset (Device)", Kind.MEMCPY) == "data movement"
    assert op_family("aten::add_", in_optimizer=True) == "optimizer update"
    assert op_family("c10d::allreduce_", in_optimizer=True) == "communication"  # ZeRO's gathers stay communication
    text = ('%fusion.3 = f32[32,10]{1,0} fusion(f32[32,10]{1,0} %p), kind=kLoop, calls=%fused_computation.3, '
            'metadata={op_type="dot_general" op_name="jit(train)/jit(main)/dot_general"}')
    assert op_family("fusion.3", Kind.HLO_OP, {"hlo_op": "fusion.3", "long_name": text}) == "matmul"
    gemm = '%custom-call.1 = (f32[32,10]{1,0}, s8[4]{0}) custom-call(f32[32,64]{1,0} %a), custom_call_target="__cublas$gemm"'
    assert op_family("custom-call.1", Kind.HLO_OP, {"hlo_op": "custom-call.1", "long_name": gemm}) == "matmul"


def test_what_the_hlo_says_wins_over_the_name() -> None:
    conv = HloOp("ynn_fusion.8", "fusion", frozenset({"fusion", "convolution", "parameter"}), "kCustom", "convolution",
                 "jit(_train_step)/jvp()/conv_general_dilated")
    assert op_family("ynn_fusion.8", Kind.HLO_OP, {"hlo_op": "ynn_fusion.8"}, conv) == "convolution"
    pool_grad = HloOp("wrapped_scatter.1", "fusion", frozenset({"fusion", "scatter", "add", "parameter"}), "kLoop",
                      "scatter", "jit(_train_step)/transpose(jvp())/select_and_scatter")
    assert op_family("wrapped_scatter.1", Kind.HLO_OP, {}, pool_grad) == "reduction"  # max-pool's gradient is pooling
    tf_pool_grad = HloOp("wrapped_scatter", "fusion", frozenset({"fusion", "scatter"}), op_type="MaxPoolGrad")
    assert op_family("wrapped_scatter", Kind.HLO_OP, {}, tf_pool_grad) == "reduction"
    feeds_scatter = HloOp("wrapped_broadcast.1", "fusion", frozenset({"fusion", "broadcast", "parameter"}),
                          op_name="jit(_train_step)/transpose(jvp(jit(_take)))/scatter-add")
    assert op_family("wrapped_broadcast.1", Kind.HLO_OP, {}, feeds_scatter) == "gather/scatter"
    adam = HloOp("multiply_add_fusion.6", "fusion", frozenset({"fusion", "multiply", "add", "sqrt"}),
                 op_name="jit(_train_step)/add", source_files=("/x/site-packages/optax/_src/update.py", "/x/train.py"))
    assert op_family("multiply_add_fusion.6", Kind.HLO_OP, {}, adam) == "optimizer update"
    loss = HloOp("wrapped_reduce", "fusion", frozenset({"fusion", "reduce", "add"}), op_name="jit(_train_step)/jvp()/reduce_sum",
                 source_files=("/x/site-packages/optax/losses/_classification.py",))
    assert op_family("wrapped_reduce", Kind.HLO_OP, {}, loss) == "reduction"  # optax's losses are not its optimizer
    keras = HloOp("multiply_add_fusion.7", "fusion", frozenset({"fusion", "multiply", "add"}),
                  op_name="adam/AssignAddVariableOp_4", op_type="AssignAddVariableOp")
    assert op_family("multiply_add_fusion.7", Kind.HLO_OP, {}, keras) == "optimizer update"


# -- breakdowns of built traces --------------------------------------------------------------
def x(name: str, ts: float, dur: float, cat: str = "cpu_op", tid: int = 1, **args: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"ph": "X", "name": name, "cat": cat, "ts": ts, "dur": dur, "pid": 1, "tid": tid}
    if args:
        ev["args"] = args
    return ev


def built(events: list[dict[str, Any]]) -> EventTable:
    return read_chrome_data(json.dumps({"traceEvents": events}).encode())


@pytest.fixture
def torch_like() -> EventTable:
    """Two steps of a CPU PyTorch-like trace; self times (µs): conv 5 + 25, addmm 10 | 20, relu 5,
    inside Optimizer.step add_ 8 + sqrt 5, copy_ 5, view 1, an unknown op 2."""
    return built([
        x("ProfilerStep#1", 0, 100, cat="user_annotation"),
        x("train.py(10): step", 0, 200, cat="python_function", tid=1),
        x("aten::conv2d", 10, 30), x("aten::mkldnn_convolution", 12, 25),
        x("aten::addmm", 45, 10), x("aten::relu", 55, 5),
        x("Optimizer.step#Adam.step", 60, 30, cat="user_annotation"),
        x("aten::add_", 62, 8), x("aten::sqrt", 70, 5),
        x("aten::copy_", 90, 5), x("aten::view", 95, 1), x("aten::mystery_op", 96, 2),
        x("ProfilerStep#2", 100, 100, cat="user_annotation"),
        x("aten::addmm", 110, 20),
        x("aten::addmm", 250, 40),  # after the last step: not counted
    ])


def test_breakdown_of_known_self_times(torch_like: EventTable) -> None:
    b = family_breakdown(torch_like)
    ms = {r.family: r.self_ns for r in b.rows}
    assert ms == {"convolution": 30 * US, "matmul": 30 * US, "elementwise": 5 * US, "reduction": 0, "gather/scatter": 0,
                  "optimizer update": 13 * US, "data movement": 5 * US, "communication": 0, "framework overhead": 1 * US,
                  "other": 2 * US}
    assert [r.family for r in b.rows] == list(FAMILIES)
    assert b.total_ns == 86 * US and b.steps == (1, 2) and b.step_ns == (100 * US, 100 * US)
    assert b.row("matmul").per_step_ns == (10 * US, 20 * US) and b.row("matmul").count == 2
    assert b.row("convolution").share == pytest.approx(30 / 86)
    assert sum(b.shares().values()) == pytest.approx(1.0)
    assert [(o.name, o.count, o.self_ns) for o in b.row("convolution").top_ops] == [
        ("aten::mkldnn_convolution", 1, 25 * US), ("aten::conv2d", 1, 5 * US)]
    assert [o.name for o in b.row("other").top_ops] == ["aten::mystery_op"]  # what the classifier missed, by name
    assert any("Optimizer.step" in n for n in b.notes)
    only_two = family_breakdown(torch_like, steps=[2])
    assert only_two.steps == (2,) and only_two.total_ns == 20 * US and only_two.row("matmul").share == 1.0


def test_a_trace_without_steps_counts_whole() -> None:
    table = built([x("aten::addmm", 0, 10), x("aten::relu", 10, 30)])
    b = family_breakdown(table)
    assert b.steps == () and b.row("matmul").self_ns == 10 * US and b.row("elementwise").share == 0.75
    assert b.row("matmul").per_step_ns == ()
    assert "no step markers" in b.notes[0]


def test_a_gpu_trace_counts_its_kernels_and_the_optimizers_launches() -> None:
    """Device work only (the CPU ops that launched it are not counted again); a kernel launched
    from inside Optimizer.step is an optimizer update, found through its launch link."""
    table = built([
        {"ph": "M", "name": "process_name", "pid": 0, "tid": 0, "args": {"name": "python"}},
        {"ph": "M", "name": "process_labels", "pid": 0, "tid": 0, "args": {"labels": "GPU 0"}},
        x("ProfilerStep#1", 0, 100, cat="user_annotation"),
        x("aten::addmm", 5, 10), x("cudaLaunchKernel", 6, 2, cat="cuda_runtime", correlation=1),
        x("Optimizer.step#Adam.step", 50, 30, cat="user_annotation"),
        x("aten::add_", 52, 8), x("cudaLaunchKernel", 53, 2, cat="cuda_runtime", correlation=2),
        {**x("ampere_sgemm_128x64_nn", 20, 30, cat="kernel", correlation=1), "pid": 0, "tid": 7},
        {**x("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>(int)", 60, 10,
             cat="kernel", correlation=2), "pid": 0, "tid": 7},
        {**x("Memcpy HtoD (Pageable -> Device)", 80, 10, cat="gpu_memcpy"), "pid": 0, "tid": 7},
    ])
    b = family_breakdown(table)
    assert b.basis == "device kernels and copies (GPU)"
    assert {r.family: r.self_ns for r in b.rows if r.self_ns} == {
        "matmul": 30 * US, "optimizer update": 10 * US, "data movement": 10 * US}


def jax_like() -> EventTable:
    """A JAX-like XLA:CPU step: XLA ops under the runtime's thunk executor; wrapped_scatter is 25 µs of 100."""
    ops = [("convolution.1", 0, 40), ("wrapped_scatter", 40, 25), ("multiply_add_fusion", 65, 20), ("dot", 85, 15)]
    return built([x("ProfilerStep#7", 0, 100, cat="user_annotation", tid=1),
                  x("ThunkExecutor::Execute", 0, 100, cat="", tid=2),
                  *[x(name, ts, dur, cat="", tid=2, hlo_op=name, hlo_module="jit__train_step") for name, ts, dur in ops]])


def test_the_scatter_shows_as_its_share() -> None:
    b = family_breakdown(jax_like())
    assert b.row("gather/scatter").share == 0.25 and b.row("gather/scatter").self_ns == 25 * US
    assert b.shares() == {**dict.fromkeys(FAMILIES, 0.0), "convolution": 0.4, "gather/scatter": 0.25,
                          "elementwise": 0.2, "matmul": 0.15}
    # the same op known from the module to be max-pool's gradient (select_and_scatter) is pooling
    pool_grad = HloOp("wrapped_scatter", "fusion", frozenset({"fusion", "scatter"}),
                      op_name="jit(_train_step)/transpose(jvp())/select_and_scatter")
    index = HloIndex({("jit__train_step", "wrapped_scatter"): pool_grad}, {"jit__train_step"})
    assert family_breakdown(jax_like(), hlo=index).row("reduction").share == 0.25


# -- the HLO modules of real XPlanes --------------------------------------------------------
def test_hlo_modules_of_a_stored_jax_xplane() -> None:
    index = read_hlo_index((DATA / "jax_mlp.xplane.pb.gz").read_bytes())
    assert "jit__train_step" in index.modules and len(index) == 519
    dense = index.find("jit__train_step", "ynn_fusion.4")
    assert dense is not None and "dot" in dense.opcodes and dense.op_name == "jit(_train_step)/jvp()/dot_general"
    adam = index.find("jit__train_step", "multiply_add_fusion.6")
    assert adam is not None and adam.source_files[0].endswith("optax/_src/update.py")
    assert index.find("elsewhere", "ynn_fusion.4") is dense  # an unknown module: the only op of that name


def test_hlo_modules_of_a_stored_tensorflow_xplane() -> None:
    index = read_hlo_index((DATA / "tf_mlp.xplane.pb.gz").read_bytes())
    (module,) = index.modules
    matmul = index.find(module, "MatMul.12")
    assert matmul is not None and matmul.opcode == "dot" and matmul.op_type == "MatMul"
    assert read_hlo_index((DATA / "tf_mlp_noxla.xplane.pb.gz").read_bytes()).modules == set()  # no XLA, no modules


def test_a_damaged_xplane_is_a_trace_error() -> None:
    data = gzip.decompress((DATA / "jax_mlp.xplane.pb.gz").read_bytes())
    with pytest.raises(TraceError, match="damaged XPlane"):
        read_hlo_index(data[: len(data) // 2])
    with pytest.raises(TraceError, match="expands past the 1,024-byte limit when decompressed"):
        read_hlo_index(gzip.compress(bytes(4096)), max_bytes=1024)


@pytest.mark.parametrize(("trace", "xplane", "biggest"), [
    ("jax_mlp.xplane.pb.gz", True, "matmul"), ("tf_mlp.xplane.pb.gz", True, "matmul"),
    ("tf_mlp_noxla.xplane.pb.gz", False, "optimizer update"), ("torch_convnet.trace.json.gz", False, "optimizer update"),
])
def test_stored_real_traces_leave_nothing_big_unclassified(trace: str, xplane: bool, biggest: str) -> None:
    table = read_trace(DATA / trace)
    index = read_hlo_index((DATA / trace).read_bytes()) if xplane else None
    b = family_breakdown(table, hlo=index)
    assert b.row("other").share < 0.001
    assert max(b.rows, key=lambda r: r.self_ns).family == biggest
    # every op event of the step windows is counted once, by its self time
    numbers = step_windows(table)[0]
    ops = np.isin(table.kind, (Kind.FRAMEWORK_OP, Kind.HLO_OP)) & np.isin(table.step, numbers)
    assert b.total_ns == int(self_times(table)[ops].sum())


def test_without_the_modules_opaque_fusions_stay_visible_as_other() -> None:
    b = family_breakdown(read_trace(DATA / "jax_mlp.trace.json.gz"))
    assert b.row("other").share > 0.25 and b.row("other").top_ops[0].name.startswith("ynn_fusion")
    assert "ynn_fusion" in b.notes[0]
