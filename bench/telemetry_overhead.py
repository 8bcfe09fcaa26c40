"""Cost of the always-on telemetry on the convnet, modelled as the app runs it.

One process per framework (like a worker). Blocks of steps alternate between the bare loop
(time each step, nothing else) and the app's loop (`profilers.loop._timed_steps`, writing every
step as a JSON line to a pipe, plus the worker's `DeviceSampler` where the framework reports
allocator figures). The pipe is read by a controller stand-in (`bench.telemetry_controller`:
validates each line and samples this process's RSS and CPU with the app's `HostMonitor`, from
outside), which is frozen with SIGSTOP during the bare blocks so they run with no telemetry at all.
The cost is the ratio of wall time per step over whole blocks, so the time spent emitting
(which happens outside each step's timer) is counted too; the figure is the median of the
ratios of adjacent block pairs, with a bootstrap 95 % interval.

    python -m bench.telemetry_overhead --framework torch     # prints one JSON line
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", required=True)
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--aa", action="store_true",
                        help="A/A calibration: both arms run the bare loop, so the ratio shows the bench's own noise")
    parser.add_argument("--block-steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    from profilers.isolation import block_other_frameworks, configure_environment
    configure_environment(args.framework, "cpu")
    block_other_frameworks(args.framework)
    from profilers.loop import _timed_steps
    from profilers.protocol import EventWriter
    from profilers.samplers import DeviceSampler
    from workloads import data, registry
    from workloads.spec import RunSpec

    spec = RunSpec(framework=args.framework, workload="convnet", batch_size=args.batch_size, device="cpu").resolved()
    config = registry.model_config("convnet")
    prepared = registry.backend(args.framework).prepare(spec, config, data.batch_pool("digits", config, spec.batch_size, 0), None)
    prepared.compile()
    for i in range(20):
        prepared.step(i)
    with_device_sampler = prepared.device_memory() is not None  # as the worker decides

    # The events go down a pipe to another process, as they go to the controller in the app.
    read_fd, write_fd = os.pipe()
    controller = subprocess.Popen([sys.executable, "-m", "bench.telemetry_controller", str(os.getpid())],
                                  stdin=read_fd, stdout=subprocess.PIPE, text=True)
    os.close(read_fd)
    writer = EventWriter(write_fd)
    time.sleep(1.0)  # let it import before it is first frozen
    controller.send_signal(signal.SIGSTOP)

    def bare(first: int, count: int) -> None:
        for i in range(first, first + count):
            t0 = time.perf_counter()
            prepared.step(i)
            _ = time.perf_counter() - t0

    direct = {"emit_s": 0.0, "sampler_cpu_s": 0.0, "steps": 0}

    class TimedSampler(DeviceSampler):
        def run(self) -> None:
            start = time.thread_time()
            super().run()
            direct["sampler_cpu_s"] += time.thread_time() - start

    def timed_emit(kind: str, /, **fields: object) -> None:
        start = time.thread_time()  # CPU time of this thread: waits for the GIL are not the emit's cost
        writer.emit(kind, **fields)
        direct["emit_s"] += time.thread_time() - start

    def telemetry(first: int, count: int) -> None:
        controller.send_signal(signal.SIGCONT)
        sampler = TimedSampler(writer.emit, prepared.device_memory) if with_device_sampler else None
        if sampler is not None:
            sampler.start()
        try:
            _timed_steps(prepared, timed_emit, "measure", first, count, spec.batch_size)
        finally:
            if sampler is not None:
                sampler.stop()
            controller.send_signal(signal.SIGSTOP)
        direct["steps"] += count

    per_step = {"bare": [], "telemetry": []}
    index = 100
    for block in range(args.blocks):
        order = ("bare", "telemetry") if block % 2 == 0 else ("telemetry", "bare")
        for name in order:
            t0 = time.perf_counter()
            (bare if name == "bare" or args.aa else telemetry)(index, args.block_steps)
            per_step[name].append((time.perf_counter() - t0) * 1000 / args.block_steps)
            index += args.block_steps
    controller.send_signal(signal.SIGCONT)
    os.close(write_fd)
    controller_stats = json.loads(controller.communicate(timeout=30)[0].strip().splitlines()[-1])
    bare_ms = float(np.median(per_step["bare"]))
    tel_ms = float(np.median(per_step["telemetry"]))
    # Step times drift by ±10 % over seconds on a 2-vCPU machine; adjacent blocks share the drift,
    # so the estimate is the median of each pair's ratio, with a bootstrap interval over the pairs.
    direct_s = direct["emit_s"] + direct["sampler_cpu_s"] + controller_stats["cpu_s"]
    pairs = np.array(per_step["telemetry"]) / np.array(per_step["bare"])
    rng = np.random.default_rng(0)
    boot = np.median(pairs[rng.integers(0, len(pairs), size=(2000, len(pairs)))], axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    print(json.dumps({"framework": args.framework, "variant": spec.variant, "batch_size": spec.batch_size,
                      "blocks": args.blocks, "block_steps": args.block_steps, "aa": args.aa,
                      "bare_ms_per_step": round(bare_ms, 4), "telemetry_ms_per_step": round(tel_ms, 4),
                      "overhead_ratio": round(float(np.median(pairs)), 5),
                      "overhead_ratio_ci95": [round(float(low), 5), round(float(high), 5)],
                      "device_sampler": with_device_sampler,
                      # The telemetry's own cost, resolvable where the wall-time ratio is not: time in
                      # emit() on the step thread, the device sampler's CPU time, and the controller's
                      # CPU time (reading the lines, sampling this process), per step.
                      "worker_us_per_step": round((direct["emit_s"] + direct["sampler_cpu_s"])
                                                  / max(direct["steps"], 1) * 1e6, 2),
                      "controller_us_per_step": round(controller_stats["cpu_s"] / max(direct["steps"], 1) * 1e6, 2),
                      "controller_samples": controller_stats["samples"],
                      "direct_us_per_step": round(direct_s / max(direct["steps"], 1) * 1e6, 2),
                      "direct_fraction": round(direct_s / max(direct["steps"], 1) / (tel_ms / 1000), 6)}))


if __name__ == "__main__":
    main()
