"""A second process that decodes a big Chrome trace's event array from its end while this one
decodes from its start: msgspec holds the GIL while it decodes, so threads cannot use the
second core, and decoding is most of a read.

Only for JSON already whole in memory (`chrome_reader.read_chrome_data`, and the files the
stream cannot decode): a file is read as a stream on one core (`traces.stream_decode`). On the
1M-event bench trace (168 MB, 2 cores, 2026-12-01) the stream took 0.70-0.72 s wall and CPU
with a peak of 103 B/event; the whole file with this worker 0.67-0.75 s wall for 0.66-0.76 +
0.27 (worker) CPU-s and 311 B/event: reading the file whole and copying 60 % of it to the
worker cost what the second core saved, and memory is a multiple of the file.

The array is cut into blocks of 4 MB between events. This side decodes alone for 0.1 s while
/proc/stat says whether a core is idle; if none is, the worker's overhead (~0.3 s of CPU per
1M events) would only slow the read, and none is started. Otherwise each side claims one block
at a time (two counters under a POSIX file lock), so they meet wherever their speeds put them:
a worker slowed by a busy machine (or still starting) just takes fewer blocks. The worker is a
fresh interpreter (never a fork: the reader may hold CUDA, JAX or Qt state) that imports no
numpy (`traces.json_decoders` only: it starts in ~0.1 s) and reads the blocks it may take
from an in-memory file, which a thread fills while this process decodes; it answers with
columns as msgpack, merged as if this process had decoded them (same key and argument-set
order, so the same table). When the process fails (no interpreter, a crash, a timeout) its
blocks are decoded here; what the data holds (invalid JSON, too many events) is reported as
the one-process path reports it. STEPSCOPE_TRACE_WORKER=0 reads on one core.

`traces.decode` calls in with its accumulator and a function that decodes one block into it,
so this module never imports the decoder (nor numpy, until a worker's answer is merged).
"""
from __future__ import annotations

import gc
import logging
import mmap
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Callable
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from traces.json_decoders import (
    ARGS,
    FAST_ERRORS,
    NO_ID,
    SPLIT,
    arg_ids,
    decode_range,
    flow_ids,
    flows_begin,
    key_firsts,
    msgspec,
    times_text,
)

if TYPE_CHECKING:  # numpy only for the types: the worker must not import it
    import numpy as np
    import numpy.typing as npt

if sys.platform != "win32":  # POSIX file locks share the blocks; Windows reads on one core
    import fcntl

log = logging.getLogger("stepscope.traces")
MIN_BYTES = 32 << 20  # below ~200k events a second interpreter (~0.15 s of CPU to start) does not pay
BLOCK_BYTES = 4 << 20  # ~25k events: claims are rare, and the last block (the wait at the end) is short
SHARE = 0.6  # the worker may take blocks from the last 60 % (what the shared file holds); it takes ~half
PROBE_S = 0.1  # this side decodes alone first, while /proc/stat tells whether a core is idle
TIMEOUT_S = 120.0  # for the worker's last block and its answer once this side is done
ENV = "STEPSCOPE_TRACE_WORKER"
_ROOT = str(Path(__file__).resolve().parents[1])
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from traces.decode_pool import main; main()"
_CONTROL = struct.Struct("<qq")  # next block from the front, first block taken from the back
_HEAD = struct.Struct("<qqq")  # region written, blocks in all, first block the worker may take; then its blocks' bounds

if msgspec is not None:
    Key = tuple[str, str | None, str | None, int | str | None, int | str | None]

    class Part(msgspec.Struct):
        """One block's columns (see `traces.decode._Acc`); `error` instead when it could not
        be decoded: "invalid" (the caller falls back to its slower paths), "deep", "events"."""

        block: int = -1
        n: int = 0
        error: str = ""
        keys: list[Key] = msgspec.field(default_factory=list)
        firsts: bytes = b""  # int64 per key: the index of its first event in the block
        first: bytes = b""  # int64 per event: its key's first index
        ts: bytes = b""  # the events' ts as comma-joined JSON texts (`traces.exact_time`)
        dur: bytes = b""  # the same for dur
        ref: bytes = b""  # int32 per event: its argument set in `args`, -1: none
        args: list[bytes] = msgspec.field(default_factory=list)
        corr: bytes = b""  # int64 per event: its correlation id (-1: none); empty: no event has one
        flow: bytes = b""  # the same for the flow ids


