"""Does a program run as fast under `stepscope run` (outside the trace window) as it does bare?

For each example in examples/, the program bare (`python examples/X.py --steps N`) and the same
command under Stepscope (`python main.py run --session S -- python examples/X.py --steps N`, no
capture window) run *at the same time but never together*, with `bench.app_vs_standalone`'s
time slicing: one side (the whole process tree: Stepscope's controller and the program) is frozen
with SIGSTOP while the other runs, swapping every `--slice` seconds, so both see the same drift in
machine speed; which side starts first alternates between rounds. Each side's figure is the
program's *own* timing (the `done: N steps, X ms/step (own timing)` line: the median step after
its first 2 steps), so Stepscope's measurement plays no part in it. A step that spans a swap
includes the frozen second; that touches a handful of steps per side, the same on both, and the
median ignores them. The figure is the geometric mean of the per-round ratios (under Stepscope /
bare) with a bootstrap 95 % interval. A round whose sides differ by more than 2x is redone (SANE).

The bare side runs with the bench's environment less PYTHONPATH (marked_steps.py, which imports
`stepscope`, gets PYTHONPATH=agent/ as a user would: without STEPSCOPE_CHANNEL the module runs
standalone). After each run under Stepscope the bench reads the run back from its session
(`main.py report --json`: the last run's measured steps, N - 1, step 0 being warmup) and keeps
the step source the run chose (`run --json`'s `steps_from`, the source the `stepscope: steps
from ...` line names): a round that recorded the wrong number of steps fails the row.

    python -m bench.program_overhead [--examples torch_loop,jax_optax] [--rounds 6] [--slice 1]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.app_vs_standalone import interleaved
from bench.common import ROOT, write_result

# Steps per example: ~2-4 s of stepping at the step times seen on the 2-vCPU machine: torch_loop
# ~3 ms (30+ ms while other processes load both cores: its two OpenMP threads wait for each
# other), keras_fit ~1.4 ms, jax_optax ~0.4 ms, tf_custom_loop ~1.3 ms, marked_steps ~0.35 ms.
STEPS = {"torch_loop": 1000, "keras_fit": 1500, "jax_optax": 6000, "tf_custom_loop": 1500, "marked_steps": 8000}
BATCH_SIZE = 32
GOAL = 1.03
# A round whose two sides differ by more than this factor measured other load, not Stepscope (whose
# cost is microseconds a step): on this shared machine torch_loop once ran 68 ms/step under
# Stepscope against 356 ms bare, its OpenMP threads stalled while other processes held the cores.
# Such a round is run again (at most REDO times; the last attempt is kept whatever it gives) and
# the discarded attempts are kept in the result.
SANE = (0.5, 2.0)
REDO = 2
DONE = re.compile(r"^done: (\d+) steps, (\S+) ms/step \(own timing\)$", re.MULTILINE)


def own_ms(stdout: str, steps: int, what: str) -> float:
    """The program's own median step time from its last `done:` line."""
    found = DONE.findall(stdout)
    if not found or int(found[-1][0]) != steps:
        raise RuntimeError(f"{what}: no `done: {steps} steps, ... ms/step (own timing)` line in its output:\n{stdout[-2000:]}")
    return float(found[-1][1])


def bare_args(example: str, steps: int, batch_size: int) -> list[str]:
    """Arguments to the interpreter for the bare side: this module re-executes itself as the
    program (`--exec-bare`) with the program's own environment, since `interleaved` starts every
    command with the bench's PYTHONPATH."""
    path = "agent" if example == "marked_steps" else ""
    return ["-m", "bench.program_overhead", "--exec-bare", path, "--",
            f"examples/{example}.py", "--steps", str(steps), "--batch-size", str(batch_size)]


def under_args(example: str, steps: int, batch_size: int, session: Path, out_dir: Path) -> list[str]:
    return ["main.py", "run", "--session", str(session), "--out-dir", str(out_dir), "--json", "--",
            sys.executable, f"examples/{example}.py", "--steps", str(steps), "--batch-size", str(batch_size)]


def exec_bare(pythonpath: str, command: list[str]) -> None:
    """Replace this process with `python COMMAND...`: PYTHONPATH is PYTHONPATH (relative to the
    project root) or unset, and no STEPSCOPE_ variable is passed on."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("STEPSCOPE_")}
    if pythonpath:
        env["PYTHONPATH"] = str(ROOT / pythonpath)
    os.execve(sys.executable, [sys.executable, *command], env)


def run_record(stdout: str) -> dict[str, Any]:
    """The record `run --json` prints on stdout once the program's own output has ended."""
    start = re.search(r"^\{$", stdout, re.MULTILINE)
    if start is None:
        raise RuntimeError(f"no `run --json` record in the output under Stepscope:\n{stdout[-2000:]}")
    record: dict[str, Any] = json.loads(stdout[start.start():])
    return record


