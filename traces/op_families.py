"""One vocabulary for every framework's ops: each op, kernel or XLA op of a trace mapped to a
family (convolution, matmul, elementwise, reduction, gather/scatter, optimizer update, data
movement, communication, framework overhead, other), so a JAX step and a PyTorch step compare
family by family.

An op counts by what it computes, read from its own name in its own vocabulary
(`traces.op_vocabulary`), from the HLO it holds when the XPlane's modules are known
(`traces.hlo_modules`: XLA:CPU's `ynn_fusion.8` is a convolution only the module says), and from
its context: inside PyTorch's `Optimizer.step#...` span, under an optimizer's name scope (Keras,
TF1), or built by optimizer code (JAX records each op's Python stack) it is an optimizer update.
Autograd nodes (`ConvolutionBackward0`) count as their forward op. Memory copies and fills are
data movement: a `Memcpy DtoD`, an `aten::copy_` and an XLA `copy` or `transpose` cost the same
thing (bytes moved, no arithmetic), and the frameworks disagree about which of them a layout
change becomes; allocation and views are framework overhead. What no rule knows stays "other".
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from traces.hlo_modules import HloOp
from traces.op_vocabulary import (
    ATEN,
    COMMUNICATION,
    CONVOLUTION,
    DATA_MOVEMENT,
    ELEMENTWISE,
    GATHER_SCATTER,
    HLO_FAMILY,
    HLO_OPCODES,
    JAX_PRIMITIVES,
    KERNEL_PATTERNS,
    MATMUL,
    OPTIMIZER,
    OPTIMIZER_SCOPE,
    OPTIMIZER_SOURCE,
    OTHER,
    OVERHEAD,
    PRIORITY,
    REDUCTION,
    TF_OPS,
    TF_OPTIMIZER_OP,
    squash,
)
from traces.table import Kind

FAMILIES = (CONVOLUTION, MATMUL, ELEMENTWISE, REDUCTION, GATHER_SCATTER, OPTIMIZER, DATA_MOVEMENT, COMMUNICATION,
            OVERHEAD, OTHER)
FAMILY_MEANING = {
    CONVOLUTION: "convolutions, forward and backward (cuDNN, oneDNN, XLA convolution)",
    MATMUL: "matrix products: mm/addmm/linear, dot, GEMM kernels, attention",
    ELEMENTWISE: "per-element arithmetic: activations, adds, casts, dropout (fused loops of them too)",
    REDUCTION: "sums, means, softmax, norms and pooling (reduce-window), forward and backward",
    GATHER_SCATTER: "indexing: gather, scatter, embedding lookups, integer-label losses",
    OPTIMIZER: "the optimizer's parameter update (Optimizer.step, optax, Keras optimizer ops, ApplyAdam)",
    DATA_MOVEMENT: "copies, transposes, concatenation, padding, fills, memcpy and memset",
    COMMUNICATION: "collectives and transfers between devices or processes (NCCL, gloo, all-reduce, _Send/_Recv)",
    OVERHEAD: "the framework's own bookkeeping inside op time: views, allocation, autograd engine, function calls",
    OTHER: "ops no rule recognises (named in the breakdown, so the gap is visible)",
}
OPAQUE_FUSION = re.compile(r"^(ynn|xnn|onednn)_fusion")  # XLA:CPU library fusions: only the HLO says what they hold

_ATEN = {squash(n): family for family, names in ATEN.items() for n in names}
_TF = {squash(n): family for family, names in TF_OPS.items() for n in names}
_HLO = {squash(op): family for op, family in HLO_FAMILY.items()}
_JAX = {squash(p): family for family, names in JAX_PRIMITIVES.items() for p in names}
_RANK = {family: k for k, family in enumerate(PRIORITY)}
# token sequences of op names, for names built from several ops (XLA fusions, TorchInductor kernels)
_TOKENS: dict[tuple[str, ...], str] = {
    **{tuple(n.strip("_").split("_")): family for family, names in ATEN.items() for n in names if n.strip("_")},
    **{tuple(op.split("-")): family for op, family in HLO_FAMILY.items()},
}
_LONGEST = max(len(k) for k in _TOKENS)
_NOISE = {"fused", "fusion", "wrapped", "loop", "input", "output", "custom", "triton", "cpp", "kernel"}

ATEN_NAMESPACE = re.compile(r"^[\w.]+::")  # aten::, c10d::, _c10d_functional::, mkldnn::, torch::autograd::
AUTOGRAD_NODE = re.compile(r"^(\w+?)Backward\d*$")  # ConvolutionBackward0 -> Convolution
AUTOGRAD_ENGINE = "autograd::engine::evaluate_function:"
TORCH_OPTIMIZER_OP = re.compile(r"^_?(foreach_|fused_(adam|adamw|sgd|adagrad))")
TF_FUNCTION = re.compile(r"^__(inference|forward|backward)_")
# torch.compile's wrappers around a compiled graph (their self time is the wrapper's own)
TORCH_COMPILE_WRAPPER = re.compile(r"^(Torch-Compiled Region|TorchDynamo Cache Lookup|AOTDispatcher |## Call CompiledFxGraph"
                                   r"|CompiledFunction)")
INDUCTOR_KERNEL = re.compile(r"^(triton_(?P<kind>poi|red|per|tem|for|spl|unk)_|cpp_)fused_")
INDUCTOR_KIND = {"poi": ELEMENTWISE, "red": REDUCTION, "per": REDUCTION, "spl": REDUCTION, "tem": MATMUL,
                 "for": ELEMENTWISE}
XLA_FUSION = re.compile(r"(^wrapped_|(^|_)fusion(_\d+)?$)")  # kernels of XLA:GPU write fusion.3 as fusion_3
HLO_SUFFIX = re.compile(r"(\.\d+)+$")
HLO_TEXT = re.compile(r"^\s*%?[\w.\-]+\s*=\s*(?:\([^)]*\)|\S+)\s+([a-z][a-z0-9\-]*)\(")
HLO_ATTRIBUTE = re.compile(r'\b(op_name|op_type|custom_call_target)="([^"]*)"')


def op_family(name: str, kind: Kind | int = Kind.FRAMEWORK_OP, args: Mapping[str, Any] | None = None,
              hlo: HloOp | None = None, in_optimizer: bool = False) -> str:
    """The family of one op. `args`: the event's kept arguments (hlo_op, long_name, tf_op);
    `hlo`: what the XPlane's module says the op holds; `in_optimizer`: the op ran inside an
    optimizer's step (PyTorch's Optimizer.step span), which makes it an optimizer update
    unless it is communication."""
    args = args or {}
    family: str | None = DATA_MOVEMENT if kind == Kind.MEMCPY else None
    if family is None and hlo is not None:
        family = hlo_family(hlo)
    if family is None and kind == Kind.KERNEL:
        family = kernel_family(name)
    if family is None and (kind == Kind.HLO_OP or "hlo_op" in args):
        family = xla_op_family(str(args.get("hlo_op") or name), args)
    if family is None and kind != Kind.HLO_OP:
        family = framework_op_family(name, args)
    family = family or OTHER
    return OPTIMIZER if in_optimizer and family != COMMUNICATION else family


# -- XLA ---------------------------------------------------------------------------------
def hlo_family(op: HloOp) -> str | None:
    """From what a compiled op holds: an optimizer's update by its metadata (name scope, TF op
    type, the Python files that built it), else the highest-priority family among its opcodes,
    refined by the framework op it came from (a scatter that implements max-pool's gradient
    is pooling; a broadcast that feeds a scatter-add is part of the scatter)."""
    opcodes = op.opcodes or frozenset({op.opcode})
    if any(HLO_FAMILY.get(o) == COMMUNICATION for o in opcodes):
        return COMMUNICATION
    if _optimizer_scope(op.op_name) or TF_OPTIMIZER_OP.match(op.op_type) or any(
            OPTIMIZER_SOURCE.search(f) for f in op.source_files):
        return OPTIMIZER
    if op.custom_call_target:
        by_target = kernel_family(op.custom_call_target)
        if by_target is not None:
            return by_target
    family = _highest(HLO_FAMILY.get(o) for o in opcodes)
    meta = _JAX.get(squash(op.op_name.rsplit("/", 1)[-1])) or _TF.get(squash(op.op_type))
    if family == GATHER_SCATTER and meta == REDUCTION:
        return REDUCTION
    if family in (ELEMENTWISE, DATA_MOVEMENT, OVERHEAD, None) and meta == GATHER_SCATTER:
        return GATHER_SCATTER
    return family or meta


def xla_op_family(name: str, args: Mapping[str, Any] | None = None) -> str | None:
    """From an XLA op's name (and its HLO text or TF op, where the trace keeps them): a fusion
    by the opcodes in its name (XLA:CPU names one `<producer>_<consumer>_fusion`, XLA:GPU
    `<kind>_<heroes>_fusion`, single ops `wrapped_<opcode>`), an op by its opcode, an op XLA
    named after its TensorFlow op (`MatMul.14`) by that op's type."""
    args = args or {}
    text = str(args.get("long_name") or "")
    parsed = HLO_TEXT.match(text)
    if parsed:
        attributes = dict(HLO_ATTRIBUTE.findall(text))
        family = hlo_family(HloOp(name=name, opcode=parsed.group(1), op_name=attributes.get("op_name", ""),
                                  op_type=attributes.get("op_type", ""),
                                  custom_call_target=attributes.get("custom_call_target", "")))
        if family is not None:
            return family
    tf_op = str(args.get("tf_op") or "")
    if tf_op:
        scope, _, op_type = tf_op.rpartition(":")
        if _optimizer_scope(scope) or TF_OPTIMIZER_OP.match(op_type):
            return OPTIMIZER
    bare = HLO_SUFFIX.sub("", name)
    if OPAQUE_FUSION.match(bare):
        return None
    if XLA_FUSION.search(bare):
        return fused_family(bare)
    return (_HLO.get(squash(bare)) or _TF.get(squash(re.sub(r"_\d+$", "", bare)))
            or (_TF.get(squash(tf_op.rpartition(":")[2])) if tf_op else None))


