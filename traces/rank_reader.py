"""A directory of per-rank Chrome traces (one file per process of a distributed job) -> one
table, each rank's rows a group of their own ("rank 3: ..."), all on one clock.

A file's rank comes from its header (`distributedInfo.rank`, which Kineto writes before the
event array) or from its name (`rank-0.json.gz`, `..._rank3.1700.pt.trace.json.gz`). Kineto
writes `ts` relative to the trace's own `baseTimeNanoseconds`, which differs from rank to
rank: each rank is shifted by its base's distance from the earliest one, so the timelines line
up as the ranks' wall clocks did.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from traces.bounded_read import GZIP_MAGIC, read_bytes
from traces.chrome import ChromeResult, framework_from, parse_into, parse_stream_into
from traces.classify import finish_table, guess_device
from traces.progress import OffsetProgress, Progress, ReadProgress
from traces.stream_decode import NeedWhole
from traces.stream_source import TraceStream
from traces.table import EventTable, Limits, SourceInfo, TraceError
from traces.table_builder import TableBuilder

HEADER_BYTES = 256 << 10  # the metadata Kineto writes before "traceEvents" fits easily
RANK_IN_NAME = re.compile(r"(?:^|[^a-z0-9])rank[-_]?(\d{1,6})(?![0-9])", re.IGNORECASE)
RANK_IN_HEADER = re.compile(rb'"distributedInfo"\s*:\s*\{[^{}]*?"rank"\s*:\s*(\d{1,6})\b')


@dataclass(frozen=True)
class RankFile:
    rank: int
    path: Path
    source: str  # "distributedInfo" or "file name": how the rank was known


def file_rank(path: Path) -> RankFile | None:
    """The rank a trace file belongs to, from its header, else its name; None if neither says."""
    in_header = RANK_IN_HEADER.search(_head(path))
    if in_header:
        return RankFile(int(in_header.group(1)), path, "distributedInfo")
    in_name = RANK_IN_NAME.search(path.name)
    return RankFile(int(in_name.group(1)), path, "file name") if in_name else None


def rank_files(paths: list[Path]) -> list[RankFile] | None:
    """The files as ranks when they are one distributed job's traces: at least two files, each
    with a rank, no rank twice. Otherwise None (the caller reads one file as before)."""
    if len(paths) < 2:
        return None
    ranks = [file_rank(p) for p in paths]
    known = [r for r in ranks if r is not None]
    if len(known) != len(paths) or len({r.rank for r in known}) != len(known):
        return None
    return sorted(known, key=lambda r: r.rank)


def read_ranks(files: list[RankFile], limits: Limits, framework: str | None = None,
               progress: ReadProgress | None = None) -> EventTable:
    """Every rank's trace in one table: rows prefixed "rank N: ", times on the earliest rank's
    clock. `progress` is started with the files' sizes together, and finished."""
    builder = TableBuilder(SourceInfo(path=str(files[0].path.parent), format="chrome"), limits)
    results, bases, marks = [], [], []
    sizes = [_size(f.path) for f in files]
    if progress is not None:
        progress.start(sum(sizes))
    for i, rank_file in enumerate(files):
        marks.append(builder.mark())
        mine = None if progress is None else OffsetProgress(progress, sum(sizes[:i]))
        result = _read_rank(builder, rank_file, limits, mine)
        results.append(result)
        base = result.top.get("baseTimeNanoseconds")
        bases.append(base if isinstance(base, int) and not isinstance(base, bool) and 0 <= base < 2**62 else None)
        builder.source.notes.extend(f"rank {rank_file.rank}: {note}" for note in result.notes)
    for info in builder.rows:  # a named process shows its name, not the prefixed pid: put the rank in front of it
        prefix = info["key"][0]
        if info["process"] and not info["process"].startswith(prefix):
            info["process"] = prefix + info["process"]
    src = builder.source
    ranks = ", ".join(str(f.rank) for f in files)
    how = {f.source for f in files}
    if all(b is not None for b in bases):
        origin = min(b for b in bases if b is not None)
        ends = [*marks[1:], builder.mark()]
        for begin, end, base in zip(marks, ends, bases, strict=True):
            assert base is not None
            builder.shift(begin, end, base - origin)
        src.time_origin_ns = origin
        src.notes.append(f"merged {len(files)} ranks ({ranks}; rank from {' and '.join(sorted(how))}), "
                         "aligned by each trace's baseTimeNanoseconds")
    else:
        src.notes.append(f"merged {len(files)} ranks ({ranks}; rank from {' and '.join(sorted(how))}); "
                         "not every trace states baseTimeNanoseconds, so each rank's times are as written")
    src.framework = next((fw for fw in map(framework_from, results) if fw), None)
    src.producer = "torch.profiler" if src.framework == "torch" else "Chrome trace"
    table = finish_table(builder, framework)
    table.source.device = guess_device(table, results[0].top.get("deviceProperties"), results[0].flavor)
    if progress is not None:
        progress.finish()
    return table


def _read_rank(builder: TableBuilder, rank_file: RankFile, limits: Limits, progress: Progress | None) -> ChromeResult:
    """One rank's trace into the shared builder: as a stream, else (what only the whole-file
    path reads) whole."""
    prefix = f"rank {rank_file.rank}: "
    try:
        with TraceStream(rank_file.path, limits, progress) as stream:
            return parse_stream_into(builder, stream, rank_file.path, prefix=prefix)
    except NeedWhole:
        pass
    on_read = None if progress is None else (lambda at: progress.advance(at, rank_file.path))
    data = read_bytes(rank_file.path, limits, on_read)
    return parse_into(builder, data, rank_file.path, prefix=prefix)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise TraceError(path, f"cannot be read ({exc.strerror or exc})") from None


def _head(path: Path) -> bytes:
    """The first HEADER_BYTES of the file's content, gunzipped as far as that goes."""
    try:
        with open(path, "rb") as f:
            raw = f.read(HEADER_BYTES)
    except OSError as exc:
        raise TraceError(path, f"cannot be read ({exc.strerror or exc})") from None
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return zlib.decompressobj(wbits=31).decompress(raw, HEADER_BYTES)  # a partial stream is fine
    except zlib.error:
        return b""  # damaged: the full read will say what is wrong with the file
