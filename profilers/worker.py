"""The worker: one fresh interpreter per run, holding exactly one framework.

    python -m profilers.worker --spec-json '{"framework": "torch", ...}' --out-dir DIR

It claims stdout for the event protocol (the event stream, docs/architecture.md) before anything else, so native
libraries' prints go to stderr (the run log). Any failure becomes an `error` event with a
message a person can act on, then a non-zero exit; SIGTERM (cancel) stops the trace cleanly.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from profilers.protocol import PROTOCOL_VERSION, EventWriter, claim_protocol_channel

if TYPE_CHECKING:  # workloads are imported in run(), after the framework isolation is set up
    from workloads.base import PreparedRun

EXIT_FAILED = 1
EXIT_CANCELLED = 3


class Cancelled(BaseException):
    """Raised in the main thread by SIGTERM so `finally` blocks (profiler stop) still run."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Cancelled()


def host_info() -> dict[str, object]:
    import psutil

    return {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
    }


def _hint(exc: BaseException) -> str:
    """A sentence for the failures people actually hit, in front of the exception text."""
    text = f"{type(exc).__name__}: {exc}"
    lowered = text.lower()
    if "out of memory" in lowered or isinstance(exc, MemoryError) or "resource_exhausted" in lowered:
        return f"the device ran out of memory; lower --batch-size. ({text})"
    return text


def run(spec_json: str, out_dir: Path, writer: EventWriter) -> None:
    from profilers.isolation import block_other_frameworks, configure_environment, loaded_frameworks
    from workloads.spec import RunSpec

    spec = RunSpec.from_dict(json.loads(spec_json)).resolved()
    configure_environment(spec.framework, spec.device)
    block_other_frameworks(spec.framework)

    from profilers.capture_windows import ControlReader
    from profilers.loop import run_workload
    from profilers.samplers import DeviceSampler, peak_rss
    from profilers.summary import measured_cpu_percent, summarize
    from workloads import data, registry
    from workloads.configs import scaled

    events: list[dict[str, object]] = []

    def emit(kind: str, /, **fields: object) -> None:
        events.append({"type": kind, **fields})
        writer.emit(kind, **fields)

    # Host RSS and CPU % are sampled by the controller from outside (profilers.host_monitor).
    device_sampler: DeviceSampler | None = None
    try:
        config = scaled(registry.model_config(spec.workload), spec.model_scale)
        train = None if spec.data == "synthetic" else data.training_split(spec.data, config, spec.data_size, spec.seed)
        pool = data.batch_pool(spec.data, config, spec.batch_size, spec.seed) if train is None else (
            data.split_pool(train, spec.batch_size, spec.seed))
        eval_split = data.real_split(spec.data, config) if spec.mode == "train" and spec.evaluate else None
        prepared = registry.backend(spec.framework).prepare(spec, config, pool, eval_split)
        emit(
            "hello", protocol=PROTOCOL_VERSION, framework=spec.framework,
            framework_version=prepared.framework_version, device_kind=prepared.device.kind,
            device_name=prepared.device.name, host=host_info(), spec=spec.to_dict(),
            param_count=prepared.param_count, pid=os.getpid(), frameworks_loaded=loaded_frameworks(),
        )
        if _reports_device_memory(prepared):  # the allocator keeps figures here: sample them
            device_sampler = DeviceSampler(emit, prepared.device_memory)
            device_sampler.start()
        hooks = __import__(f"profilers.{spec.framework}_hooks", fromlist=["make_hook"])
        out_dir.mkdir(parents=True, exist_ok=True)
        requests = ControlReader(sys.stdin.fileno(), emit).start()  # captures on demand (docs/capture.md)
        run_workload(spec, prepared, emit, config, eval_split, hooks.make_hook, out_dir, train, requests)
    finally:
        if device_sampler is not None:
            device_sampler.stop()
            try:
                device_sampler.sample_once()  # the figures after the last step
            except OSError:
                pass  # the controller stopped listening; the run's own outcome matters more
    summary = summarize(events)
    peak = peak_rss()
    summary["peak_host_mb"] = round(peak / (1024 * 1024), 1) if peak else None  # None: the controller's samples say
    summary["frameworks_loaded"] = loaded_frameworks()
    summary["measure_cpu_percent"] = measured_cpu_percent(events)
    writer.emit("summary", summary=summary)


def _reports_device_memory(prepared: PreparedRun) -> bool:
    """Whether the framework's allocator gives figures on this device; a failing query means no."""
    try:
        return prepared.device_memory() is not None
    except Exception as exc:
        print(f"stepscope worker: device memory not sampled ({type(exc).__name__}: {exc})", file=sys.stderr)
        return False


def main(argv: list[str] | None = None) -> int:
    channel = claim_protocol_channel()
    writer = EventWriter(channel)
    parser = argparse.ArgumentParser(prog="python -m profilers.worker")
    parser.add_argument("--spec-json", required=True, help="the RunSpec as a JSON object")
    parser.add_argument("--out-dir", required=True, type=Path, help="where profiler artifacts go")
    parser.add_argument("--clock-origin", type=float, default=None,
                        help="time.perf_counter() at which the controller started this worker: events' t counts from it, "
                             "so the controller's samples and the worker's events share one clock")
    args = parser.parse_args(argv)
    if args.clock_origin is not None:
        writer = EventWriter(channel, clock_start=args.clock_origin)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        run(args.spec_json, args.out_dir, writer)
        return 0
    except Cancelled:
        print("stepscope worker: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except BaseException as exc:  # every failure becomes an event the controller can show
        traceback.print_exc()
        try:
            writer.emit("error", message=_hint(exc), exc_type=type(exc).__name__, traceback=traceback.format_exc())
        except OSError:
            pass
        return EXIT_FAILED
    finally:
        sys.stderr.flush()


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # skip framework atexit handlers that can hang after a cancelled run