class Accumulator(Protocol):
    """This side's columns (`traces.decode._Acc`), as `merge` adds a worker's block to them."""

    where: object
    max_events: int
    max_string: int
    keys: dict[tuple[Any, ...], int]
    args: dict[bytes, int]
    first: list[npt.NDArray[np.int64]]
    ref: list[npt.NDArray[np.int32]]
    links: list[tuple[int, array[int] | bytes | None, array[int] | bytes | None]]
    n: int

    def text_times(self, ts: bytes, dur: bytes, n: int) -> None: ...


DecodeBlock = Callable[[int, int], None]  # decodes view[pos:end] into this side's accumulator


def usable(size: int) -> bool:
    """Whether an event array of `size` bytes is worth trying a second process for."""
    if sys.platform == "win32" or msgspec is None or size < MIN_BYTES:
        return False
    if os.environ.get(ENV) == "0" or getattr(sys, "frozen", False):
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return cores >= 2 and bool(sys.executable)


def _control(fd: int) -> tuple[int, int]:
    """(next block from the front, first block taken from the back)."""
    nxt, back = _CONTROL.unpack(os.pread(fd, _CONTROL.size, 0))
    return nxt, back


def _claim(fd: int, front: bool, first: int = 0) -> int | None:
    """Take the next block from the front (this process) or the back (the worker)."""
    fcntl.lockf(fd, fcntl.LOCK_EX, _CONTROL.size, 0)
    try:
        nxt, back = _control(fd)
        if front and nxt < back:
            os.pwrite(fd, _CONTROL.pack(nxt + 1, back), 0)
            return nxt
        if not front and back - 1 >= max(nxt, first):
            os.pwrite(fd, _CONTROL.pack(nxt, back - 1), 0)
            return back - 1
        return None
    finally:
        fcntl.lockf(fd, fcntl.LOCK_UN, _CONTROL.size, 0)


def _shared_file() -> int:
    """A file for the worker's blocks: in memory where Linux allows (memfd; an ext4 temporary
    file took 3x longer to fill), else an unlinked temporary file."""
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create("stepscope-trace")
        except OSError:
            pass
    fd, path = tempfile.mkstemp(prefix="stepscope-trace-")
    os.unlink(path)
    return fd


def _write(fd: int, data: bytes | memoryview, at: int) -> None:
    view, done = memoryview(data), 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], at + done)


