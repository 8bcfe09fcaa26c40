"""The op names each framework really uses, by family: PyTorch's aten ops (`native_functions.yaml`),
XLA's HLO opcodes (`xla/hlo/ir/hlo_opcode.h`), JAX primitives, TensorFlow's raw ops, and the
device kernels their libraries launch (cuBLAS, CUTLASS, cuDNN, NCCL, PyTorch's own CUDA kernels,
TorchInductor's Triton and C++ kernels). `traces.op_families` applies them.

Names are written as they appear, in snake case (aten, HLO with `-` as `_`) or CamelCase (TF);
lookups compare them squashed (lower case, no `_` or `-`), so `MaxPool2DWithIndicesBackward0`'s
forward `MaxPool2DWithIndices` finds `max_pool2d_with_indices`.
"""
from __future__ import annotations

import re

CONVOLUTION = "convolution"
MATMUL = "matmul"
ELEMENTWISE = "elementwise"
REDUCTION = "reduction"
GATHER_SCATTER = "gather/scatter"
OPTIMIZER = "optimizer update"
DATA_MOVEMENT = "data movement"
COMMUNICATION = "communication"
OVERHEAD = "framework overhead"
OTHER = "other"

# when a fused op holds several, it counts as the first of these it holds
PRIORITY = (COMMUNICATION, CONVOLUTION, MATMUL, GATHER_SCATTER, REDUCTION, ELEMENTWISE, DATA_MOVEMENT, OVERHEAD)


def squash(name: str) -> str:
    return re.sub(r"[_\-\s]", "", name).lower()


# -- HLO opcodes (hlo_opcode.h), by family -----------------------------------------------
HLO_OPCODES: dict[str, tuple[str, ...]] = {
    COMMUNICATION: ("all-gather", "all-gather-start", "all-gather-done", "all-reduce", "all-reduce-start",
                    "all-reduce-done", "all-to-all", "ragged-all-to-all", "collective-broadcast", "collective-permute",
                    "collective-permute-start", "collective-permute-done", "reduce-scatter", "send", "send-done",
                    "recv", "recv-done"),
    CONVOLUTION: ("convolution",),
    MATMUL: ("dot", "ragged-dot", "scaled-dot", "triangular-solve", "cholesky"),
    GATHER_SCATTER: ("gather", "scatter", "dynamic-slice", "dynamic-update-slice"),
    REDUCTION: ("reduce", "reduce-window", "select-and-scatter", "batch-norm-training", "batch-norm-inference",
                "batch-norm-grad", "sort", "topk"),
    ELEMENTWISE: ("abs", "acos", "acosh", "add", "and", "asin", "atan2", "cbrt", "ceil", "clamp", "compare", "complex",
                  "convert", "cosine", "count-leading-zeros", "divide", "erf", "exponential", "exponential-minus-one",
                  "floor", "imag", "is-finite", "log", "log-plus-one", "logistic", "map", "maximum", "minimum",
                  "multiply", "negate", "not", "or", "popcnt", "power", "real", "reduce-precision", "remainder", "rng",
                  "rng-bit-generator", "round-nearest-afz", "round-nearest-even", "rsqrt", "select", "shift-left",
                  "shift-right-arithmetic", "shift-right-logical", "sign", "sine", "sqrt", "stochastic-convert",
                  "subtract", "tan", "tanh", "xor", "bitcast-convert"),
    DATA_MOVEMENT: ("broadcast", "concatenate", "copy", "copy-start", "copy-done", "iota", "pad", "reshape",
                    "dynamic-reshape", "reverse", "slice", "transpose"),
    OVERHEAD: ("add-dependency", "after-all", "async-done", "async-start", "async-update", "bitcast", "call",
               "conditional", "constant", "domain", "get-dimension-size", "get-tuple-element", "opt-barrier",
               "parameter", "partition-id", "replica-id", "rng-get-and-update-state", "set-dimension-size", "tuple",
               "while"),
}
HLO_FAMILY = {op: family for family, ops in HLO_OPCODES.items() for op in ops}

