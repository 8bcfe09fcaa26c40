"""The training read for the compiled chunk step's profile-guided build (`scripts/build_ext.py`):
run with the instrumented `traces/chunk_scan`, it writes Chrome traces of the shapes
real profilers write and reads them with `traces.readers.read_trace`, so the compiler learns
which branches real reads take. Its own generator on purpose, not the bench's
(`bench/trace_reader.py`): the bench then measures a trace the profile never saw.

The shapes: Kineto's pretty-printed layout (PyTorch: CPU ops with input shapes, runtime calls,
kernels and memcpys with their launch arguments, ac2g flows, Python functions, instant and
counter events) and compact one-line events behind a process-name event (the JSON that xprof
writes for JAX and TensorFlow); timestamps as epoch µs with ns fractions and as relative µs
floats of up to 3 decimals; names with escapes and non-ASCII. Deterministic (a fixed seed),
~30 MB, a few seconds."""
from __future__ import annotations

import importlib
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = 60_000  # per layout


def _name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.6:
        return f"aten::{rng.choice(['addmm', 'mm', 'conv2d', 'relu', 'add_', 'copy_', 'empty', 'view'])}"
    if roll < 0.85:
        return (f"void at::native::vectorized_elementwise_kernel<{rng.randint(2, 8)}, at::native::CUDAFunctor_add<float>, "
                f"at::detail::Array<char*, {rng.randint(2, 4)}> >(int, at::native::CUDAFunctor_add<float>)")
    if roll < 0.95:
        return f"fusion.{rng.randint(0, 999)} = f32[{rng.randint(1, 512)},{rng.randint(1, 512)}]{{1,0}} add(\"p\\\\q\")"
    return f"nn.Module: Résumé_{rng.randint(0, 99)} 🚀"


def _ts(rng: random.Random, form: int, t: int) -> object:
    if form == 0:  # Kineto: epoch µs with a ns fraction
        return f"{1_697_051_443_000_000 + t // 1000}.{t % 1000:03d}"
    return round(t / 1000 + rng.random(), 3)  # relative µs, as xprof's trace viewer JSON has them


def _event(ph: str, cat: str, name: str, pid: int, tid: int, ts: object, dur: object, args: list[str], one_line: bool) -> str:
    """One event as Kineto's `ChromeTraceLogger` lays it out."""
    head = (f'  {{\n    "ph": "{ph}", "cat": "{cat}", "name": {json.dumps(name, ensure_ascii=False)}, "pid": {pid}, '
            f'"tid": {tid},\n    "ts": {ts}, "dur": {dur}')
    if not args:
        return head + "\n  }"
    body = ", ".join(args) if one_line else ",\n      ".join(args)
    return head + f',\n    "args": {{\n      {body}\n    }}\n  }}'


def _flow(ph: str, ident: int, pid: int, tid: int, ts: object) -> str:
    tail = ', "bp": "e"' if ph == "f" else ""
    return (f'  {{\n    "ph": "{ph}", "id": {ident}, "pid": {pid}, "tid": {tid}, "ts": {ts},\n'
            f'    "cat": "ac2g", "name": "ac2g"{tail}\n  }}')


