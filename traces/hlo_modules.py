"""What each XLA op of a trace computes, from the HLO modules an XPlane carries.

A trace names an XLA op only by its instruction name, and on XLA:CPU many names say nothing
(`ynn_fusion.8` is a convolution, a dot, a reduce or a reduce-window: YNNPACK library fusions).
The profiler stores every compiled module in the XPlane's "/host:metadata" plane as an
`xla.HloProto` (stat "Hlo Proto"), so the ops a fusion holds, the framework op it came from
(`metadata.op_name` / `op_type`) and the Python files that built it can be read back.

The dozen fields needed are read with the XPlane reader's own wire decoder
(`traces.xplane_wire.message_fields`; numbers from `tsl/profiler/protobuf/xplane.proto` and
`xla/service/hlo.proto`, `xla/xla_data.proto`), over memoryviews so nested messages are never
copied; reading them needs neither TensorFlow nor generated protobuf code. A gzipped XPlane is
inflated by the project's one inflater (`traces.bounded_read.gunzip_pieces`: ISA-L where
installed, concatenated members). Anything malformed is a TraceError.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from traces.bounded_read import GZIP_MAGIC, gunzip_pieces
from traces.table import TraceError
from traces.xplane_wire import Malformed, message_fields, varint_at

METADATA_PLANE = "/host:metadata"
HLO_PROTO_STAT = "Hlo Proto"
# calls whose bodies run as ops of their own (separate events), not inside the caller
NOT_INLINED = frozenset({"while", "conditional", "call", "async-start"})
MAX_FRAMES = 64  # a stack deeper than this is cut (and a cycle cannot loop)

_Value = int | memoryview  # a field's value: a number, or the bytes of a string or message


@dataclass(frozen=True)
class HloOp:
    """One instruction of a compiled module. `opcodes` holds its own opcode and those of
    everything it calls inline (a fusion's fused computation, a reduce's reducer);
    `op_name`/`op_type`/`source_files` fall back to the fused instructions' when the op
    itself carries none. `source_files`: the Python files on the stack that built it,
    innermost first (JAX records them; TensorFlow does not)."""

    name: str
    opcode: str
    opcodes: frozenset[str] = frozenset()
    fusion_kind: str = ""
    root: str = ""  # opcode of the fused computation's root ("" when not a fusion)
    op_name: str = ""
    op_type: str = ""
    custom_call_target: str = ""
    source_files: tuple[str, ...] = ()


@dataclass
class HloIndex:
    """HLO ops by (module name, instruction name), as trace events name them (`hlo_module`,
    `hlo_op` arguments)."""

    ops: dict[tuple[str, str], HloOp] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.ops)

    def find(self, module: str, name: str) -> HloOp | None:
        """The op `name` of `module`; with an unknown module, the op of that name when only
        one module has it."""
        found = self.ops.get((module, name))
        if found is not None or module in self.modules:
            return found
        matches = [op for (m, n), op in self.ops.items() if n == name]
        return matches[0] if len(matches) == 1 else None

    def merge(self, other: HloIndex) -> None:
        for key, op in other.ops.items():
            self.ops.setdefault(key, op)
        self.modules |= other.modules


def read_hlo_index(data: bytes, where: object = "XPlane", max_bytes: int = 1 << 31) -> HloIndex:
    """The HLO ops of every module an XSpace (`.xplane.pb` bytes, gzipped or not) holds; an
    empty index when it holds none (a TensorFlow run without XLA)."""
    buf = _gunzip(data, where, max_bytes) if data[:2] == GZIP_MAGIC else data
    index = HloIndex()
    try:
        for proto in _hlo_protos(memoryview(buf)):
            index.merge(_module_ops(proto))
    except Malformed as exc:
        raise TraceError(where, f"damaged XPlane: its HLO modules cannot be decoded ({exc})") from None
    return index


def _gunzip(data: bytes, where: object, max_bytes: int) -> bytearray:
    """Every gzip member, refused as soon as it passes `max_bytes` (a small file can unpack to
    gigabytes). A bytearray grows without holding the pieces and their join at once."""
    out = bytearray()
    for piece in gunzip_pieces(io.BytesIO(data), where):
        out += piece
        if len(out) > max_bytes:
            break
    if len(out) > max_bytes:
        raise TraceError(where, f"expands past the {max_bytes:,}-byte limit when decompressed (a gzip bomb)")
    return out


# -- field values -----------------------------------------------------------------------
def _text(value: _Value) -> str:
    if isinstance(value, int):
        raise Malformed("a string field holds a number")
    return str(value, "utf-8", "replace")


def _msg(value: _Value) -> memoryview:
    if isinstance(value, int):
        raise Malformed("a message field holds a number")
    return value


def _num(value: _Value | None) -> int:
    """A varint field's value (0 when absent or not a number)."""
    return value if isinstance(value, int) else 0


