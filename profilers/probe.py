"""The compatibility probe: a fresh interpreter that imports one framework, lists the devices
it sees, and (unless --quick) runs every workload x variant x mode x device for one tiny step.

    python -m profilers.probe --framework tf [--quick] [--modes train,infer] [--devices auto|all]
        [--workloads mlp,...]

Writes JSON lines on the protocol channel: {"check": "import", ...}, {"check": "devices", ...},
then one {"check": "run", "workload", "variant", "mode", "device", "ok", "ms" | "error"} per
combination. `--devices auto` (the default) runs each on the framework's default device (`device`:
the kind it ran on); `all` on the CPU and, where the framework sees one, on the GPU too.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

from profilers.isolation import block_other_frameworks, configure_environment
from profilers.protocol import claim_protocol_channel

IMPORT_NAMES = {"jax": "jax", "torch": "torch", "tf": "tensorflow"}

# Sends one record (see the module docstring for the three kinds) to whoever started the probe.
Write = Callable[[dict[str, Any]], None]


def _devices(framework: str, module: ModuleType) -> list[str]:
    """The devices `module` (the framework, imported by name) sees, as short readable names."""
    if framework == "jax":
        return [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in module.devices()]
    if framework == "torch":
        names = ["cpu"]
        cuda = module.cuda
        names += [f"cuda:{i} {cuda.get_device_name(i)}" for i in range(cuda.device_count())] if cuda.is_available() else []
        return names
    return [d.name.replace("/physical_device:", "") for d in module.config.list_physical_devices()]


def _has_gpu(devices: list[str]) -> bool:
    return any(word in name.lower() for name in devices for word in ("gpu", "cuda"))


def probe(framework: str, quick: bool, write: Write, modes: tuple[str, ...] = ("train",), devices: str = "auto",
          workloads: tuple[str, ...] = ()) -> None:
    """Run the checks for `framework`; every failure becomes a record, so the caller hears of it."""
    configure_environment(framework, "auto")
    block_other_frameworks(framework)
    t0 = time.perf_counter()
    try:
        module = __import__(IMPORT_NAMES[framework])
    except Exception as exc:
        write({"check": "import", "ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    write({"check": "import", "ok": True, "version": getattr(module, "__version__", "?"),
           "ms": (time.perf_counter() - t0) * 1000})
    seen = _devices(framework, module)
    write({"check": "devices", "devices": seen})
    if quick:
        return
    from workloads import data, registry
    from workloads.spec import VARIANTS, RunSpec

    backend = registry.backend(framework)
    targets = ["auto"] if devices == "auto" else ["cpu"] + (["gpu"] if _has_gpu(seen) else [])
    for workload in workloads or registry.WORKLOADS:
        config = registry.model_config(workload)
        for variant in VARIANTS[framework]:
            for mode in modes:
                for device in targets:
                    spec = RunSpec(framework=framework, workload=workload, mode=mode, variant=variant, batch_size=2,
                                   steps=1, warmup=0, trace_steps=0, device=device, data="synthetic",
                                   evaluate=False).resolved()
                    cell = {"check": "run", "workload": workload, "variant": variant, "mode": mode,
                            "device": "gpu" if device == "gpu" else "cpu"}
                    t1 = time.perf_counter()
                    try:
                        prepared = backend.prepare(spec, config, data.batch_pool("synthetic", config, 2, 0), None)
                        cell["device"] = prepared.device.kind
                        prepared.compile()
                        loss = prepared.step(0)
                        ok = loss == loss  # NaN fails the check
                        write({**cell, "ok": ok, "ms": (time.perf_counter() - t1) * 1000,
                               "error": None if ok else "loss is NaN"})
                    except Exception as exc:
                        traceback.print_exc()
                        write({**cell, "ok": False,
                               "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})


def main() -> int:
    channel = claim_protocol_channel()
    parser = argparse.ArgumentParser(prog="python -m profilers.probe")
    parser.add_argument("--framework", required=True, choices=sorted(IMPORT_NAMES))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--modes", default="train", help="comma list of train, infer")
    parser.add_argument("--devices", default="auto", choices=("auto", "all"))
    parser.add_argument("--workloads", default="", help="comma list (default: every workload)")
    args = parser.parse_args()

    def write(record: dict[str, Any]) -> None:
        os.write(channel, (json.dumps(record) + "\n").encode())

    probe(args.framework, args.quick, write, tuple(m for m in args.modes.split(",") if m), args.devices,
          tuple(w for w in args.workloads.split(",") if w))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)
