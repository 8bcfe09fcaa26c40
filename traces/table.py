"""The common event table every trace reader produces (PyTorch Chrome traces, XPlanes via xprof,
anyone's Chrome-trace JSON), Qt-free and framework-free.

Events are columns of numpy arrays, one row per event, with names, categories and selected
arguments interned into one string table, so a million events cost about 38 bytes each plus
their distinct strings (`EventTable.nbytes`). Counters (memory) are their own columnar series.
`table_to_blobs` / `table_from_blobs` store a table as compressed `np.save` bytes and JSON,
never pickle: a table from someone else's session must not be able to run code.
"""
from __future__ import annotations

import json
import sys
import zlib
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from io import BytesIO
from typing import Any

import numpy as np
import numpy.typing as npt

GiB = 1 << 30
INSTANT = 1  # flags bit: an instant event (duration 0 by definition, not a zero-length span)
FORMAT_VERSION = 1


class TraceError(Exception):
    """A trace that cannot be read; the message is one line naming the file and the problem."""

    def __init__(self, where: object, problem: str) -> None:
        self.where = str(where)
        self.problem = " ".join(str(problem).split())  # one line, whatever the cause said
        super().__init__(f"{self.where}: {self.problem}")


@dataclass(frozen=True)
class Limits:
    """Bounds on what a reader accepts, so a hostile or huge file fails with a TraceError
    instead of exhausting memory. A Chrome trace is read as a stream (`traces.stream_decode`):
    its peak memory is ~100-170 bytes per event kept (bench/trace_reader.py) and the finished
    table ~40, whatever the file's size, so `max_bytes` only stops gzip bombs, at the cost of
    decompressing up to it (seconds per GiB); what a reader must hold whole (a Chrome trace the
    stream cannot decode, `bounded_read.read_bytes`) is capped by `max_whole_bytes` too."""

    max_bytes: int = 16 * GiB  # decompressed size of one file (a 20M-event Kineto trace is ~4-5 GB)
    max_whole_bytes: int = 2 * GiB  # decompressed size a reader may hold whole in memory
    max_events: int = 20_000_000
    # a name, category or argument text longer than this is cut, and the source's notes say so:
    # a guard against absurd sizes only (real templated kernel names pass 5,000 characters; the
    # memory all strings take is bounded by max_bytes, as each distinct string is kept once)
    max_string: int = 1 << 20


class Kind(IntEnum):
    """What an event is, normalised across frameworks; the analyses group and filter by it."""

    OTHER = 0
    STEP = 1  # a training-step marker: ProfilerStep#N, StepTraceAnnotation / Trace(step_num=...)
    FRAMEWORK_OP = 2  # aten ops (cpu_op), TensorFlow ops
    HLO_OP = 3  # XLA HLO ops (executing on the host on CPU; the "XLA Ops" device line on GPU)
    KERNEL = 4  # device kernels on a device stream
    MEMCPY = 5  # device memory copies / sets
    RUNTIME = 6  # CUDA runtime, XLA/PjRt/TF runtime and thread-pool events
    ANNOTATION = 7  # user annotations (record_function, Optimizer.step, ...)
    PYTHON = 8  # Python-tracer frames
    INPUT = 9  # data input (DataLoader, tf.data iterators, infeed)
    COMPILE = 10  # compilation (XLA, torch.compile, ptxas)
    DERIVED = 11  # xprof's derived device lines (framework ops / name scopes / source / steps)
    PROFILER = 12  # the profiler's own bookkeeping spans


KIND_NAMES = {k: k.name.lower() for k in Kind}


def kind_from_name(name: str | Kind | int) -> Kind:
    """Kind from an enum, an int or a name such as "hlo_op" or "kernel"."""
    if isinstance(name, Kind):
        return name
    if isinstance(name, (int, np.integer)):
        return Kind(int(name))
    try:
        return Kind[str(name).strip().upper().replace("-", "_").replace(" ", "_")]
    except KeyError:
        raise ValueError(f"unknown event category {name!r}; one of {', '.join(KIND_NAMES.values())}") from None