def fused_family(name: str, cap: str | None = None) -> str | None:
    """The family of a name built from op names (`multiply_add_fusion`, `loop_dynamic_update_slice_fusion`,
    `triton_red_fused__log_softmax_nll_loss_forward_0`): the highest-priority family among the
    op names it spells, longest names first; `cap`: the highest family it may be."""
    tokens = [t for t in name.lower().replace("-", "_").split("_") if t and not t.isdigit() and t not in _NOISE]
    found: list[str] = []
    i = 0
    while i < len(tokens):
        for width in range(min(_LONGEST, len(tokens) - i), 0, -1):
            family = _TOKENS.get(tuple(tokens[i:i + width]))
            if family is not None:
                found.append(family)
                i += width
                break
        else:
            i += 1
    if cap is not None:
        found = [f for f in found if _RANK.get(f, 99) >= _RANK[cap]]
    return _highest(found)


# -- device kernels -------------------------------------------------------------------------
def kernel_family(name: str) -> str | None:
    """A device kernel's family: XLA fusions and TorchInductor kernels by the ops they name,
    library kernels (cuBLAS, CUTLASS, cuDNN, NCCL, PyTorch's CUDA kernels) by their names."""
    inductor = INDUCTOR_KERNEL.match(name)
    if inductor:
        default = INDUCTOR_KIND.get(inductor.group("kind") or "", ELEMENTWISE)
        if default in (ELEMENTWISE, REDUCTION):  # a loop kernel: convs and GEMMs run as extern or template kernels
            return _highest([fused_family(name[inductor.end():], cap=GATHER_SCATTER), default])
        return fused_family(name[inductor.end():]) or default
    bare = HLO_SUFFIX.sub("", name)
    if XLA_FUSION.search(bare) and not OPAQUE_FUSION.match(bare):
        family = fused_family(bare)
        if family is not None:
            return family
    for family, pattern in KERNEL_PATTERNS:
        if pattern.search(name):
            return family
    return None


