"""The run panel's state, Qt-free: settings, which frameworks are available, presets, and the
specs a press of Start queues (one per chosen framework, times the repeat count, same settings)."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workloads.registry import WORKLOADS
from workloads.spec import DEVICES, FRAMEWORKS, MODES, VARIANTS, RunSpec

PRESETS_PATH = Path(__file__).resolve().parents[2] / "resources" / "presets.json"
FRAMEWORK_NAMES = {"jax": "JAX", "torch": "PyTorch", "tf": "TensorFlow"}
LIMITS = {"batch_size": (1, 65536), "steps": (1, 1_000_000), "warmup": (0, 100_000), "trace_steps": (0, 10_000),
          "repeat": (1, 100)}


@dataclass
class FrameworkState:
    """What the compatibility probe found: None = not known yet ("checking…")."""

    imports: bool | None = None
    version: str | None = None
    error: str | None = None
    devices: list[str] = field(default_factory=list)


@dataclass
class Preset:
    name: str
    frameworks: list[str]
    settings: dict[str, Any]


def load_presets(path: Path = PRESETS_PATH) -> list[Preset]:
    data = json.loads(path.read_text())
    return [Preset(p["name"], list(p["frameworks"]), dict(p["settings"])) for p in data["presets"]]


class RunPanelModel:
    """Settings for the next queue. `changed` listeners hear every change (name of the field).

    Until the user picks frameworks (or saved settings or a preset do), every framework that
    imports is chosen: on a first run, Start then compares all that work here (issue 15)."""

    def __init__(self) -> None:
        self.chosen: dict[str, bool] = {fw: True for fw in FRAMEWORKS}
        self.auto_choose = True  # follow the probe: chosen = imports, for frameworks the user left alone
        self._touched: set[str] = set()
        self.variants: dict[str, str] = {fw: VARIANTS[fw][0] for fw in FRAMEWORKS}
        self.frameworks: dict[str, FrameworkState] = {fw: FrameworkState() for fw in FRAMEWORKS}
        self.workload = "convnet"
        self.mode = "train"
        self.batch_size = 64
        self.steps = 50
        self.warmup = 5
        self.trace_steps = 5
        self.device = "auto"
        self.repeat = 1
        self.run_on = "local"  # where Start's runs go: "local" or a machine's ssh:// target (docs/executors.md)
        # Why `framework` did not import on machine `target` at its last connection test (None: it
        # did, or nothing is known); the panel points it at the machines model.
        self.not_importing_on: Callable[[str, str], str | None] = lambda target, framework: None
        self._listeners: list[Callable[[str], None]] = []

    def connect(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def _changed(self, what: str) -> None:
        for listener in list(self._listeners):
            listener(what)

    def set(self, name: str, value: Any) -> None:
        """Set one plain setting, clamped or checked against what a RunSpec accepts."""
        if name in LIMITS:
            low, high = LIMITS[name]
            value = max(low, min(high, int(value)))
        elif name == "workload" and value not in WORKLOADS:
            raise ValueError(f"unknown workload {value!r}")
        elif name == "mode" and value not in MODES:
            raise ValueError(f"unknown mode {value!r}")
        elif name == "device" and value not in DEVICES:
            raise ValueError(f"unknown device {value!r}")
        elif name not in ("workload", "mode", "device"):
            raise ValueError(f"unknown setting {name!r}")
        if getattr(self, name) != value:
            setattr(self, name, value)
            self._changed(name)

    def set_run_on(self, target: str) -> None:
        """Where the next queue runs (the panel offers only listed machines); the user's own
        program always runs here."""
        if target != self.run_on:
            self.run_on = target
            self._changed("run_on")

    def choose(self, framework: str, on: bool) -> None:
        self._touched.add(framework)
        self.chosen[framework] = on
        self._changed("chosen")

    def set_variant(self, framework: str, variant: str) -> None:
        if variant not in VARIANTS[framework]:
            raise ValueError(f"{framework} has no variant {variant!r}")
        self.variants[framework] = variant
        self._changed("variants")

    def set_framework_state(self, framework: str, state: FrameworkState) -> None:
        self.frameworks[framework] = state
        if self.auto_choose and framework not in self._touched and state.imports is not None:
            self.chosen[framework] = state.imports
        self._changed("frameworks")

    def available(self, framework: str) -> bool:
        """Imports here; for another machine, unless its last connection test found it not
        importing there (untested: its own environment decides, and a run of a framework missing
        there fails saying so; the check here says nothing of it)."""
        if self.run_on != "local":
            return self.not_importing_on(self.run_on, framework) is None
        return self.frameworks[framework].imports is True

    def apply_preset(self, preset: Preset) -> None:
        self.auto_choose = False
        for fw in FRAMEWORKS:
            self.chosen[fw] = fw in preset.frameworks
        for name, value in preset.settings.items():
            self.set(name, value)
        self._changed("chosen")

    def runnable_frameworks(self) -> list[str]:
        """Chosen frameworks that imported; one still being checked is not runnable yet."""
        return [fw for fw in FRAMEWORKS if self.chosen[fw] and self.available(fw)]

    def pending_frameworks(self) -> list[str]:
        """Chosen frameworks whose check here has not answered yet: Start waits for them (not for
        another machine's runs)."""
        return [fw for fw in FRAMEWORKS if self.chosen[fw] and self.frameworks[fw].imports is None and self.run_on == "local"]

    def specs(self) -> list[RunSpec]:
        """The queue Start runs: identical settings for each framework, `repeat` times each."""
        specs = []
        for fw in self.runnable_frameworks():
            spec = RunSpec(framework=fw, workload=self.workload, mode=self.mode, variant=self.variants[fw],
                           batch_size=self.batch_size, steps=self.steps, warmup=self.warmup,
                           trace_steps=self.trace_steps, device=self.device).resolved()
            specs.extend([spec] * self.repeat)
        return specs

    # -- persistence (the view stores this dict in QSettings) -------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"chosen": dict(self.chosen), "chosen_automatically": self.auto_choose and not self._touched,
                "variants": dict(self.variants), "workload": self.workload,
                "mode": self.mode, "batch_size": self.batch_size, "steps": self.steps, "warmup": self.warmup,
                "trace_steps": self.trace_steps, "device": self.device, "repeat": self.repeat,
                "run_on": self.run_on}

    def load_dict(self, data: dict[str, Any]) -> None:
        """Restore saved settings, skipping anything stale or invalid (an old or edited file).
        Frameworks the user never picked stay chosen by the probe."""
        if "chosen" in data and not data.get("chosen_automatically"):
            self.auto_choose = False
        for fw, on in dict(data.get("chosen", {}) if not self.auto_choose else {}).items():
            if fw in self.chosen:
                self.chosen[fw] = bool(on)
        for fw, variant in dict(data.get("variants", {})).items():
            if fw in VARIANTS and variant in VARIANTS[fw]:
                self.variants[fw] = variant
        for name in ("workload", "mode", "device", *LIMITS):
            if name in data:
                try:
                    self.set(name, data[name])
                except (ValueError, TypeError):
                    pass
        if isinstance(data.get("run_on"), str):
            self.run_on = data["run_on"]  # the panel falls back to "local" if that machine is gone
        self._changed("all")
