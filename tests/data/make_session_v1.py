"""Writes tests/data/session-v1.stepscope: three fake-but-well-formed runs (no framework runs;
this is test data, not a measurement) in session schema v1.

The committed file is the fixture that proves v1 sessions keep opening; it is never
regenerated with a newer schema, so this script refuses to run once SCHEMA_VERSION moves on.

    .venv/bin/python tests/data/make_session_v1.py
"""
from __future__ import annotations

import gzip
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from profilers.summary import summarize  # noqa: E402 (after the sys.path line: runs as a script)
from sessions import schema  # noqa: E402 (after the sys.path line: runs as a script)
from sessions.store import Session  # noqa: E402 (after the sys.path line: runs as a script)

TARGET = Path(__file__).with_name("session-v1.stepscope")
HOST = {"hostname": "fixture-host", "os": "Linux 6.1", "python": "3.11.9", "cpu": "x86_64", "cpu_count": 2,
        "memory_bytes": 8 << 30}


def spec(framework: str, workload: str, variant: str, steps: int) -> dict[str, Any]:
    return {"framework": framework, "workload": workload, "mode": "train", "variant": variant, "batch_size": 32,
            "steps": steps, "warmup": 2, "trace_steps": 2, "device": "cpu", "data": "digits", "seed": 0,
            "learning_rate": 0.001, "dtype": "float32", "with_stack": False, "evaluate": True, "extra": {}}


def events(run_spec: dict[str, Any], version: str, artifacts: list[tuple[str, Path]], fail: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"type": "hello", "t": 0.5, "protocol": 1, "framework": run_spec["framework"], "framework_version": version,
         "device_kind": "cpu", "device_name": "cpu (AVX2)", "host": HOST, "spec": run_spec, "param_count": 804554,
         "pid": 4242, "frameworks_loaded": [run_spec["framework"]]},
        {"type": "phase", "t": 0.6, "name": "compile", "edge": "start"},
        {"type": "compile", "t": 1.6, "ms": 1000.0, "what": f"{run_spec['framework']} {run_spec['variant']}: first call"},
        {"type": "phase", "t": 1.6, "name": "compile", "edge": "end"},
    ]
    t, index = 1.6, 0
    plan = [("warmup", 2), ("measure", run_spec["steps"] // (2 if fail else 1))] + ([] if fail else [("trace", 2)])
    for phase, count in plan:
        out.append({"type": "phase", "t": t, "name": phase, "edge": "start"})
        for _ in range(count):
            t += 0.03
            out.append({"type": "step", "t": round(t, 6), "index": index, "phase": phase, "step_ms": 30.0 + index % 3,
                        "samples_per_s": 32000.0 / (30.0 + index % 3), "loss": None if phase == "trace" else 2.3 / (1 + index)})
            if index % 2 == 0:
                out.append({"type": "sample", "t": round(t, 6), "host_rss": (500 << 20) + index * 4096,
                            "cpu_percent": 180.0, "device_in_use": None, "device_peak": None,
                            "device_memory_source": None, "gpu_util": None, "gpu_mem_used": None})
            index += 1
        out.append({"type": "phase", "t": t, "name": phase, "edge": "end"})
    if fail:
        out.append({"type": "error", "t": t, "message": "the loss became NaN at step 7; lower the learning rate",
                    "exc_type": "FloatingPointError", "traceback": "Traceback (most recent call last): ..."})
        return out
    for kind, path in artifacts:
        out.append({"type": "artifact", "t": t, "kind": kind, "path": str(path), "bytes": path.stat().st_size})
    out += [{"type": "phase", "t": t, "name": "eval", "edge": "start"},
            {"type": "eval", "t": t + 0.2, "accuracy": 0.8, "macro_f1": 0.78, "loss": 0.61, "samples": 360},
            {"type": "phase", "t": t + 0.2, "name": "eval", "edge": "end"}]
    out.append({"type": "summary", "t": t + 0.3, "summary": summarize(out)})
    return out


def main() -> None:
    if schema.SCHEMA_VERSION != 1:
        sys.exit(f"the session schema is v{schema.SCHEMA_VERSION}; session-v1.stepscope is a frozen fixture, keep it")
    for stale in (TARGET, TARGET.with_name(TARGET.name + "-wal"), TARGET.with_name(TARGET.name + "-shm")):
        stale.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "torch.trace.json.gz"
        ops = [{"name": "aten::conv2d", "ph": "X", "ts": 10 * i, "dur": 8, "pid": 1, "tid": 1} for i in range(50)]
        trace.write_bytes(gzip.compress(json.dumps({"traceEvents": ops}).encode(), mtime=0))
        xplane = Path(tmp) / "host.xplane.pb"
        xplane.write_bytes(b"\x0a\x04host" + b"\x12\x08op-stats" * 200)
        with Session.create_or_open(TARGET) as session:
            for run_id, framework, workload, variant, version, fail in (
                ("20250101-120000-aaaaaa", "torch", "convnet", "eager", "2.13.0+cpu", False),
                ("20250101-120100-bbbbbb", "jax", "mlp", "compiled", "0.10.2", True),
                ("20250101-120200-cccccc", "tf", "convnet", "xla", "2.21.0", False),
            ):
                run_spec = spec(framework, workload, variant, 12)
                stream = events(run_spec, version, [("chrome-trace", trace), ("xplane", xplane)], fail)
                session.begin_run(run_id, run_spec)
                if framework == "tf":  # interrupted: the writer (this script) goes away mid-run
                    session.append_events(run_id, stream[:12])
                    continue
                for start in range(0, len(stream), 10):
                    session.append_events(run_id, stream[start:start + 10])
                result = summarize(stream)
                session.finish_run(run_id, "failed" if fail else "ok",
                                   stream[-1]["message"] if fail else None, result,
                                   f"{framework} worker log line 1\nline 2\n")
    conn = sqlite3.connect(TARGET, isolation_level=None)  # small pages keep the fixture small
    for pragma in ("journal_mode = DELETE", "page_size = 1024", "journal_mode = WAL"):
        conn.execute(f"PRAGMA {pragma}")
        if pragma.startswith("page_size"):
            conn.execute("VACUUM")
    conn.close()
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