@dataclass(frozen=True)
class Row:
    """A timeline row: a host thread, or a device stream / line."""

    pid: str
    tid: str
    process: str = ""  # process name from the trace metadata ("python", "/device:GPU:0")
    thread: str = ""  # thread / stream name
    device: bool = False

    @property
    def label(self) -> str:
        proc = self.process or self.pid
        thread = self.thread or self.tid
        return f"{proc} / {thread}" if thread else proc


@dataclass(frozen=True)
class CounterSeries:
    """One counter track field, e.g. ("[memory] CPU", "Total Allocated", "bytes")."""

    track: str
    field: str
    unit: str = ""
    device: str = ""

    @property
    def label(self) -> str:
        return f"{self.track} {self.field}".strip()


@dataclass
class SourceInfo:
    """Which tool wrote the trace and what it holds; `notes` carry caveats a reader found
    (skipped event kinds, unmatched begin/end pairs, which of several files was read)."""

    path: str = ""
    format: str = "chrome"  # chrome | xplane | stepscope-chrome
    producer: str = "unknown"  # torch.profiler | jax.profiler | tf.profiler | chrome trace
    framework: str | None = None  # torch | jax | tf | None
    device: str | None = None  # cpu | gpu | tpu | mtia | xpu | hpu ... (traces.devices) | None: the trace does not say
    time_origin_ns: int = 0  # absolute time of ts 0 when the trace records it (torch baseTimeNanoseconds)
    notes: list[str] = field(default_factory=list)


# column name -> dtype, for checking a stored table and building one; EventTable declares the same
EVENT_COLUMNS = {
    "name": np.int32, "cat": np.int32, "kind": np.uint8, "flags": np.uint8, "row": np.int32,
    "start_ns": np.int64, "dur_ns": np.int64, "step": np.int32, "args": np.int32,
}
COUNTER_COLUMNS = {"counter_series": np.int32, "counter_ts_ns": np.int64, "counter_value": np.float64}


