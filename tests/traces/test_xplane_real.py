"""The direct XPlane reader gives the table xprof's trace_viewer conversion gives, on real
XPlanes: the stored JAX and TensorFlow ones (tests/data/traces) and two written here by the
frameworks on this CPU (JAX with thread-pool regions and step annotations; TensorFlow with a
tf.data pipeline, a while loop and the BFC allocator, whose allocation events feed xprof's
memory_profile). Same events, names, times to the ns, rows, kinds, steps and arguments."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from traces.chrome import parse_into
from traces.classify import finish_table
from traces.table import EventTable, Limits, SourceInfo
from traces.table_builder import TableBuilder
from traces.xplane_reader import read_xplane
from traces.xplane_xprof import read_xprof_tool, xprof_tool_data

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "traces"
STORED = ["jax_mlp.xplane.pb.gz", "tf_mlp.xplane.pb.gz", "tf_mlp_noxla.xplane.pb.gz"]
JAX_PROGRAM = """
import sys, jax, jax.numpy as jnp
@jax.jit
def f(x, w):
    for _ in range(3):
        x = jnp.tanh(x @ w)
    return x.sum()
x, w = jnp.ones((256, 512)), jnp.ones((512, 512)) * 0.01
f(x, w).block_until_ready()
with jax.profiler.trace(sys.argv[1]):
    for i in range(4):
        with jax.profiler.StepTraceAnnotation("train", step_num=i):
            f(x, w).block_until_ready()
        with jax.profiler.TraceAnnotation("eval_block"):
            jnp.sort(jnp.arange(1000.0)[::-1]).block_until_ready()
"""
TF_PROGRAM = """
import sys, tensorflow as tf
ds = tf.data.Dataset.range(64).map(lambda i: tf.cast(i, tf.float32) * 2).batch(8).prefetch(2)
w = tf.Variable(tf.ones((8, 8)))
@tf.function
def step(x):
    y = tf.reshape(x, (1, 8)) @ w
    _, y = tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 1.01), (tf.constant(0), y))
    return tf.reduce_sum(y)
it = iter(ds)
step(next(it))
opts = tf.profiler.experimental.ProfilerOptions(host_tracer_level=3, python_tracer_level=1, device_tracer_level=1)
tf.profiler.experimental.start(sys.argv[1], options=opts)
for i in range(4):
    with tf.profiler.experimental.Trace("train", step_num=i, _r=1):
        step(next(it))
        big = tf.random.normal((128, 128))
        _ = (big @ big).numpy()
tf.profiler.experimental.stop()
"""


def xprof_table(path: Path, limits: Limits | None = None) -> EventTable:
    """The table the reader made before: xprof's trace_viewer JSON through the Chrome parser."""
    plain = path
    if path.suffix == ".gz":
        plain = path.with_name(path.name.removesuffix(".gz"))
        plain.write_bytes(gzip.decompress(path.read_bytes()))
    builder = TableBuilder(SourceInfo(format="xplane"), limits or Limits())
    parse_into(builder, xprof_tool_data(plain, "trace_viewer", path, Limits()), path, flavor="xla")
    return finish_table(builder, None)


RowNames = tuple[str, str, str, str, bool]
Event = tuple[int, RowNames, str, int, int, int, int, str]


def canon(table: EventTable) -> list[Event]:
    """Every event as (start, row names, name, duration, kind, flags, step, kept arguments), sorted."""
    rows = [(r.pid, r.tid, r.process, r.thread, r.device) for r in table.rows]
    return sorted((int(s), rows[int(r)], table.string(int(n)), int(d), int(k), int(f), int(st), table.string(int(a)))
                  for s, r, n, d, k, f, st, a in zip(table.start_ns, table.row, table.name, table.dur_ns, table.kind,
                                                      table.flags, table.step, table.args, strict=True))


def row_names(table: EventTable) -> list[RowNames]:
    return [(r.pid, r.tid, r.process, r.thread, r.device) for r in table.rows]


