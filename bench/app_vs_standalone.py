"""Is the step time the app reports the step time a user's own script sees?

For each framework, `main.py run` (convnet, train, synthetic data, no trace) and the plain
script in bench/standalone/ run *at the same time but never together*: the bench freezes one
(SIGSTOP on the app's controller and worker, or on the script) while the other runs, and swaps
every `--slice` seconds. A frozen process uses no CPU, so each side runs alone on the machine,
and both see the same drift in machine speed. Which side starts first alternates between rounds
(the first-started side measured ~10 % faster in A/A tests of the script against itself), and
the figure is the geometric mean of the per-round ratios with a bootstrap 95 % interval.

On a 2-vCPU VM a single process's step time still varies ±10 % from one process to the next
(A/A pairs of the same script: 0.84-1.17), so a few rounds cannot resolve 3 %: read the interval.

    python -m bench.app_vs_standalone [--frameworks torch,jax,tf] [--rounds 6] [--steps 300]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import psutil

from bench.common import ROOT


class _Spawned(subprocess.Popen[str]):
    """A process whose output goes to temporary files: a pipe nobody reads until the end could
    fill and block."""

    def __init__(self, args: list[str]) -> None:
        self.outputs = (tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+"))
        super().__init__([sys.executable, *args], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), text=True,
                         stdout=self.outputs[0], stderr=self.outputs[1])


def _spawn(args: list[str]) -> _Spawned:
    return _Spawned(args)


def _read(proc: _Spawned) -> tuple[str, str]:
    texts = []
    for handle in proc.outputs:
        handle.seek(0)
        texts.append(handle.read())
        handle.close()
    return texts[0], texts[1]


def _tree(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    """The process and its descendants (the app's worker is started after the controller)."""
    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal(procs: list[psutil.Process], sig: int) -> None:
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def interleaved(first: list[str], second: list[str], slice_s: float, timeout: float = 1200) -> tuple[str, str]:
    """Run two commands time-sliced (never both at once); their stdouts."""
    sides = [_spawn(first), _spawn(second)]
    _signal(_tree(sides[1]), signal.SIGSTOP)
    running, deadline = 0, time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in sides):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the interleaved runs took over {timeout:.0f} s")
            time.sleep(slice_s)
            other = 1 - running
            if sides[other].poll() is None:  # swap: freeze the running side, wake the other
                _signal(_tree(sides[running]), signal.SIGSTOP)
                _signal(_tree(sides[other]), signal.SIGCONT)
                running = other
            else:
                _signal(_tree(sides[running]), signal.SIGCONT)
    finally:
        for p in sides:
            _signal(_tree(p), signal.SIGCONT)
            if p.poll() is None:
                p.kill()
            p.wait()
    outputs = [_read(p) for p in sides]
    for (_, err), p, args in zip(outputs, sides, (first, second), strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({p.returncode}):\n{err[-3000:]}")
    return outputs[0][0], outputs[1][0]


def measure(framework: str, rounds: int, steps: int, warmup: int, slice_s: float) -> dict[str, object]:
    app_cmd = ["main.py", "run", "--framework", framework, "--workload", "convnet", "--steps", str(steps),
               "--warmup", str(warmup), "--trace-steps", "0", "--no-eval", "--data", "synthetic",
               "--device", "cpu", "--batch-size", "64", "--json"]
    script_cmd = [f"bench/standalone/convnet_{framework}.py", "--steps", str(steps), "--warmup", str(warmup),
                  "--batch-size", "64"]
    app, alone = [], []
    for r in range(rounds):
        if r % 2 == 0:
            app_out, script_out = interleaved(app_cmd, script_cmd, slice_s)
        else:
            script_out, app_out = interleaved(script_cmd, app_cmd, slice_s)
        app.append(float(json.loads(app_out)["step_ms_median"]))
        alone.append(float(json.loads(script_out.strip().splitlines()[-1])["step_ms_median"]))
    logs = np.log(np.array(app) / np.array(alone))
    boot = np.random.default_rng(0).choice(logs, size=(4000, len(logs))).mean(axis=1)
    low, high = np.exp(np.percentile(boot, [2.5, 97.5]))
    return {"framework": framework, "method": f"interleaved, {slice_s:g} s slices, order alternating", "steps": steps,
            "app_ms_median_per_round": app, "standalone_ms_median_per_round": alone,
            "app_ms": float(np.median(app)), "standalone_ms": float(np.median(alone)),
            "ratio": round(float(np.exp(logs.mean())), 4), "ratio_ci95": [round(float(low), 4), round(float(high), 4)]}


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frameworks", default="torch,jax,tf")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--slice", type=float, default=1.0, help="seconds each side runs before the swap")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="set for both sides (e.g. glibc's MALLOC_MMAP_THRESHOLD_, see bench/README.md)")
    args = parser.parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.env)
    saved = dict(os.environ)
    os.environ.update(settings)  # both sides inherit it (the app's worker through its controller)
    try:
        results = [measure(fw, args.rounds, args.steps, args.warmup, args.slice) for fw in args.frameworks.split(",")]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for result in results:
        result["env"] = settings
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