# JAX primitives (jax._src.lax `*_p.name`), the last part of an op's metadata op_name: what the
# framework asked for, where the HLO alone is silent (a fusion known only by its HLO text) or
# says less (a broadcast that feeds a scatter-add, a scatter that is max-pool's gradient)
JAX_PRIMITIVES: dict[str, tuple[str, ...]] = {
    COMMUNICATION: ("psum", "pmax", "pmin", "all_gather", "all_to_all", "ragged_all_to_all", "ppermute",
                    "reduce_scatter", "psend", "precv", "pbroadcast"),
    CONVOLUTION: ("conv_general_dilated",),
    MATMUL: ("dot_general", "ragged_dot_general"),
    GATHER_SCATTER: ("gather", "scatter", "scatter-add", "scatter-mul", "scatter-min", "scatter-max", "scatter-sub",
                     "dynamic_slice", "dynamic_update_slice"),
    REDUCTION: ("reduce", "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or",
                "reduce_xor", "argmax", "argmin", "cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp", "sort",
                "top_k", "reduce_window", "reduce_window_max", "reduce_window_min", "reduce_window_sum",
                "select_and_scatter", "select_and_scatter_add", "select_and_gather_add"),
    ELEMENTWISE: ("abs", "acos", "add", "and", "atan2", "cbrt", "ceil", "clamp", "convert_element_type", "cos", "div",
                  "eq", "exp", "exp2", "expm1", "floor", "ge", "gt", "integer_pow", "is_finite", "le", "log", "log1p",
                  "logistic", "lt", "max", "min", "mul", "ne", "neg", "not", "or", "pow", "reduce_precision", "rem",
                  "round", "rsqrt", "select_n", "shift_left", "sign", "sin", "sqrt", "square", "sub", "tan", "tanh",
                  "xor", "erf", "rng_bit_generator", "rng_uniform"),
    DATA_MOVEMENT: ("broadcast_in_dim", "concatenate", "copy", "iota", "pad", "reshape", "rev", "slice", "squeeze",
                    "transpose", "split", "tile"),
}