def _ints(value: _Value) -> list[int]:
    """A repeated integer field's values: packed (one length-delimited field) or one per field."""
    if isinstance(value, int):
        return [value]
    out, pos = [], 0
    while pos < len(value):
        item, pos = varint_at(value, pos)
        out.append(item)
    return out


# -- XSpace -> HloProto bytes ------------------------------------------------------------
def _hlo_protos(buf: memoryview) -> Iterator[memoryview]:
    """The serialized HloProtos of the metadata plane (XSpace.planes = 1; XPlane.name = 2,
    event_metadata = 4 and stat_metadata = 5, maps whose entries hold the value in field 2;
    XEventMetadata.stats = 5; XStat.metadata_id = 1, bytes_value = 6; XStatMetadata.name = 2)."""
    for number, _, plane in message_fields(buf):
        if number != 1:
            continue
        plane = _msg(plane)
        name = next((_text(v) for n, _, v in message_fields(plane) if n == 2), "")
        if name != METADATA_PLANE:
            continue
        stat_names: dict[int, str] = {}
        stats: list[tuple[int, memoryview]] = []
        for n, _, entry in message_fields(plane):
            if n not in (4, 5):
                continue
            for en, _, value in message_fields(_msg(entry)):
                if en != 2:
                    continue
                if n == 5:
                    meta = {fn: fv for fn, _, fv in message_fields(_msg(value))}
                    if 2 in meta:
                        stat_names[_num(meta.get(1))] = _text(meta[2])
                    continue
                for fn, _, stat in message_fields(_msg(value)):
                    if fn == 5:
                        parts = {sn: sv for sn, _, sv in message_fields(_msg(stat))}
                        if 6 in parts:
                            stats.append((_num(parts.get(1)), _msg(parts[6])))
        yield from (value for key, value in stats if stat_names.get(key) == HLO_PROTO_STAT)


# -- HloProto -> HloOps ----------------------------------------------------------------
@dataclass
class _Instruction:
    name: str = ""
    opcode: str = ""
    fusion_kind: str = ""
    custom_call_target: str = ""
    op_name: str = ""
    op_type: str = ""
    frame: int = 0
    called: list[int] = field(default_factory=list)
    id: int = 0


def _instruction(message: memoryview) -> _Instruction:
    """HloInstructionProto: name 1, opcode 2, metadata 7 (OpMetadata: op_type 1, op_name 2,
    stack_frame_id 15), fusion_kind 11, custom_call_target 28, id 35, called_computation_ids 38."""
    ins = _Instruction()
    for number, _, value in message_fields(message):
        if number == 1:
            ins.name = _text(value)
        elif number == 2:
            ins.opcode = _text(value)
        elif number == 11:
            ins.fusion_kind = _text(value)
        elif number == 28:
            ins.custom_call_target = _text(value)
        elif number == 35 and isinstance(value, int):
            ins.id = value
        elif number == 38:
            ins.called.extend(_ints(value))
        elif number == 7:
            for mn, _, mv in message_fields(_msg(value)):
                if mn == 1:
                    ins.op_type = _text(mv)
                elif mn == 2:
                    ins.op_name = _text(mv)
                elif mn == 15 and isinstance(mv, int):
                    ins.frame = mv
    return ins