def kineto_text(rng: random.Random, n: int) -> str:
    """About `n` events in Kineto's pretty-printed layout: groups of what a training step's
    launches write (CPU ops, the runtime call, its ac2g flow pair, the kernel or memcpy),
    Python functions, synchronisations, annotations, instant and counter events."""
    parts: list[str] = []
    t = gpu = 0
    pid, stream = rng.choice([(4242, 7), (1, 13)])
    form = rng.choice([0, 0, 1])
    while len(parts) < n:
        t += rng.randint(1_000, 30_000)
        kind = rng.choices(["launch", "memcpy", "python", "sync", "note"], [10, 2, 4, 1, 1])[0]
        corr = len(parts)
        if kind in ("launch", "memcpy"):
            for depth in range(rng.randint(1, 3)):
                parts.append(_event("X", "cpu_op", _name(rng), pid, pid, _ts(rng, form, t + 200 * depth),
                                    f"{rng.randint(5, 90)}.{rng.randint(0, 999):03d}",
                                    [f'"External id": {corr}', f'"Sequence number": {corr}', '"Fwd thread id": 0',
                                     '"Record function id": 0',
                                     f'"Input Dims": [[{rng.randint(1, 512)}, {rng.randint(1, 512)}], []]',
                                     '"Input type": ["float", ""]', '"Concrete Inputs": ["", "1"]', f'"Ev Idx": {corr}'], True))
            launch = _ts(rng, form, t + 1_000)
            runtime = "cudaLaunchKernel" if kind == "launch" else "cudaMemcpyAsync"
            parts.append(_event("X", rng.choice(["cuda_runtime", "Runtime"]), runtime, pid, pid, launch,
                                f"{rng.randint(2, 9)}.{rng.randint(0, 999):03d}",
                                [f'"External id": {corr}', f'"cbid": {rng.choice([211, 41])}', f'"correlation": {corr}'], False))
            parts.append(_flow("s", corr, pid, pid, launch))
            gpu = max(gpu, t + 20_000) + rng.randint(0, 3_000)
            at = _ts(rng, form, gpu)
            if kind == "launch":
                args = [f'"External id": {corr}', '"queued": 0', '"device": 0', '"context": 1', f'"stream": {stream}',
                        f'"correlation": {corr}', f'"registers per thread": {rng.randint(16, 255)}', '"shared memory": 0',
                        f'"blocks per SM": {rng.random() * 100:.6f}', f'"warps per SM": {rng.random() * 64:.6f}',
                        f'"grid": [{rng.randint(1, 4096)}, 1, 1]', f'"block": [{rng.choice([128, 256, 512])}, 1, 1]',
                        f'"est. achieved occupancy %": {rng.randint(0, 100)}']
                cat = rng.choice(["kernel", "kernel", "Kernel", "cuda_profiler_range"])
            else:
                args = [f'"External id": {corr}', '"device": 0', '"context": 1', f'"stream": {stream}',
                        f'"correlation": {corr}', f'"bytes": {rng.randint(4, 1 << 28)}',
                        f'"memory bandwidth (GB/s)": {rng.random() * 900:.6f}']
                cat = "gpu_memcpy"
            dur = rng.randint(1_000, 900_000)
            parts.append(_event("X", cat, _name(rng) if kind == "launch" else "Memcpy HtoD (Pageable -> Device)", 0, stream,
                                at, f"{dur // 1000}.{dur % 1000:03d}", args, False))
            parts.append(_flow("f", corr, 0, stream, at))
            gpu += dur
        elif kind == "python":
            parts.append(_event("X", "python_function", f"torch/nn/modules/module.py({rng.randint(1, 1600)}): _call_impl",
                                pid, pid, _ts(rng, form, t), f"{rng.randint(1, 999)}.{rng.randint(0, 999):03d}",
                                [f'"Python parent id": {corr - 1}', f'"Python id": {corr}', '"Python thread": 0'], False))
        elif kind == "sync":
            parts.append(_event("X", "cuda_runtime", "cudaStreamSynchronize", pid, pid, _ts(rng, form, t),
                                rng.randint(1, 99_999), ['"cbid": 131', f'"correlation": {corr}'], False))
        else:
            roll = rng.random()
            if roll < 0.4:
                parts.append(_event("X", "user_annotation", f"ProfilerStep#{corr}", pid, pid, _ts(rng, form, t),
                                    f"{rng.randint(1_000, 90_000)}.000", [f'"External id": {corr}'], False))
            elif roll < 0.7:
                parts.append(f'  {{\n    "ph": "i", "cat": "cpu_instant_event", "s": "t", "name": "[memory]", "pid": {pid}, '
                             f'"tid": {pid},\n    "ts": {_ts(rng, form, t)},\n    "args": {{\n      "Total Allocated": '
                             f'{rng.randint(0, 1 << 34)}, "Bytes": {rng.randint(-1 << 20, 1 << 20)}, "Device Id": 0'
                             '\n    }\n  }')
            else:
                parts.append(f'  {{\n    "ph": "C", "name": "GPU 0 Memory", "pid": 0, "tid": 0, "ts": {_ts(rng, form, t)},\n'
                             f'    "args": {{\n      "reserved": {rng.random() * 1e9:.1f}\n    }}\n  }}')
    return ",\n".join(parts)


def compact_events(rng: random.Random, n: int) -> list[dict[str, object]]:
    """`n` one-line events as xprof's trace viewer JSON writes them."""
    out: list[dict[str, object]] = [{"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "/device:TPU:0"}}]
    t = 0
    for k in range(n):
        t += rng.randint(100, 20_000)
        event: dict[str, object] = {"pid": rng.randint(1, 9), "tid": rng.randint(1, 40), "ts": _ts(rng, 1, t),
                                    "dur": round(rng.random() * 100, 3), "ph": "X", "name": _name(rng)}
        if rng.random() < 0.5:
            event["args"] = {"long_name": f"%fusion.{k} = f32[8]{{0}} fusion()", "hlo_op": f"fusion.{k}",
                             "hlo_module": "jit_step", "group_id": str(k // 50)}
        out.append(event)
    return out


def write(folder: Path) -> list[Path]:
    rng = random.Random(20261203)
    kineto = folder / "kineto.json"
    kineto.write_text('{\n  "schemaVersion": 1,\n  "traceEvents": [\n' + kineto_text(rng, EVENTS) + '\n  ]\n}\n', "utf-8")
    compact = folder / "compact.json"
    compact.write_text(json.dumps({"displayTimeUnit": "ns", "traceEvents": compact_events(rng, EVENTS)},
                                  ensure_ascii=False), "utf-8")
    return [kineto, compact]


def main(args: list[str]) -> int:
    """Read the training traces; `args`: the folder the instrumented build is in (its
    `traces/chunk_scan*.so` is then imported in place of the built one)."""
    sys.path.insert(0, str(ROOT))
    import traces

    if args:
        traces.__path__.insert(0, str(Path(args[0]) / "traces"))
    from traces import chunk_scan_glue
    from traces.readers import read_trace

    if not chunk_scan_glue.available():
        print("scan_training: the compiled step is not importable", file=sys.stderr)
        return 1
    imported = str(importlib.import_module("traces.chunk_scan").__file__)
    if args and not imported.startswith(args[0]):
        print(f"scan_training: the step imported is {imported}, not the one in {args[0]}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="stepscope-pgo-") as tmp:
        for path in write(Path(tmp)):
            read_trace(str(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