def record(tmp: Path, program: str, env: dict[str, str]) -> Path:
    proc = subprocess.run([sys.executable, "-c", program, str(tmp)], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (found,) = tmp.glob("plugins/profile/*/*.xplane.pb")
    return found


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("recorded")
    return {"jax": record(base / "jax", JAX_PROGRAM, {}),
            "tf": record(base / "tf", TF_PROGRAM, {"TF_CPU_ALLOCATOR_USE_BFC": "true"})}


def assert_same(path: Path) -> EventTable:
    direct, converted = read_xplane(path), xprof_table(path)
    assert len(direct) == len(converted) > 0
    assert canon(direct) == canon(converted)
    assert row_names(direct) == row_names(converted)  # and in the same order
    assert direct.kind_counts() == converted.kind_counts()
    return direct


@pytest.mark.parametrize("name", STORED)
def test_stored_xplanes_read_as_xprof_converts_them(name: str, tmp_path: Path) -> None:
    gz = tmp_path / name
    gz.write_bytes((DATA / name).read_bytes())
    t = assert_same(gz)
    assert t.source.producer in ("jax.profiler XPlane", "tf.profiler XPlane") and t.source.device == "cpu"
    names = {t.string(int(i)) for i in t.name}
    assert {"train 2", "train 3"} <= names and "train" not in names  # xprof's step names for the annotations


def test_a_jax_xplane_recorded_here(recorded: dict[str, Path]) -> None:
    t = assert_same(recorded["jax"])
    names = [t.string(int(i)) for i in t.name]
    assert {"train 0", "train 1", "train 2", "train 3"} <= set(names)
    assert names.count("ThreadpoolListener::Region") > 0  # made from Start/StopRegion pairs, as xprof does
    assert t.source.framework == "jax" and t.kind_counts()["hlo_op"] > 0


def test_a_tensorflow_xplane_with_loops_data_and_allocator_events(recorded: dict[str, Path]) -> None:
    t = assert_same(recorded["tf"])
    names = {t.string(int(i)) for i in t.name}
    # a tf.while_loop makes executor iterations the only grouping roots: the annotations keep their name
    assert "train" in names and "train 0" not in names
    assert not names & {"MemoryAllocation", "MemoryDeallocation", "PrefetchProduce", "PrefetchConsume"}  # internal


def test_allocator_counters_are_xprofs_memory_timeline(recorded: dict[str, Path]) -> None:
    """xprof's memory_profile: per allocator, one snapshot per allocation event. Its full timeline
    is `sampledTimelineSnapshots` (all of them up to 1,000); `memoryProfileSnapshots`, which the
    reader used to take, keeps only the allocations live at the peak. xprof times a snapshot
    by the event's offset within its line; the table puts it on the trace's time axis, which
    adds the line's timestamp (one constant per line)."""
    path = recorded["tf"]
    t = read_xplane(path)
    profile = read_xprof_tool(path, "memory_profile")["memoryProfilePerAllocator"]
    assert list(profile) == ["bfc_cpu_allocator_for_gpu"]
    snaps = sorted(profile["bfc_cpu_allocator_for_gpu"]["sampledTimelineSnapshots"], key=lambda s: int(s["timeOffsetPs"]))
    assert len(profile["bfc_cpu_allocator_for_gpu"]["memoryProfileSnapshots"]) < len(snaps) < 1000
    fields = {"heap allocated": "heapAllocatedBytes", "stack reserved": "stackReservedBytes", "free": "freeMemoryBytes"}
    assert [s.label for s in t.series] == [f"allocator bfc_cpu_allocator_for_gpu {f}" for f in fields]
    for sid, series in enumerate(t.series):
        mine = t.counter_series == sid
        assert t.counter_value[mine].tolist() == [float(s["aggregationStats"].get(fields[series.field], 0)) for s in snaps]
        shift = t.counter_ts_ns[mine] - np.array([int(s["timeOffsetPs"]) // 1000 for s in snaps])
        assert len(set(shift.tolist())) == 1 and 0 <= shift[0] < 10**6  # the host line's timestamp
