"""A sweep's plan: the axes it varies, the settings it holds fixed, how often each point
repeats, and the ordered points that expand from them.

Points are ordered repeat-major (every cell once, then every cell again), so slow drift of a
machine (thermal state, another process) spreads over all cells instead of biasing the cells
that happen to run last. A plan's `key` is a hash of what defines it, so running the same sweep
again finds the one already in the session and resumes it (`sessions.sweep_runner`).
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from workloads.spec import FRAMEWORKS, VARIANTS, RunSpec, SpecError

# The axes a sweep may vary, in the order cells are enumerated (outermost first).
AXES = ("framework", "workload", "mode", "variant", "batch_size")
ALL_VARIANTS = "all"  # on the variant axis: every variant of each framework
DEFAULT_VARIANT = "default"  # each framework's first (fast, idiomatic) variant


@dataclass(frozen=True)
class SweepPoint:
    """One run of the sweep: its position (`index` in the plan, `cell` across repeats), which
    repeat it is, a short label, what it is measured for, and the spec it runs."""

    index: int
    cell: int
    repeat: int
    label: str
    spec: RunSpec
    purpose: str = ""


@dataclass(frozen=True)
class Grid:
    """`axes` maps an AXES name to the values it takes (a missing axis takes the base setting);
    `base` holds any other RunSpec settings fixed for every point; `purpose` says what its
    points are measured for (a scorecard preset has several grids, one per metric)."""

    axes: dict[str, list[Any]]
    base: dict[str, Any] = field(default_factory=dict)
    purpose: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.axes) - set(AXES)
        if unknown:
            raise SpecError(f"a sweep cannot vary {', '.join(sorted(unknown))}; it varies {', '.join(AXES)}")
        fixed_axes = set(self.base) & set(self.axes)
        if fixed_axes:
            raise SpecError(f"{', '.join(sorted(fixed_axes))} is both swept and fixed")
        for axis, values in self.axes.items():
            if not values:
                raise SpecError(f"the {axis} axis has no values")
            if len(set(map(str, values))) != len(values):
                raise SpecError(f"the {axis} axis names a value twice")

    def cells(self) -> list[RunSpec]:
        """Every distinct spec once, validated; a variant a framework does not have is left out
        (sweeping `variant: [eager]` over jax and tf keeps the frameworks that have it)."""
        out: list[RunSpec] = []
        seen: set[str] = set()
        values = [self.axes.get(axis, [None]) for axis in AXES]
        for combo in itertools.product(*values):
            chosen = {axis: value for axis, value in zip(AXES, combo, strict=True) if value is not None}
            framework = chosen.get("framework", self.base.get("framework"))
            if framework is None:
                raise SpecError("a sweep needs a framework (an axis of frameworks, or one fixed)")
            for variant in _variants(str(framework), chosen.pop("variant", self.base.get("variant"))):
                settings = {**self.base, **chosen, "framework": framework, "variant": variant}
                spec = RunSpec.from_dict(settings).resolved()
                identity = json.dumps(spec.to_dict(), sort_keys=True, default=str)
                if identity not in seen:  # aliases (jax "xla" and "jit") name one variant
                    seen.add(identity)
                    out.append(spec)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"axes": self.axes, "base": self.base, "purpose": self.purpose}


@dataclass(frozen=True)
class SweepPlan:
    """One or more grids, each point of each grid run `repeat` times."""

    grids: tuple[Grid, ...]
    repeat: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        if not self.grids:
            raise SpecError("a sweep needs a grid")
        if self.repeat < 1:
            raise SpecError("--repeat must be at least 1")

    @classmethod
    def grid(cls, axes: dict[str, list[Any]], base: dict[str, Any] | None = None, repeat: int = 1,
             name: str = "") -> SweepPlan:
        """The plain sweep: one grid."""
        return cls((Grid(axes, dict(base or {})),), repeat, name)

    @property
    def key(self) -> str:
        """What makes two plans the same sweep (the name is only a label)."""
        text = json.dumps({"grids": [g.to_dict() for g in self.grids], "repeat": self.repeat}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"grids": [g.to_dict() for g in self.grids], "repeat": self.repeat, "name": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepPlan:
        grids = tuple(Grid({k: list(v) for k, v in g["axes"].items()}, dict(g.get("base", {})), str(g.get("purpose", "")))
                      for g in data["grids"])
        return cls(grids, int(data.get("repeat", 1)), str(data.get("name", "")))

    def points(self) -> list[SweepPoint]:
        cells: list[tuple[RunSpec, str, str]] = []
        for grid in self.grids:
            cells += [(spec, _label(spec, grid.axes), grid.purpose) for spec in grid.cells()]
        if not cells:
            raise SpecError("the sweep has no point: no framework has the variants asked for")
        return [SweepPoint(index=r * len(cells) + c, cell=c, repeat=r, label=label, spec=spec, purpose=purpose)
                for r in range(self.repeat) for c, (spec, label, purpose) in enumerate(cells)]


def _variants(framework: str, asked: Any) -> list[str | None]:
    if framework not in FRAMEWORKS:
        raise SpecError(f"unknown framework {framework!r}; choose from {', '.join(FRAMEWORKS)}")
    if asked is None or asked == DEFAULT_VARIANT:
        return [None]  # RunSpec.resolved() fills the framework's default
    if asked == ALL_VARIANTS:
        return list(VARIANTS[framework])
    spec = RunSpec(framework=framework, variant=str(asked))
    try:
        return [spec.resolved().variant]
    except SpecError:
        return []  # this framework has no such variant: not a point of the sweep


def _label(spec: RunSpec, axes: dict[str, list[Any]]) -> str:
    """The point's settings that the sweep varies, framework and variant always first."""
    parts = [f"{spec.framework} {spec.variant}"]
    for axis in ("workload", "mode"):
        if axis in axes:
            parts.append(str(getattr(spec, axis)))
    if "batch_size" in axes:
        parts.append(f"b={spec.batch_size}")
    return " · ".join(parts)