# -- PyTorch aten ops (and the autograd / c10d names the profiler records) -----------------
ATEN: dict[str, tuple[str, ...]] = {
    COMMUNICATION: ("allreduce_", "allgather_", "_allgather_base_", "reduce_scatter_", "_reduce_scatter_base_",
                    "alltoall_", "alltoall_base_", "broadcast_", "send", "recv_", "barrier", "record_param_comms",
                    "all_reduce", "all_gather_into_tensor", "reduce_scatter_tensor", "all_to_all_single",
                    "wait_tensor"),
    CONVOLUTION: ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                  "convolution", "_convolution", "_convolution_mode", "convolution_backward", "convolution_overrideable",
                  "mkldnn_convolution", "cudnn_convolution", "cudnn_convolution_transpose", "miopen_convolution",
                  "_slow_conv2d_forward", "_slow_conv2d_backward", "slow_conv3d_forward", "slow_conv_dilated2d",
                  "slow_conv_transpose2d", "_conv_depthwise2d", "conv_depthwise3d", "thnn_conv2d", "conv_tbc",
                  "_convolution_pointwise", "mkldnn_rnn_layer"),
    MATMUL: ("mm", "bmm", "addmm", "addbmm", "baddbmm", "addmv", "mv", "matmul", "linear", "dot", "vdot", "einsum",
             "bilinear", "tensordot", "_addmm_activation", "mkldnn_linear", "_mkldnn_linear_pointwise", "_int_mm",
             "_scaled_mm", "_mm", "chain_matmul", "scaled_dot_product_attention", "_scaled_dot_product_attention_math",
             "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
             "_scaled_dot_product_cudnn_attention", "_flash_attention_forward", "_flash_attention_backward",
             "_efficient_attention_forward", "_efficient_attention_backward", "lstm", "gru", "rnn_tanh"),
    GATHER_SCATTER: ("index", "index_select", "index_put", "index_put_", "_index_put_impl_", "index_add", "index_add_",
                     "index_copy_", "index_fill_", "index_reduce", "gather", "scatter", "scatter_", "scatter_add",
                     "scatter_add_", "scatter_reduce", "scatter_reduce_", "embedding", "embedding_backward",
                     "embedding_dense_backward", "_embedding_bag", "_embedding_bag_backward", "embedding_bag", "take",
                     "take_along_dim", "masked_select", "masked_scatter", "masked_scatter_", "nonzero", "put_",
                     "nll_loss", "nll_loss_forward", "nll_loss_backward", "nll_loss_nd", "nll_loss2d_forward",
                     "nll_loss2d_backward", "one_hot", "_unique2", "unique_dim", "searchsorted", "bincount"),
    REDUCTION: ("sum", "mean", "prod", "max", "min", "amax", "amin", "aminmax", "argmax", "argmin", "std", "var",
                "std_mean", "var_mean", "norm", "linalg_vector_norm", "frobenius_norm", "logsumexp", "softmax",
                "_softmax", "log_softmax", "_log_softmax", "_softmax_backward_data", "_log_softmax_backward_data",
                "cumsum", "cumprod", "cummax", "logcumsumexp", "all", "any", "count_nonzero", "median", "mode",
                "batch_norm", "native_batch_norm", "_native_batch_norm_legit", "_batch_norm_impl_index",
                "native_batch_norm_backward", "cudnn_batch_norm", "miopen_batch_norm", "layer_norm",
                "native_layer_norm", "native_layer_norm_backward", "group_norm", "native_group_norm",
                "native_group_norm_backward", "rms_norm", "_fused_rms_norm", "instance_norm", "max_pool1d",
                "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "max_pool3d_with_indices",
                "max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward", "mkldnn_max_pool2d",
                "mkldnn_max_pool2d_backward", "quantized_max_pool2d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
                "avg_pool2d_backward", "avg_pool3d_backward", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                "_adaptive_avg_pool2d", "_adaptive_avg_pool2d_backward", "adaptive_max_pool2d",
                "adaptive_max_pool2d_backward", "cross_entropy_loss", "binary_cross_entropy",
                "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div",
                "topk", "sort", "kthvalue"),
    ELEMENTWISE: ("add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg", "abs", "exp", "exp_",
                  "expm1", "log", "log1p", "log2", "sqrt", "rsqrt", "pow", "reciprocal", "square", "sign", "floor",
                  "ceil", "round", "trunc", "fmod", "remainder", "clamp", "clamp_", "clamp_min", "clamp_min_",
                  "clamp_max", "clip", "where", "maximum", "minimum", "fmax", "fmin", "lerp", "lerp_", "addcmul",
                  "addcmul_", "addcdiv", "addcdiv_", "relu", "relu_", "relu6", "threshold", "threshold_",
                  "threshold_backward", "hardtanh", "hardtanh_", "hardtanh_backward", "leaky_relu",
                  "leaky_relu_backward", "elu", "elu_backward", "gelu", "gelu_backward", "silu", "silu_",
                  "silu_backward", "mish", "hardswish", "hardsigmoid", "sigmoid", "sigmoid_", "sigmoid_backward",
                  "tanh", "tanh_", "tanh_backward", "softplus", "softplus_backward", "erf", "erfinv", "sin", "cos",
                  "tan", "atan2", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
                  "bitwise_and", "bitwise_or", "bitwise_not", "__and__", "__or__", "isnan", "isinf", "isfinite",
                  "nan_to_num", "masked_fill", "masked_fill_", "dropout", "native_dropout", "native_dropout_backward",
                  "_masked_scale", "feature_dropout", "bernoulli", "bernoulli_", "uniform_", "normal_",
                  "random_", "exponential_", "_fused_dropout", "prelu", "_prelu_kernel", "glu", "sgn", "frac",
                  "mkldnn_relu"),
    DATA_MOVEMENT: ("copy_", "_copy_from", "_copy_from_and_resize", "_to_copy", "to", "clone", "contiguous", "cat",
                    "_cat", "concat", "stack", "hstack", "vstack", "pad", "constant_pad_nd", "reflection_pad1d",
                    "reflection_pad2d", "replication_pad2d", "fill_", "zero_", "zeros", "ones", "full", "zeros_like",
                    "ones_like", "full_like", "new_zeros", "new_ones", "new_full", "arange", "linspace", "flip", "roll",
                    "repeat", "tile", "repeat_interleave", "im2col", "col2im", "narrow_copy", "permute_copy",
                    "transpose_copy", "expand_copy", "view_copy", "split_with_sizes_copy", "unfold_backward", "tril",
                    "triu", "pin_memory", "_pin_memory", "cpu", "cuda", "_to_dense", "to_dense", "to_mkldnn",
                    "_reshape_copy"),
    OVERHEAD: ("empty", "empty_strided", "empty_like", "new_empty", "new_empty_strided", "resize_", "resize_as_",
               "view", "_unsafe_view", "view_as", "reshape", "_reshape_alias", "as_strided", "as_strided_", "t",
               "transpose", "transpose_", "permute", "expand", "expand_as", "squeeze", "squeeze_", "unsqueeze",
               "unsqueeze_", "flatten", "unflatten", "select", "slice", "narrow", "split", "split_with_sizes",
               "chunk", "unbind", "unfold", "diagonal", "detach", "detach_", "alias", "lift_fresh", "item",
               "_local_scalar_dense", "is_nonzero", "set_", "result_type", "numpy_t", "movedim", "real", "imag",
               "_has_compatible_shallow_copy_type", "is_same_size", "size", "stride", "dim", "requires_grad_",
               "accumulategrad", "compiled_function", "resolve_conj", "resolve_neg", "_fw_primal", "_make_dual",
               "_unpack_dual", "record_stream"),
}