# -- framework ops ---------------------------------------------------------------------------
def framework_op_family(name: str, args: Mapping[str, Any] | None = None) -> str | None:
    """A PyTorch op (aten::..., an autograd node, c10d collectives) or a TensorFlow op (by its
    type: `args.long_name` is "scope/name:Type"; under an optimizer's name scope it is an
    optimizer update)."""
    args = args or {}
    if name.startswith(AUTOGRAD_ENGINE) or TORCH_COMPILE_WRAPPER.match(name):
        return OVERHEAD  # the autograd engine's or a compiled graph's wrapper's own time
    if INDUCTOR_KERNEL.match(name):
        return kernel_family(name)  # Inductor's C++ kernels, when profiled, are CPU op events
    node = AUTOGRAD_NODE.match(name)
    if node and not ATEN_NAMESPACE.match(name):
        return _ATEN.get(squash(node.group(1)))
    if ATEN_NAMESPACE.match(name):
        op = name.rsplit("::", 1)[-1]
        if TORCH_OPTIMIZER_OP.match(op):
            return OPTIMIZER
        return _ATEN.get(squash(op))
    long_name = str(args.get("long_name") or args.get("tf_op") or "")
    scope, _, op_type = long_name.rpartition(":") if ":" in long_name else ("", "", name)
    if _optimizer_scope(scope) or TF_OPTIMIZER_OP.match(op_type):
        return OPTIMIZER
    if TF_FUNCTION.match(name) or TF_FUNCTION.match(op_type):
        return OVERHEAD  # a tf.function's call: its ops are the events inside it
    return _TF.get(squash(op_type)) or _ATEN.get(squash(name))


def _optimizer_scope(path: str) -> bool:
    """Whether an op's name path ("adam/AssignAddVariableOp_3") runs under an optimizer's scope."""
    parts = path.split("/")[:-1] if "/" in path else []
    return any(OPTIMIZER_SCOPE.match(p) for p in parts)


def _highest(families: Any) -> str | None:
    ranked = [f for f in families if f in _RANK]
    return min(ranked, key=_RANK.__getitem__) if ranked else None


def check_vocabulary() -> list[str]:
    """Names a vocabulary files under two families (each must have one); empty when consistent."""
    clashes = []
    for label, vocab in (("aten", ATEN), ("TensorFlow", TF_OPS), ("HLO", HLO_OPCODES), ("JAX", JAX_PRIMITIVES)):
        seen: dict[str, str] = {}
        for family, names in vocab.items():
            for n in names:
                key = squash(n)
                if seen.setdefault(key, family) != family:
                    clashes.append(f"{label} {n}: {seen[key]} and {family}")
    return clashes
