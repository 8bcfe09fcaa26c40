"""The scorecard's sweeps: one plan of several grids, one purpose each (docs/scorecard.md,
"Purposes"), so one `sweep --preset` measures every metric of the scorecard.

- `scorecard-quick`: the laptop-CPU budget (docs/scorecard.md: under ten minutes). Few steps, and
  repeats only where the claims and intervals need run-to-run variance (training step time,
  variants, batch-1 latency): a point costs a fresh worker (4-10 s of import and build on two
  cores) far more than its steps do, so extra steps are nearly free and extra points are not.
- `scorecard-full`: every variant, more sizes on each scaling axis (two runs each), five repeats
  where quick has three, a trace window on the training points (the device-busy fraction on a GPU).
- `scorecard-smoke`: the MLP on torch-sized steps, for the end-to-end test: it checks the whole
  path, its figures mean little.

Cells that several grids share (the training point is also the middle point of the batch-size
and model-size fits, and the default variant of the variants claims) run once
(`sessions.sweep_plan`), so the plans below read as what each purpose needs.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Sequence
from typing import Any

from profilers.probe import IMPORT_NAMES
from sessions.sweep_plan import Grid, SweepPlan
from workloads.spec import FRAMEWORKS, SpecError

TARGET_ACCURACY = 0.9  # the digits' held-out accuracy all three reach in well under a minute on a laptop CPU
SCALING_PURPOSES = ("scale_data", "scale_model", "scale_batch")
PURPOSES = ("train", "time_to_accuracy", "latency", "serving", *SCALING_PURPOSES, "variants")

# The variants each framework's claims compare: torch.compile vs eager, jax.jit vs op-by-op, TF+XLA.
CLAIM_VARIANTS = {"jax": ["compiled", "eager"], "torch": ["eager", "compiled"], "tf": ["xla"]}


def _train(steps: int, trace_steps: int, workload: str = "convnet") -> dict[str, Any]:
    return {"workload": workload, "mode": "train", "batch_size": 64, "steps": steps, "warmup": 5,
            "trace_steps": trace_steps, "evaluate": True}


# The RunSpec fields the time-to-accuracy and scaling grids set (tests check RunSpec has them).
RUN_SETTINGS_FOR_SCALING = {"model_scale", "data_size", "epochs", "target_accuracy", "eval_every"}


def _infer(batch: int, steps: int, workload: str = "convnet") -> dict[str, Any]:
    return {"workload": workload, "mode": "infer", "batch_size": batch, "steps": steps, "warmup": 10,
            "trace_steps": 0, "evaluate": False}


def _time_to_accuracy(cap: int, workload: str = "convnet") -> dict[str, Any]:
    """Evaluated every 10 steps until the target, at most `cap` steps; no warm-up, so the clock
    (from the compile phase's start) covers all the training the model got."""
    return {"workload": workload, "mode": "train", "batch_size": 64, "steps": cap, "warmup": 0, "trace_steps": 0,
            "evaluate": True, "target_accuracy": TARGET_ACCURACY, "eval_every": 10}


def _without_batch(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k != "batch_size"}


def _grids(frameworks: list[str], *, train: dict[str, Any], repeats: int, scale_repeats: int,
           variants: dict[str, list[str]], serving: list[int], latency_steps: int, cap: int, batches: list[int],
           scales: list[float], data_sizes: list[int], epochs: int) -> tuple[Grid, ...]:
    workload = train["workload"]
    fw = {"framework": frameworks}
    grids = [
        Grid(dict(fw), train, "train", repeat=repeats),
        *[Grid({"framework": [name], "variant": names}, train, "variants", repeat=repeats)
          for name, names in variants.items() if name in frameworks],
        Grid(dict(fw), _infer(1, latency_steps, workload), "latency", repeat=repeats),
        Grid({**fw, "batch_size": serving}, _without_batch(_infer(1, 20, workload)), "serving", repeat=1),
        Grid({**fw, "batch_size": batches}, _without_batch(train), "scale_batch", repeat=scale_repeats),
    ]
    # These three use RunSpec's run settings (docs/scorecard.md, "Run settings": RUN_SETTINGS_FOR_SCALING).
    grids += [
        Grid(dict(fw), _time_to_accuracy(cap, workload), "time_to_accuracy", repeat=1),
        Grid({**fw, "model_scale": scales}, train, "scale_model", repeat=scale_repeats),
        Grid({**fw, "data_size": data_sizes}, {**train, "epochs": epochs, "evaluate": False, "trace_steps": 0},
             "scale_data", repeat=scale_repeats),
    ]
    return tuple(grids)


def quick_plan(frameworks: Sequence[str] = FRAMEWORKS) -> SweepPlan:
    fws = list(frameworks)
    grids = _grids(fws, train=_train(50, 0), repeats=3, scale_repeats=1, variants=CLAIM_VARIANTS, serving=[256],
                   latency_steps=200, cap=300, batches=[16, 64, 256], scales=[0.5, 1.0, 2.0],
                   data_sizes=[512, 1024, 2048], epochs=1)
    return SweepPlan(grids, 1, "scorecard-quick", probe=tuple(fws))


def full_plan(frameworks: Sequence[str] = FRAMEWORKS) -> SweepPlan:
    fws = list(frameworks)
    every = {"jax": ["compiled", "eager"], "torch": ["eager", "compiled"], "tf": ["xla", "compiled", "eager"]}
    grids = _grids(fws, train=_train(100, 3), repeats=5, scale_repeats=2, variants=every, serving=[32, 256],
                   latency_steps=500, cap=1000, batches=[8, 16, 32, 64, 128, 256], scales=[0.25, 0.5, 1.0, 2.0, 4.0],
                   data_sizes=[512, 1024, 2048, 4096, 8192], epochs=2)
    return SweepPlan(grids, 1, "scorecard-full", probe=tuple(fws))


def smoke_plan(frameworks: Sequence[str] = FRAMEWORKS) -> SweepPlan:
    fws = list(frameworks)
    train = {**_train(4, 0, "mlp"), "warmup": 1}
    grids = _grids(fws, train=train, repeats=1, scale_repeats=1, variants={}, serving=[64], latency_steps=20, cap=200,
                   batches=[16, 64], scales=[0.5, 1.0], data_sizes=[256, 512], epochs=1)
    return SweepPlan(grids, 1, "scorecard-smoke", probe=tuple(fws), probe_workloads=("mlp",))


PRESETS: dict[str, SweepPlan] = {"scorecard-quick": quick_plan(), "scorecard-full": full_plan(),
                                 "scorecard-smoke": smoke_plan()}


def installed_frameworks() -> list[str]:
    """The frameworks whose package is installed here, found without importing it (this process
    must load none); one that is installed but broken fails its points and its probe, with reasons."""
    return [fw for fw in FRAMEWORKS if importlib.util.find_spec(IMPORT_NAMES[fw]) is not None]


def narrowed(plan: SweepPlan, frameworks: Sequence[str]) -> SweepPlan:
    """`plan` for `frameworks` only: each grid's framework axis narrowed (a grid left with none is
    dropped), the probes too; SpecError when nothing is left."""
    chosen = list(frameworks)
    unknown = [fw for fw in chosen if fw not in FRAMEWORKS]
    if unknown:
        raise SpecError(f"unknown framework {', '.join(unknown)}; choose from {', '.join(FRAMEWORKS)}")
    grids = []
    for grid in plan.grids:
        kept = [fw for fw in grid.axes.get("framework", [grid.base.get("framework")]) if fw in chosen]
        if kept:
            grids.append(dataclasses.replace(grid, axes={**grid.axes, "framework": kept}) if "framework" in grid.axes
                         else grid)
    if not grids:
        raise SpecError(f"the preset measures none of {', '.join(chosen) or 'no framework'}")
    return dataclasses.replace(plan, grids=tuple(grids), probe=tuple(fw for fw in plan.probe if fw in chosen))


def preset_plan(name: str, frameworks: Sequence[str] | None = None, repeat: int | None = None,
                device: str | None = None) -> SweepPlan:
    """The preset `name` for `frameworks` (default: those installed here); `repeat` replaces every
    grid's repeats, `device` the device every point runs on. SpecError for an unknown name."""
    if name not in PRESETS:
        raise SpecError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    plan = narrowed(PRESETS[name], installed_frameworks() if frameworks is None else frameworks)
    if repeat is not None:
        if repeat < 1:
            raise SpecError("--repeat must be at least 1")
        plan = dataclasses.replace(plan, repeat=repeat, grids=tuple(dataclasses.replace(g, repeat=None) for g in plan.grids))
    if device is not None and device != "auto":
        plan = dataclasses.replace(plan, grids=tuple(dataclasses.replace(g, base={**g.base, "device": device})
                                                     for g in plan.grids))
    return plan
