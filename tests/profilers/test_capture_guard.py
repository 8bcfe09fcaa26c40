"""The capture size guard's decisions and the artifact checks, without a framework: real trace files
(tests/data/traces, written by real profilers) whole, cut off, emptied or capped, and the session's ingest
of them."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from profilers.artifact_checks import PROTOBUF_MAX_BYTES, artifact_problem, count_chrome, count_xplane
from profilers.capture_guard import (
    BYTE_LIMIT_ENV,
    CUPTI_BUFFER_BYTES,
    EVENT_LIMIT_ENV,
    Footprint,
    Limit,
    could_reach,
    decide,
    limits_for,
)
from profilers.hooks import Artifact
from sessions.store import Session
from sessions.traces import ingest_result
from traces.readers import read_trace

TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"
CAP = Limit("a cap", "chrome_events", 1000, "the profiler drops events")


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TF_PROFILER_TRACE_VIEWER_MAX_EVENTS", EVENT_LIMIT_ENV, BYTE_LIMIT_ENV):
        monkeypatch.delenv(name, raising=False)


# -- decisions -------------------------------------------------------------------------------------------
def test_a_window_that_fits_is_kept() -> None:
    decision = decide(2, Footprint(steps=1, chrome_events=300), [CAP], "shrink")
    assert (decision.action, decision.steps, decision.estimate) == ("fits", 2, 600)


def test_a_window_past_the_limit_shrinks_to_what_fits_under_the_margin() -> None:
    decision = decide(10, Footprint(steps=1, chrome_events=300), [CAP], "shrink")
    # 10 x 300 = 3000 > 1000; 80 % of 1000 holds 800 // 300 = 2 steps
    assert (decision.action, decision.steps_requested, decision.steps, decision.estimate) == ("shrunk", 10, 2, 3000)
    assert decision.message.endswith("the window was shrunk to 2 steps")


def test_warn_keeps_the_full_window_and_says_so() -> None:
    decision = decide(10, Footprint(steps=1, chrome_events=300), [CAP], "warn")
    assert (decision.action, decision.steps) == ("warned", 10)
    assert "--trace-guard warn" in decision.message


def test_a_step_alone_past_the_limit_means_no_window() -> None:
    decision = decide(3, Footprint(steps=1, chrome_events=900), [CAP], "shrink")
    assert (decision.action, decision.steps) == ("no-window", 0)


def test_the_tightest_limit_decides() -> None:
    tight = Limit("tight", "xplane_bytes", 5 * 10**8, "x")
    per_step = Footprint(steps=2, chrome_events=200, xplane_bytes=2 * 10**8)  # 100 events, 1e8 bytes a step
    decision = decide(20, per_step, [CAP, tight], "shrink")
    # events: 2,000 of 1,000 fit 800 // 100 = 8 steps; bytes: 2e9 of 5e8 fit 4e8 // 1e8 = 4 steps
    assert (decision.steps, decision.limit, decision.estimate) == (4, tight, 2 * 10**9)


def test_the_limits_of_each_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    named = {(lim.measure, lim.value) for lim in limits_for("jax", "cpu")}
    assert named == {("chrome_events", 1_000_000), ("xplane_events", 5_000_000), ("xplane_bytes", PROTOBUF_MAX_BYTES)}
    assert {(lim.measure, lim.value) for lim in limits_for("tf", "gpu")} == {("xplane_events", 5_000_000),
                                                                           ("xplane_bytes", 2**31 - 1)}
    assert limits_for("torch", "cpu") == []  # torch.profiler's Chrome export has no cap: nothing to size
    (cupti,) = limits_for("torch", "gpu")
    assert (cupti.measure, cupti.value) == ("device_records", CUPTI_BUFFER_BYTES // 200)
    monkeypatch.setenv("TF_PROFILER_TRACE_VIEWER_MAX_EVENTS", "500")  # tsl's own knob moves both event caps
    assert {lim.value for lim in limits_for("jax", "cpu") if lim.measure.endswith("events")} == {500}
    monkeypatch.setenv(EVENT_LIMIT_ENV, "70")
    monkeypatch.setenv(BYTE_LIMIT_ENV, "9000")
    assert {(lim.measure, lim.value) for lim in limits_for("torch", "cpu")} == {("events", 70), ("artifact_bytes", 9000)}


def test_a_window_too_short_to_reach_a_limit_is_not_sized() -> None:
    limits = limits_for("jax", "cpu")
    assert not could_reach(limits, 0.05)  # 50 ms at 10 M events/s: 500 k, under 80 % of 1 M
    assert could_reach(limits, 0.2)


# -- artifact checks -------------------------------------------------------------------------------------
def _copy(tmp_path: Path, name: str, as_name: str | None = None, plain: bool = False) -> Path:
    target = tmp_path / (as_name or name)
    if plain:
        target.write_bytes(gzip.decompress((TRACES / name).read_bytes()))
    else:
        shutil.copyfile(TRACES / name, target)
    return target


def test_whole_traces_pass_and_both_counters_agree_on_one_capture(tmp_path: Path) -> None:
    xplane = _copy(tmp_path, "jax_mlp.xplane.pb.gz")
    chrome = _copy(tmp_path, "jax_mlp.trace.json.gz")
    plain = _copy(tmp_path, "jax_mlp.xplane.pb.gz", "h.xplane.pb", plain=True)
    torch_trace = _copy(tmp_path, "torch_convnet.trace.json.gz")
    assert [artifact_problem("xplane", xplane), artifact_problem("xplane", plain),
            artifact_problem("chrome-trace", chrome), artifact_problem("chrome-trace", torch_trace)] == [None] * 4
    # jax wrote both files from one XSpace: every XEvent is one complete event of its Chrome trace
    assert count_xplane(plain) == count_xplane(xplane) == count_chrome(chrome).events > 100


def test_a_zero_byte_xplane_names_protobufs_limit(tmp_path: Path) -> None:
    empty = tmp_path / "host.xplane.pb"
    empty.touch()
    problem = artifact_problem("xplane", empty)
    assert problem is not None and "is 0 bytes" in problem and "over 2 GiB" in problem and "reports success" in problem
    empty_json = tmp_path / "t.json"
    empty_json.touch()
    assert artifact_problem("chrome-trace", empty_json) == f"{empty_json} is 0 bytes: the profiler wrote no events"


def test_a_truncated_gzip_is_named(tmp_path: Path) -> None:
    whole = (TRACES / "torch_convnet.trace.json.gz").read_bytes()
    cut = tmp_path / "torch.trace.json.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    assert "is a truncated gzip (no end-of-stream marker)" in (artifact_problem("chrome-trace", cut) or "")


def test_a_chrome_json_cut_mid_array_is_named(tmp_path: Path) -> None:
    text = gzip.decompress((TRACES / "torch_convnet.trace.json.gz").read_bytes())
    cut = text[: int(len(text) * 0.6)]
    plain, zipped = tmp_path / "t.json", tmp_path / "t.json.gz"
    plain.write_bytes(cut)
    zipped.write_bytes(gzip.compress(cut))  # a whole gzip of a cut-off export
    for path in (plain, zipped):
        assert "ends mid-JSON (no closing bracket)" in (artifact_problem("chrome-trace", path) or ""), path


def test_a_cut_off_xplane_is_named(tmp_path: Path) -> None:
    data = gzip.decompress((TRACES / "jax_mlp.xplane.pb.gz").read_bytes())
    cut = tmp_path / "h.xplane.pb"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    problem = artifact_problem("xplane", cut) or ""
    assert "is not a whole XPlane (field 1 runs past the end)" in problem
    with pytest.raises(ValueError, match="runs past the end"):
        count_xplane(cut)
    zipped = (TRACES / "jax_mlp.xplane.pb.gz").read_bytes()
    cut_gzip = tmp_path / "h.xplane.pb.gz"
    cut_gzip.write_bytes(zipped[: len(zipped) // 2])
    assert "is not a whole XPlane: it is a truncated gzip file" in (artifact_problem("xplane", cut_gzip) or "")
    whole_gzip = tmp_path / "unnamed.xplane.pb"  # gzipped without the .gz ending: known by its bytes
    whole_gzip.write_bytes(zipped)
    assert artifact_problem("xplane", whole_gzip) is None


def test_an_xplane_of_2_gib_is_named(tmp_path: Path) -> None:
    huge = tmp_path / "h.xplane.pb"
    with open(huge, "wb") as f:
        f.truncate(PROTOBUF_MAX_BYTES)  # sparse: no disk used
    assert "at or over protobuf's 2 GiB message limit" in (artifact_problem("xplane", huge) or "")


def test_a_chrome_trace_at_the_converters_cap_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chrome = _copy(tmp_path, "jax_mlp.trace.json.gz")
    events = count_chrome(chrome).events
    monkeypatch.setenv("TF_PROFILER_TRACE_VIEWER_MAX_EVENTS", str(events + 1))
    assert artifact_problem("chrome-trace", chrome) is None
    monkeypatch.setenv("TF_PROFILER_TRACE_VIEWER_MAX_EVENTS", str(events))  # what a capped file holds: exactly the cap
    problem = artifact_problem("chrome-trace", chrome) or ""
    assert f"holds {events:,} events, the cap" in problem and "later events were dropped" in problem


# -- the session's ingest ----------------------------------------------------------------------------------
def _result(run_id: str, artifacts: list[Artifact]) -> SimpleNamespace:
    summary = {"artifacts": [{"kind": a.kind, "path": str(a.path), "bytes": a.size} for a in artifacts], "framework": "jax"}
    return SimpleNamespace(status="ok", summary=summary, spec=SimpleNamespace(framework="jax"), run_id=run_id)


def test_ingest_passes_over_a_damaged_file_and_says_why_when_none_is_left(tmp_path: Path) -> None:
    session = tmp_path / "s.stepscope"
    with Session.create_or_open(session) as store:
        for run_id in ("r1", "r2"):
            store.begin_run(run_id, {"framework": "jax"})
    empty = tmp_path / "host.xplane.pb"
    empty.touch()
    chrome = _copy(tmp_path, "jax_mlp.trace.json.gz")
    count, problem = ingest_result(session, _result("r1", [Artifact("xplane", empty), Artifact("chrome-trace", chrome)]))
    assert problem is None and count == len(read_trace(chrome, framework="jax"))  # the XPlane is preferred, but empty
    count, problem = ingest_result(session, _result("r2", [Artifact("xplane", empty)]))
    assert count is None and problem is not None
    assert problem.startswith(f"run r2: {empty} is 0 bytes: the profiler could not serialize its XSpace")