@dataclass(eq=False)
class EventTable:
    """Columnar events, sorted by start time. `name`, `cat` and `args` index `strings`
    (-1: none); `row` indexes `rows`; `step` is the step number an event falls in (-1 when
    outside every step or the trace has no step markers); `args` points at a compact JSON
    object of the few arguments kept (hlo_op, hlo_module, long_name, Input Dims, ...)."""

    strings: list[str]
    name: npt.NDArray[np.int32]
    cat: npt.NDArray[np.int32]
    kind: npt.NDArray[np.uint8]
    flags: npt.NDArray[np.uint8]
    row: npt.NDArray[np.int32]
    start_ns: npt.NDArray[np.int64]
    dur_ns: npt.NDArray[np.int64]
    step: npt.NDArray[np.int32]
    args: npt.NDArray[np.int32]
    rows: list[Row]
    counter_series: npt.NDArray[np.int32]
    counter_ts_ns: npt.NDArray[np.int64]
    counter_value: npt.NDArray[np.float64]
    series: list[CounterSeries]
    source: SourceInfo
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    # launch links, sparse (traces.launch_links): device event link_dst[i] was launched by host event link_src[i]
    link_src: npt.NDArray[np.int32] = field(default_factory=lambda: np.empty(0, np.int32))
    link_dst: npt.NDArray[np.int32] = field(default_factory=lambda: np.empty(0, np.int32))

    def __len__(self) -> int:
        return int(self.name.shape[0])

    @property
    def end_ns(self) -> npt.NDArray[np.int64]:
        return self.start_ns + self.dur_ns

    def string(self, index: int) -> str:
        return self.strings[index] if index >= 0 else ""

    def string_id(self, text: str) -> int:
        """Index of `text` in the string table, or -1."""
        lookup: dict[str, int] | None = self.cache.get("string_ids")
        if lookup is None:
            lookup = self.cache["string_ids"] = {s: i for i, s in enumerate(self.strings)}
        return lookup.get(text, -1)

    def event_args(self, index: int) -> dict[str, Any]:
        """The kept arguments of event `index` (empty when none were kept)."""
        ref = int(self.args[index])
        return json.loads(self.strings[ref]) if ref >= 0 else {}

    def kind_counts(self) -> dict[str, int]:
        counts = np.bincount(self.kind, minlength=len(Kind))
        return {KIND_NAMES[Kind(k)]: int(c) for k, c in enumerate(counts) if c}

    def span_ns(self) -> tuple[int, int]:
        """(first start, last end) over all events; (0, 0) for an empty table."""
        if not len(self):
            return 0, 0
        return int(self.start_ns.min()), int(self.end_ns.max())

    def nbytes_breakdown(self) -> dict[str, int]:
        """Bytes this table holds, by part: numpy columns, and the Python strings (object
        size + list slot) of the string table and row names."""
        columns = sum(getattr(self, c).nbytes for c in EVENT_COLUMNS) + self.link_src.nbytes + self.link_dst.nbytes
        counters = sum(getattr(self, c).nbytes for c in COUNTER_COLUMNS)
        strings = self.cache.get("strings_nbytes")
        if strings is None:
            strings = self.cache["strings_nbytes"] = sum(map(sys.getsizeof, self.strings)) + 8 * len(self.strings)
        rows = sum(sys.getsizeof(r.pid) + sys.getsizeof(r.tid) + sys.getsizeof(r.process) + sys.getsizeof(r.thread) + 80
                   for r in self.rows)
        return {"columns": int(columns), "strings": int(strings), "rows": int(rows), "counters": int(counters)}

    @property
    def nbytes(self) -> int:
        return sum(self.nbytes_breakdown().values())

    # -- persistence -------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray | list[str]]:
        """Every column as a numpy array and every text part as a list of str (rows and
        series as JSON lines, the source as one JSON string): nothing that needs pickle."""
        out: dict[str, np.ndarray | list[str]] = {c: getattr(self, c) for c in (*EVENT_COLUMNS, *COUNTER_COLUMNS)}
        out["strings"] = list(self.strings)
        out["rows"] = [json.dumps(asdict(r)) for r in self.rows]
        out["series"] = [json.dumps(asdict(s)) for s in self.series]
        out["source"] = [json.dumps({"version": FORMAT_VERSION, **asdict(self.source)})]
        out["link_src"], out["link_dst"] = self.link_src, self.link_dst
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> EventTable:
        """Inverse of `to_arrays`, checking shapes, dtypes and every index, so a damaged or
        foreign table raises TraceError instead of failing later inside an analysis."""
        where = "stored trace table"
        try:
            cols = {c: np.asarray(arrays[c]) for c in (*EVENT_COLUMNS, *COUNTER_COLUMNS)}
            strings = [str(s) for s in arrays["strings"]]
            rows = [Row(**json.loads(s)) for s in arrays["rows"]]
            series = [CounterSeries(**json.loads(s)) for s in arrays["series"]]
            source_fields = json.loads(arrays["source"][0])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise TraceError(where, f"incomplete or malformed ({type(exc).__name__}: {exc})") from None
        if source_fields.pop("version", None) != FORMAT_VERSION:
            raise TraceError(where, "written by a newer Stepscope (unknown table format version)")
        for c, dtype in {**EVENT_COLUMNS, **COUNTER_COLUMNS}.items():
            if cols[c].dtype != np.dtype(dtype) or cols[c].ndim != 1:
                raise TraceError(where, f"column {c} has dtype {cols[c].dtype}, expected {np.dtype(dtype)}")
        n, m = len(cols["name"]), len(cols["counter_ts_ns"])
        if any(len(cols[c]) != n for c in EVENT_COLUMNS) or any(len(cols[c]) != m for c in COUNTER_COLUMNS):
            raise TraceError(where, "columns differ in length")
        for c, bound in (("name", len(strings)), ("cat", len(strings)), ("args", len(strings)), ("row", len(rows))):
            if n and (cols[c].min() < (0 if c == "row" else -1) or cols[c].max() >= bound):
                raise TraceError(where, f"column {c} points outside its table")
        if n and (cols["kind"].max() >= len(Kind) or cols["dur_ns"].min() < 0):
            raise TraceError(where, "unknown event kind or negative duration")
        if m and (cols["counter_series"].min() < 0 or cols["counter_series"].max() >= len(series)):
            raise TraceError(where, "counter samples point outside their series")
        try:
            source = SourceInfo(**source_fields)
        except TypeError as exc:
            raise TraceError(where, f"malformed source description ({exc})") from None
        table = cls.from_columns(cols, strings, rows, series, source)
        empty = np.empty(0, np.int32)  # tables stored before launch links have none
        src, dst = np.asarray(arrays.get("link_src", empty)), np.asarray(arrays.get("link_dst", empty))
        if src.dtype != np.int32 or dst.dtype != np.int32 or src.shape != dst.shape or src.ndim != 1:
            raise TraceError(where, "launch links are not two int32 columns of one length")
        if len(src) and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
            raise TraceError(where, "launch links point outside the events")
        table.link_src, table.link_dst = src, dst
        return table

    @classmethod
    def from_columns(cls, cols: dict[str, npt.NDArray[Any]], strings: list[str], rows: list[Row],
                     series: list[CounterSeries], source: SourceInfo) -> EventTable:
        """A table from its event and counter columns by name (EVENT_COLUMNS, COUNTER_COLUMNS)."""
        return cls(strings=strings, name=cols["name"], cat=cols["cat"], kind=cols["kind"], flags=cols["flags"],
                   row=cols["row"], start_ns=cols["start_ns"], dur_ns=cols["dur_ns"], step=cols["step"], args=cols["args"],
                   rows=rows, counter_series=cols["counter_series"], counter_ts_ns=cols["counter_ts_ns"],
                   counter_value=cols["counter_value"], series=series, source=source)