class Helper:
    """This side of the sharing: `claim()` the next block from the front until None, then
    `result()` for the worker's blocks."""

    def __init__(self, view: memoryview, blocks: list[tuple[int, int]], max_events: int, max_string: int,
                 chunk_bytes: int) -> None:
        self.blocks = blocks
        self.proc: subprocess.Popen[bytes] | None = None
        self.first = min(len(blocks) - 1, int(len(blocks) * (1 - SHARE)))
        base = blocks[self.first][0]
        bounds = array("q", [at - base for block in blocks[self.first:] for at in block])
        self.fd = _shared_file()
        head = _CONTROL.pack(0, len(blocks)) + _HEAD.pack(0, len(blocks), self.first) + bounds.tobytes()
        _write(self.fd, head, 0)
        args = (view[base:blocks[-1][1]], len(head), max_events, max_string, chunk_bytes)
        self.thread = threading.Thread(target=self._launch, args=args, name="stepscope-trace-worker", daemon=True)
        self.thread.start()

    def _launch(self, region: memoryview, at: int, max_events: int, max_string: int, chunk_bytes: int) -> None:
        """Off the decoding thread: start the worker, and while it starts up, copy its region
        into the file (one big write, without the GIL), then flag it written."""
        try:
            argv = [sys.executable, "-c", _BOOT, _ROOT, str(max_events), str(max_string), str(chunk_bytes)]
            self.proc = subprocess.Popen(argv, stdin=self.fd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _write(self.fd, region, at)
            os.pwrite(self.fd, _HEAD.pack(1, len(self.blocks), self.first), _CONTROL.size)
        except (OSError, ValueError) as exc:
            log.debug("no trace worker (%s): decoding on one core", exc)

    def claim(self) -> int | None:
        return _claim(self.fd, True)

    def result(self) -> tuple[int, list[Part] | None]:
        """(b, parts): the worker took blocks b.. and these are their columns, in order;
        parts None when the process failed and this side must decode them."""
        self.thread.join()
        taken = _control(self.fd)[1]
        if taken == len(self.blocks) or self.proc is None:
            return taken, []  # this side did everything: the worker took nothing, and now cannot
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("trace worker took over %.0f s: decoding its blocks here", TIMEOUT_S)
            return taken, None
        if self.proc.returncode != 0:
            log.warning("trace worker failed (exit %s): %s", self.proc.returncode, err.decode(errors="replace")[-1000:])
            return taken, None
        try:
            parts = msgspec.msgpack.decode(out, type=list[Part])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("trace worker answered garbage (%s): decoding its blocks here", exc)
            return taken, None
        parts.sort(key=lambda p: p.block)
        if [p.block for p in parts] != list(range(taken, len(self.blocks))):
            log.warning("trace worker answered for the wrong blocks: decoding them here")
            return taken, None
        for part in parts:
            if part.error == "invalid":
                raise msgspec.DecodeError("part of the event array is not valid for the typed decoder")
            if part.error == "deep":
                raise RecursionError("nested too deeply")
        return taken, parts

    def close(self) -> None:
        self.thread.join()
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.communicate()
        os.close(self.fd)


def decode_shared(acc: Accumulator, view: memoryview, pos: int, end: int, decode_block: DecodeBlock,
                  chunk_bytes: int) -> None:
    """`decode_block(pos, end)` (which decodes into `acc`) with the worker's help, if a core
    turns out to be idle while this side decodes the first blocks alone; the worker decodes
    in chunks of `chunk_bytes`, as `decode_block` does."""
    blocks = []
    while end - pos > BLOCK_BYTES and (m := SPLIT.search(view, pos + BLOCK_BYTES, end)) is not None:
        blocks.append((pos, m.start() + 1))
        pos = m.end() - 1
    blocks.append((pos, end))
    ticks, t0 = _idle_ticks(), time.monotonic()
    while blocks and time.monotonic() - t0 < PROBE_S:
        decode_block(*blocks.pop(0))
    helper = None
    if len(blocks) > 1 and idle_core(ticks, t0):
        try:
            helper = Helper(view, blocks, acc.max_events, acc.max_string, chunk_bytes)
        except OSError as exc:  # no file to share
            log.debug("no trace worker (%s): decoding on one core", exc)
    if helper is None:
        for bounds in blocks:
            decode_block(*bounds)
        return
    try:
        while (claimed := helper.claim()) is not None:
            decode_block(*blocks[claimed])
        taken, parts = helper.result()
        for left in range(taken, len(blocks)) if parts is None else ():  # the worker failed: its blocks here
            decode_block(*blocks[left])
        for part in parts or ():
            merge(acc, part)
    finally:
        helper.close()


def _idle_ticks() -> int | None:
    """Idle time of all cores so far, in clock ticks (Linux), else None."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()  # b"cpu", user, nice, system, idle, iowait, ...
        return int(fields[4]) + int(fields[5])
    except (OSError, ValueError, IndexError):
        return None


def idle_core(ticks: int | None, t0: float) -> bool:
    """Whether half a core or more sat idle since `_idle_ticks()` gave `ticks` at `t0`
    (unknown: assume so). On a saturated 2-core machine a shared read took 2.1 s, one core 1.6."""
    now = _idle_ticks()
    if ticks is None or now is None:
        return True
    return (now - ticks) / (os.sysconf("SC_CLK_TCK") * max(time.monotonic() - t0, 1e-3)) >= 0.5


def merge(acc: Accumulator, part: Part) -> None:
    """Add a worker's block to this side's accumulator as if it had decoded those events
    itself: keys and argument sets are interned in the same order, so codes match."""
    import numpy as np

    from traces.table import TraceError

    if part.error == "events" or acc.n + part.n > acc.max_events:
        raise TraceError(acc.where, f"more than {acc.max_events:,} events (raise Limits.max_events to read it)")
    firsts = np.frombuffer(part.firsts, np.int64)  # each key's first event, in the block
    mine = np.fromiter(map(acc.keys.setdefault, part.keys, (firsts + acc.n).tolist()), np.int64, len(firsts))
    acc.first.append(mine[np.searchsorted(firsts, np.frombuffer(part.first, np.int64))])
    acc.text_times(part.ts, part.dur, part.n)
    ids = np.array([acc.args.setdefault(k, len(acc.args)) for k in part.args] + [-1], np.int32)
    acc.ref.append(ids[np.frombuffer(part.ref, np.int32)])  # -1 (no arguments) picks the last: -1
    if part.corr or part.flow:
        acc.links.append((acc.n, part.corr or None, part.flow or None))
    acc.n += part.n


class Block:
    """The worker's accumulator: `traces.decode._Acc`'s interning (the same iterators from
    `traces.json_decoders`) into `array` columns, so the worker never imports numpy."""

    def __init__(self, max_events: int, max_string: int) -> None:
        self.max_events, self.max_string = max_events, max_string
        self.keys: dict[tuple[Any, ...], int] = {}
        self.args: dict[bytes, int] = {}
        self.first, self.ref = array("q"), array("i")
        self.ts: list[bytes] = []  # per chunk, comma-joined JSON texts
        self.corr, self.flow = array("q"), array("q")  # as in `Part`: empty until an event has one
        self.flows = False  # as in `traces.decode._Acc`: ids are read from the first flow on
        self.dur: list[bytes] = []
        self.n = 0

    def add_structs(self, events: list[Any], pos: int = 0, cut: int = 0) -> None:
        """`chunk_decoder`'s structs (times as text: the worker has no numpy to check floats)."""
        n = len(events)
        if self.n + n > self.max_events:
            raise _TooMany
        before = len(self.keys)
        self.first.extend(key_firsts(self.keys, events, self.n))
        self.flows = self.flows or (len(self.keys) > before and flows_begin(self.keys, before))
        if n:
            ts, dur = times_text(events)
            self.ts.append(ts)
            self.dur.append(dur)
        ids, corr = arg_ids(self.args, list(map(ARGS, events)), self.max_string)
        self.ref.extend(repeat(-1, n) if ids is None else ids)
        for column, values in ((self.corr, corr), (self.flow, flow_ids(events) if self.flows else None)):
            if values is not None or column:
                column.extend(repeat(NO_ID, self.n - len(column)))  # the earlier chunks had none
                column.extend(repeat(NO_ID, n) if values is None else values)
        self.n += n

    def part(self, block: int) -> Part:
        return Part(block=block, n=self.n, keys=list(self.keys), firsts=array("q", self.keys.values()).tobytes(),
                    first=self.first.tobytes(), ts=b",".join(self.ts), dur=b",".join(self.dur), ref=self.ref.tobytes(),
                    args=list(self.args), corr=self.corr.tobytes(), flow=self.flow.tobytes())


class _TooMany(Exception):
    pass


def main() -> None:
    """Worker: claim blocks from the back of the array in stdin (the temporary file), decode
    each, write the list of `Part`s as msgpack on stdout."""
    gc.disable()  # a million short-lived acyclic objects
    deadline = time.monotonic() + TIMEOUT_S
    while not (head := _HEAD.unpack(os.pread(0, _HEAD.size, _CONTROL.size)))[0]:  # the parent is still writing
        if time.monotonic() > deadline:
            os._exit(1)
        time.sleep(0.002)
    _, n_blocks, first = head
    data = mmap.mmap(0, 0, access=mmap.ACCESS_READ)
    at, mine = _CONTROL.size + _HEAD.size, n_blocks - first
    bounds = array("q", data[at:at + 16 * mine])
    view, (max_events, max_string, chunk_bytes) = memoryview(data), map(int, sys.argv[2:5])
    parts = []
    while (block := _claim(0, False, first)) is not None:
        acc = Block(max_events, max_string)
        j = 2 * (block - first)
        try:
            decode_range(acc.add_structs, view, at + 16 * mine + bounds[j], at + 16 * mine + bounds[j + 1], chunk_bytes)
        except FAST_ERRORS:
            parts.append(Part(block=block, error="invalid"))
            break  # the caller falls back to reading the file whole
        except RecursionError:
            parts.append(Part(block=block, error="deep"))
            break
        except _TooMany:
            parts.append(Part(block=block, error="events"))
            break
        parts.append(acc.part(block))
    sys.stdout.buffer.write(msgspec.msgpack.encode(parts))
    sys.stdout.buffer.flush()
    os._exit(0)  # no teardown of what the decode left behind