def _frame_files(message: memoryview) -> dict[int, tuple[str, ...]]:
    """StackFrameIndexProto (file_names 1, file_locations 3 {file_name_id 1}, stack_frames 4
    {file_location_id 1, parent_frame_id 2}; ids count from 1): each frame's files, innermost first."""
    files: list[str] = []
    locations: list[int] = []
    frames: list[tuple[int, int]] = []
    for number, _, value in message_fields(message):
        if number == 1:
            files.append(_text(value))
        elif number == 3:
            loc = {n: v for n, _, v in message_fields(_msg(value))}
            locations.append(_num(loc.get(1)))
        elif number == 4:
            fr = {n: v for n, _, v in message_fields(_msg(value))}
            frames.append((_num(fr.get(1)), _num(fr.get(2))))
    out: dict[int, tuple[str, ...]] = {}
    for frame_id in range(1, len(frames) + 1):
        chain: list[str] = []
        current = frame_id
        while 0 < current <= len(frames) and len(chain) < MAX_FRAMES:
            location, parent = frames[current - 1]
            if 0 < location <= len(locations) and 0 < locations[location - 1] <= len(files):
                chain.append(files[locations[location - 1] - 1])
            current = parent
        out[frame_id] = tuple(chain)
    return out


def _module_ops(proto: memoryview) -> HloIndex:
    """HloProto.hlo_module = 1 -> HloModuleProto: name 1, computations 3 (HloComputationProto:
    instructions 2, id 5, root_id 6), stack_frame_index 17."""
    index = HloIndex()
    for number, _, module in message_fields(proto):
        if number != 1:
            continue
        name = ""
        computations: dict[int, tuple[list[_Instruction], int]] = {}
        frames: dict[int, tuple[str, ...]] = {}
        for mn, _, mv in message_fields(_msg(module)):
            if mn == 1:
                name = _text(mv)
            elif mn == 17:
                frames = _frame_files(_msg(mv))
            elif mn == 3:
                instructions, comp_id, root_id = [], 0, 0
                for cn, _, cv in message_fields(_msg(mv)):
                    if cn == 2:
                        instructions.append(_instruction(_msg(cv)))
                    elif cn == 5 and isinstance(cv, int):
                        comp_id = cv
                    elif cn == 6 and isinstance(cv, int):
                        root_id = cv
                computations[comp_id] = (instructions, root_id)
        index.modules.add(name)
        _index_module(index, name, computations, frames)
    return index


def _index_module(index: HloIndex, module: str, computations: dict[int, tuple[list[_Instruction], int]],
                  frames: dict[int, tuple[str, ...]]) -> None:
    inlined: dict[int, list[_Instruction]] = {}

    def inside(comp_id: int, seen: frozenset[int] = frozenset()) -> list[_Instruction]:
        """Every instruction a computation runs inline, nested calls included."""
        if comp_id in inlined:
            return inlined[comp_id]
        if comp_id in seen or comp_id not in computations:
            return []
        out: list[_Instruction] = []
        for ins in computations[comp_id][0]:
            out.append(ins)
            if ins.opcode not in NOT_INLINED:
                for called in ins.called:
                    out.extend(inside(called, seen | {comp_id}))
        inlined[comp_id] = out
        return out

    for instructions, _ in computations.values():
        for ins in instructions:
            fused = [] if ins.opcode in NOT_INLINED else [i for c in ins.called for i in inside(c)]
            root = ""
            if ins.opcode == "fusion" and ins.called and ins.called[0] in computations:
                body, root_id = computations[ins.called[0]]
                root = next((i.opcode for i in body if i.id == root_id), "")
                fused.sort(key=lambda i: i.id != root_id)  # the root's metadata first
            donors = [ins, *fused]
            op_name = next((i.op_name for i in donors if i.op_name), "")
            op_type = next((i.op_type for i in donors if i.op_type), "")
            frame = next((i.frame for i in donors if i.frame), 0)
            index.ops[(module, ins.name)] = HloOp(
                name=ins.name, opcode=ins.opcode, opcodes=frozenset({ins.opcode, *(i.opcode for i in fused)}),
                fusion_kind=ins.fusion_kind, root=root, op_name=op_name, op_type=op_type,
                custom_call_target=ins.custom_call_target or next((i.custom_call_target for i in fused
                                                                   if i.custom_call_target), ""),
                source_files=frames.get(frame, ()))