def _npy(array: np.ndarray) -> bytes:
    buf = BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def table_to_blobs(table: EventTable, level: int = 6) -> dict[str, bytes]:
    """Compressed bytes per column (zlib of `np.save` output; start times delta-coded, since
    sorted starts compress far better as gaps) and zlib'd JSON for the text parts."""
    blobs: dict[str, bytes] = {}
    for key, value in table.to_arrays().items():
        if isinstance(value, np.ndarray):
            if key == "start_ns":
                key, value = "start_ns.delta", np.diff(value, prepend=np.int64(0))
            raw = _npy(value)
        else:
            raw = json.dumps(value).encode()
        blobs[key] = zlib.compress(raw, level)
    return blobs


def table_from_blobs(blobs: dict[str, bytes], max_bytes: int = 4 * GiB) -> EventTable:
    """Inverse of `table_to_blobs`; every blob is decompressed with a cap and loaded without
    pickle, and the result is checked by `EventTable.from_arrays`."""
    where = "stored trace table"
    arrays: dict[str, Any] = {}
    for key, blob in blobs.items():
        try:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(blob, max_bytes)
            if inflater.unconsumed_tail:
                raise TraceError(where, f"{key} expands past {max_bytes} bytes")
            if key in ("strings", "rows", "series", "source"):
                value = json.loads(raw)
                if not isinstance(value, list):
                    raise TraceError(where, f"{key} is not a list")
                arrays[key] = value
                continue
            value = np.load(BytesIO(raw), allow_pickle=False)
        except (zlib.error, ValueError, OSError, EOFError) as exc:
            raise TraceError(where, f"{key} is damaged ({type(exc).__name__}: {exc})") from None
        if key == "start_ns.delta":
            key, value = "start_ns", np.cumsum(value, dtype=np.int64)
        arrays[key] = value
    return EventTable.from_arrays(arrays)


def label_text(value: object, cap: int) -> str:
    """A label from any JSON value, capped (numbers and lists become their JSON text)."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bool, float)):
        text = json.dumps(value)
    elif isinstance(value, int):
        text = str(value) if abs(value) < 10**60 else "<huge integer>"
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), default=str)
        except (ValueError, RecursionError):
            text = "<unprintable>"
    return text if len(text) <= cap else text[: cap - 3] + "..."
