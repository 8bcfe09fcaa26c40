"""Cost of the always-on telemetry (a `step` event per step + the 10 Hz sampler) on the convnet.

One process per framework (like a worker). Blocks of steps alternate between the bare loop
(time each step, nothing else) and the app's loop (`profilers.loop._timed_steps`, emitting every
step as a JSON line to a pipe that another process drains, as the controller does, with the
sampler thread running).
The cost is the ratio of wall time per step over whole blocks, so the time spent emitting
(which happens outside each step's timer) is counted too; the figure is the median of the
ratios of adjacent block pairs, with a bootstrap 95 % interval.

    python -m bench.telemetry_overhead --framework torch     # prints one JSON line
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", required=True)
    parser.add_argument("--blocks", type=int, default=30)
    parser.add_argument("--block-steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    from profilers.isolation import block_other_frameworks, configure_environment
    configure_environment(args.framework, "cpu")
    block_other_frameworks(args.framework)
    from profilers.loop import _timed_steps
    from profilers.protocol import EventWriter
    from profilers.samplers import NvmlReader, Sampler
    from workloads import data, registry
    from workloads.spec import RunSpec

    spec = RunSpec(framework=args.framework, workload="convnet", batch_size=args.batch_size, device="cpu").resolved()
    config = registry.model_config("convnet")
    prepared = registry.backend(args.framework).prepare(spec, config, data.batch_pool("digits", config, spec.batch_size, 0), None)
    prepared.compile()
    for i in range(20):
        prepared.step(i)

    # The events go down a pipe to another process, as they go to the controller in the app (a
    # reader thread in this process would compete for the GIL and charge the app for the bench).
    read_fd, write_fd = os.pipe()
    drain = subprocess.Popen(["cat"], stdin=read_fd, stdout=subprocess.DEVNULL)
    os.close(read_fd)
    writer = EventWriter(write_fd)

    def bare(first: int, count: int) -> None:
        for i in range(first, first + count):
            t0 = time.perf_counter()
            prepared.step(i)
            _ = time.perf_counter() - t0

    direct = {"emit_s": 0.0, "sampler_cpu_s": 0.0, "steps": 0}

    class TimedSampler(Sampler):
        def run(self) -> None:
            start = time.thread_time()
            super().run()
            direct["sampler_cpu_s"] += time.thread_time() - start

    def timed_emit(kind: str, /, **fields: object) -> None:
        start = time.thread_time()  # CPU time of this thread: waits for the GIL are not the emit's cost
        writer.emit(kind, **fields)
        direct["emit_s"] += time.thread_time() - start

    nvml = NvmlReader()  # once, as in a worker: probing NVML per block would be the bench's cost, not the app's

    def telemetry(first: int, count: int) -> None:
        sampler = TimedSampler(writer.emit, nvml=nvml)
        sampler.attach_device_memory(prepared.device_memory)
        sampler.start()
        try:
            _timed_steps(prepared, timed_emit, "measure", first, count, spec.batch_size)
        finally:
            sampler.stop()
            sampler.close()
        direct["steps"] += count

    per_step = {"bare": [], "telemetry": []}
    index = 100
    for block in range(args.blocks):
        order = ("bare", "telemetry") if block % 2 == 0 else ("telemetry", "bare")
        for name in order:
            t0 = time.perf_counter()
            (bare if name == "bare" else telemetry)(index, args.block_steps)
            per_step[name].append((time.perf_counter() - t0) * 1000 / args.block_steps)
            index += args.block_steps
    os.close(write_fd)
    drain.wait(timeout=10)
    bare_ms = float(np.median(per_step["bare"]))
    tel_ms = float(np.median(per_step["telemetry"]))
    # Step times drift by ±10 % over seconds on a 2-vCPU machine; adjacent blocks share the drift,
    # so the estimate is the median of each pair's ratio, with a bootstrap interval over the pairs.
    pairs = np.array(per_step["telemetry"]) / np.array(per_step["bare"])
    rng = np.random.default_rng(0)
    boot = np.median(pairs[rng.integers(0, len(pairs), size=(2000, len(pairs)))], axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    print(json.dumps({"framework": args.framework, "variant": spec.variant, "batch_size": spec.batch_size,
                      "blocks": args.blocks, "block_steps": args.block_steps,
                      "bare_ms_per_step": round(bare_ms, 4), "telemetry_ms_per_step": round(tel_ms, 4),
                      "overhead_ratio": round(float(np.median(pairs)), 5),
                      "overhead_ratio_ci95": [round(float(low), 5), round(float(high), 5)],
                      # The telemetry's own cost, resolvable where the wall-time ratio is not: time in
                      # emit() on the step thread plus the sampler thread's CPU time, per step.
                      "direct_us_per_step": round((direct["emit_s"] + direct["sampler_cpu_s"]) / direct["steps"] * 1e6, 2),
                      "direct_fraction": round((direct["emit_s"] + direct["sampler_cpu_s"]) / direct["steps"] / (tel_ms / 1000), 6)}))


if __name__ == "__main__":
    main()