# -- TensorFlow raw ops ------------------------------------------------------------------
TF_OPS: dict[str, tuple[str, ...]] = {
    COMMUNICATION: ("_Send", "_Recv", "_HostSend", "_HostRecv", "CollectiveReduce", "CollectiveReduceV2",
                    "CollectiveReduceV3", "CollectiveGather", "CollectiveGatherV2", "CollectiveBcastSend",
                    "CollectiveBcastRecv", "CollectiveBcastSendV2", "CollectiveBcastRecvV2",
                    "CollectiveAllToAllV2", "CollectiveAllToAllV3", "CollectiveReduceScatterV2", "NcclAllReduce",
                    "NcclReduce", "NcclBroadcast", "XlaAllReduce", "XlaReduceScatter"),
    CONVOLUTION: ("Conv", "Conv2D", "Conv3D", "Conv2DBackpropInput", "Conv2DBackpropInputV2", "Conv2DBackpropFilter",
                  "Conv2DBackpropFilterV2", "Conv3DBackpropInputV2", "Conv3DBackpropFilterV2",
                  "DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                  "DepthwiseConv2dNativeBackpropFilter", "_FusedConv2D", "_FusedDepthwiseConv2dNative",
                  "FusedPadConv2D", "FusedResizeAndPadConv2D", "XlaConv", "XlaConvV2"),
    MATMUL: ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "_FusedMatMul", "_FusedBatchMatMulV2",
             "SparseMatMul", "Einsum", "XlaDot", "XlaDotV2", "XlaEinsum", "CudnnRNN", "CudnnRNNV3",
             "CudnnRNNBackprop", "CudnnRNNBackpropV3"),
    GATHER_SCATTER: ("Gather", "GatherV2", "GatherNd", "ResourceGather", "ResourceGatherNd", "ScatterNd",
                     "TensorScatterUpdate", "TensorScatterAdd", "TensorScatterSub", "TensorScatterMax",
                     "TensorScatterMin", "ScatterAdd", "ScatterUpdate", "ScatterNdAdd", "ScatterNdUpdate",
                     "ResourceScatterAdd", "ResourceScatterUpdate", "ResourceScatterNdAdd", "ResourceScatterNdUpdate",
                     "UnsortedSegmentSum", "UnsortedSegmentMax", "UnsortedSegmentMin", "DynamicStitch",
                     "ParallelDynamicStitch", "DynamicPartition", "OneHot", "Where",
                     "XlaGather", "XlaScatter", "XlaDynamicSlice", "XlaDynamicUpdateSlice", "EmbeddingLookup"),
    REDUCTION: ("Sum", "Mean", "Max", "Min", "Prod", "ArgMax", "ArgMin", "All", "Any", "EuclideanNorm", "Softmax",
                "LogSoftmax", "SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits",
                "FusedBatchNorm", "FusedBatchNormV2",
                "FusedBatchNormV3", "FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3",
                "_FusedBatchNormEx", "MaxPool", "MaxPoolV2", "MaxPool3D", "MaxPoolWithArgmax", "MaxPoolGrad",
                "MaxPoolGradV2", "MaxPool3DGrad", "MaxPoolGradWithArgmax", "MaxPoolGradGrad", "AvgPool", "AvgPool3D",
                "AvgPoolGrad", "AvgPool3DGrad", "BiasAddGrad", "L2Loss", "Cumsum", "Cumprod", "SegmentSum",
                "SegmentMean", "SegmentMax", "TopKV2", "LRN", "LRNGrad", "XlaReduce", "XlaReduceWindow",
                "XlaSelectAndScatter"),
    ELEMENTWISE: ("Add", "AddV2", "AddN", "Sub", "Mul", "MulNoNan", "Div", "RealDiv", "DivNoNan", "FloorDiv",
                  "FloorMod", "Neg", "Abs", "Exp", "Expm1", "Log", "Log1p", "Sqrt", "Rsqrt", "SqrtGrad", "RsqrtGrad",
                  "Square", "SquaredDifference", "Pow", "Reciprocal", "Maximum", "Minimum", "Relu", "Relu6", "ReluGrad",
                  "Relu6Grad", "Elu", "EluGrad", "Selu", "SeluGrad", "LeakyRelu", "LeakyReluGrad", "Gelu", "Sigmoid",
                  "SigmoidGrad", "Tanh", "TanhGrad", "Softplus", "SoftplusGrad", "Softsign", "BiasAdd", "BiasAddV1",
                  "Select", "SelectV2", "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual",
                  "LogicalAnd", "LogicalOr", "LogicalNot", "Cast", "Floor", "Ceil", "Round", "Rint", "Sign", "IsNan",
                  "IsFinite", "ClipByValue", "Erf", "Sin", "Cos", "Atan2", "BitwiseAnd", "RandomUniform",
                  "RandomStandardNormal", "TruncatedNormal", "StatelessRandomUniformV2", "StatelessRandomNormalV2",
                  "StatelessRandomGetKeyCounter"),
    DATA_MOVEMENT: ("Transpose", "ConjugateTranspose", "Concat", "ConcatV2", "Pack", "Unpack", "Split", "SplitV",
                    "Slice", "StridedSlice", "StridedSliceGrad", "ResourceStridedSliceAssign", "Pad", "PadV2",
                    "MirrorPad", "Tile", "Fill", "ZerosLike", "OnesLike", "BroadcastTo", "Reverse", "ReverseV2",
                    "Range", "Copy", "CopyHost", "_CopyFromGpuToHost", "_CopyFromHostToGpu", "DeepCopy", "Empty",
                    "TensorListStack", "TensorListFromTensor", "XlaPad"),
    OVERHEAD: ("Identity", "IdentityN", "NoOp", "Const", "HostConst", "Placeholder", "_Arg", "_Retval",
               "_DeviceArg", "_DeviceRetval", "ReadVariableOp", "VarHandleOp", "AssignVariableOp", "VarIsInitializedOp",
               "DestroyResourceOp", "Shape", "ShapeN", "Size", "Rank", "Reshape", "Squeeze", "ExpandDims",
               "StopGradient", "PreventGradient", "PartitionedCall", "StatefulPartitionedCall", "Merge", "Switch",
               "Enter", "Exit", "NextIteration", "LoopCond", "While", "StatelessWhile", "If", "StatelessIf", "Case",
               "XlaLaunch", "_XlaRun", "EnsureShape", "CheckNumerics", "Assert", "BroadcastArgs",
               "BroadcastGradientArgs", "ZerosLikeVariant", "Bitcast"),
}