def session_steps(session: Path) -> int | None:
    """The last run's measured steps as the session holds them (`main.py report --json`)."""
    proc = subprocess.run([sys.executable, "main.py", "report", str(session), "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if proc.returncode != 0:
        raise RuntimeError(f"main.py report {session} --json failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    runs = json.loads(proc.stdout)
    steps = runs[-1].get("steps") if runs else None
    return None if steps is None else int(steps)


def ratio_ci(under: list[float], bare: list[float]) -> tuple[float, float, float]:
    """Geometric mean of the per-round ratios and its bootstrap 95 % interval (as app_vs_standalone)."""
    logs = np.log(np.array(under) / np.array(bare))
    boot = np.random.default_rng(0).choice(logs, size=(4000, len(logs))).mean(axis=1)
    low, high = np.exp(np.percentile(boot, [2.5, 97.5]))
    return float(np.exp(logs.mean())), float(low), float(high)


def met(result: dict[str, Any]) -> bool:
    """The goal: every round recorded the right steps, the estimate is under 3 % and its interval
    does not exclude that (as bench.app_vs_standalone's goal is judged)."""
    return bool(result["steps_ok"]) and result["ratio"] < GOAL and result["ratio_ci95"][0] <= GOAL


def measure(example: str, steps: int, rounds: int, slice_s: float, batch_size: int) -> dict[str, Any]:
    under: list[float] = []
    bare: list[float] = []
    recorded: list[int | None] = []
    sources: list[str | None] = []
    redone: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="stepscope-bench-") as tmp:
        session = Path(tmp) / "bench.stepscope"
        for r in range(rounds):
            for attempt in range(1 + REDO):
                bare_cmd = bare_args(example, steps, batch_size)
                under_cmd = under_args(example, steps, batch_size, session, Path(tmp) / f"out{r}-{attempt}")
                if r % 2 == 0:
                    under_out, bare_out = interleaved(under_cmd, bare_cmd, slice_s)
                else:
                    bare_out, under_out = interleaved(bare_cmd, under_cmd, slice_s)
                under_ms = own_ms(under_out, steps, f"{example} under Stepscope")
                bare_ms = own_ms(bare_out, steps, f"{example} bare")
                steps_now = session_steps(session)  # every attempt is checked, a redone one too
                source = run_record(under_out).get("steps_from")
                print(f"  {example} round {r + 1}/{rounds}: under {under_ms:.3f} ms, bare {bare_ms:.3f} ms, "
                      f"steps recorded {steps_now} (from {source})", file=sys.stderr)
                if SANE[0] <= under_ms / bare_ms <= SANE[1] or attempt == REDO:
                    break
                redone.append({"round": r + 1, "under_ms": under_ms, "bare_ms": bare_ms, "steps_recorded": steps_now})
                print(f"  {example} round {r + 1}: ratio {under_ms / bare_ms:.2f} is other load, not Stepscope: redone",
                      file=sys.stderr)
            under.append(under_ms)
            bare.append(bare_ms)
            recorded.append(steps_now)
            sources.append(source)
    ratio, low, high = ratio_ci(under, bare)
    expected = steps - 1  # step 0 is `warmup`, not measured
    steps_ok = all(n == expected for n in [*recorded, *(x["steps_recorded"] for x in redone)])
    if not steps_ok:
        print(f"  {example}: WRONG STEP COUNT under Stepscope: {recorded}, expected {expected} each round",
              file=sys.stderr)
    result = {"example": example, "method": f"interleaved, {slice_s:g} s slices, order alternating",
              "steps": steps, "batch_size": batch_size, "rounds": rounds,
              "under_ms_per_round": under, "bare_ms_per_round": bare,
              "under_ms": float(np.median(under)), "bare_ms": float(np.median(bare)),
              "ratio": round(ratio, 4), "ratio_ci95": [round(low, 4), round(high, 4)],
              "steps_expected": expected, "steps_recorded_per_round": recorded, "steps_ok": steps_ok,
              "step_source": sources[-1], "step_sources_per_round": sources,
              "rounds_redone": redone}
    result["met"] = met(result)
    return result


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", default=",".join(STEPS))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--slice", type=float, default=1.0, help="seconds each side runs before the swap")
    parser.add_argument("--steps", type=int, default=None, help="the same N for every example (default: STEPS)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    args = parser.parse_args(argv)
    results = []
    for example in args.examples.split(","):
        print(f"program overhead: {example}…", file=sys.stderr)
        results.append(measure(example, args.steps or STEPS[example], args.rounds, args.slice, args.batch_size))
    return {"goal": f"ratio (under Stepscope / bare, the program's own step time) <= {GOAL}", "results": results}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--exec-bare"]:
        exec_bare(argv[1], argv[3:])  # argv: --exec-bare PYTHONPATH -- COMMAND...
    write_result("program_overhead", run(argv))


if __name__ == "__main__":
    main(sys.argv[1:])