# TF optimizer ops: ResourceApplyAdam, ApplyGradientDescent, ResourceSparseApplyAdagradV2, ...
TF_OPTIMIZER_OP = re.compile(r"(?i)^(resource)?(sparse)?apply[a-z]")
# optimizer name scopes: Keras 3 names each optimizer's ops after it (`auto_name`: snake case of the
# class, uniquified with _N), Keras 2 / TF1 after the class itself
OPTIMIZER_SCOPE = re.compile(r"(?i)^(adam|adam_?w|adamax|nadam|adadelta|adafactor|adagrad|ftrl|lamb|lion|muon|sgd"
                             r"|rm_?s_?prop|momentum|gradient_?descent|loss_scale_optimizer|multi_optimizer"
                             r"|schedule_free_adam_?w)(_\d+)?$")
# Python files whose code is an optimizer's update (JAX records each op's stack): optax's
# transforms and updates, not its losses; Keras and Flax optimizers
OPTIMIZER_SOURCE = re.compile(r"/optax/(?!losses/|_src/loss)|/keras/src/optimizers/|/flax/(training/)?optim")

# -- device kernels, tried in this order ----------------------------------------------------
KERNEL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (COMMUNICATION, re.compile(r"(?i)nccl|rccl|all_?reduce|all_?gather|reduce_?scatter|all_?to_?all"
                               r"|cross_device_reduce|sendrecv")),
    (OPTIMIZER, re.compile(r"(?i)multi_tensor_apply|fused_?(adam|adamw|sgd|adagrad)|adam_?math|FusedAdam")),
    (CONVOLUTION, re.compile(r"(?i)(?<![a-z])conv(?!ert)|convol|scudnn|fprop|dgrad|wgrad|winograd|MIOpenConv")),
    (MATMUL, re.compile(r"(?i)gemm|gemv|cutlass|cublas|nvjet|matmul|(?<![a-z])b?mm(?![a-z])|flash_?(fwd|bwd|attn)"
                        r"|fmha|attention|splitkreduce|triton_tem")),
    (DATA_MOVEMENT, re.compile(r"(?i)^mem(cpy|set)|copy_?kernel|CatArray|FillFunctor|fill_?kernel|nchwToNhwc"
                               r"|nhwcToNchw|transpose|im2col|col2im|(?<![a-z])pad(?![a-z])")),
    (GATHER_SCATTER, re.compile(r"(?i)index_?select|index_?put|index_?add|index_?copy|index_?fill"
                                r"|index_elementwise|indexing_backward|gather|scatter|embedding|nll_?loss|take_?along")),
    (REDUCTION, re.compile(r"(?i)reduc|bias_?grad|softmax|batch_?norm|layer_?norm|group_?norm|rms_?norm|bn_fw|bn_bw|welford"
                           r"|pool|cumsum|argmax|argmin|triton_(red|per)_")),
    (ELEMENTWISE, re.compile(r"(?i)elementwise|pointwise|functor|triton_poi_|cwise|EigenMetaKernel|activation"
                             r"|relu|gelu|silu|sigmoid|tanh|dropout|bias")),
)
