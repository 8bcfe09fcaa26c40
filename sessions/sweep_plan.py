"""A sweep's plan: the axes it varies, the settings it holds fixed, how often each point
repeats, and the ordered points that expand from them.

Points are ordered repeat-major (every cell once, then every cell again), so slow drift of a
machine (thermal state, another process) spreads over all cells instead of biasing the cells
that happen to run last. A plan's `key` is a hash of what defines it, so running the same sweep
again finds the one already in the session and resumes it (`sessions.sweep_runner`).

A cell that several grids of one plan ask for (the same RunSpec) runs once per repeat, for all
of their purposes (`purpose` then lists them, comma-separated: `purposes_of`), as often as the
most repeated of those grids asks: a scorecard's training point is also its batch-size and
model-size fits' middle point, and nobody pays twice for one measurement.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from workloads.spec import FRAMEWORKS, VARIANTS, RunSpec, SpecError

# The axes a sweep may vary, in the order cells are enumerated (outermost first).
AXES = ("framework", "workload", "mode", "variant", "batch_size", "model_scale", "data_size")
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
    repeat: int | None = None  # how often each of its points runs; None: the plan's `repeat`

    def __post_init__(self) -> None:
        if self.repeat is not None and self.repeat < 1:
            raise SpecError("a grid's repeat must be at least 1")
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
        out = {"axes": self.axes, "base": self.base, "purpose": self.purpose}
        return out if self.repeat is None else {**out, "repeat": self.repeat}


@dataclass(frozen=True)
class SweepPlan:
    """One or more grids, each point of each grid run `repeat` times (unless its grid says
    otherwise). `probe` names frameworks whose compatibility probe (`profilers.probe`: every
    workload x variant x mode x device, one tiny step) runs before the points and is stored with
    the sweep; `probe_workloads` narrows it (empty: every workload)."""

    grids: tuple[Grid, ...]
    repeat: int = 1
    name: str = ""
    probe: tuple[str, ...] = ()
    probe_workloads: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.grids:
            raise SpecError("a sweep needs a grid")
        if self.repeat < 1:
            raise SpecError("--repeat must be at least 1")
        unknown = [fw for fw in self.probe if fw not in FRAMEWORKS]
        if unknown:
            raise SpecError(f"cannot probe {', '.join(unknown)}; the frameworks are {', '.join(FRAMEWORKS)}")

    @classmethod
    def grid(cls, axes: dict[str, list[Any]], base: dict[str, Any] | None = None, repeat: int = 1,
             name: str = "") -> SweepPlan:
        """The plain sweep: one grid."""
        return cls((Grid(axes, dict(base or {})),), repeat, name)

    @property
    def key(self) -> str:
        """What makes two plans the same sweep (the name is only a label)."""
        defining: dict[str, Any] = {"grids": [g.to_dict() for g in self.grids], "repeat": self.repeat}
        if self.probe:  # only when asked, so plain sweeps keep the keys they had
            defining.update(probe=list(self.probe), probe_workloads=list(self.probe_workloads))
        text = json.dumps(defining, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"grids": [g.to_dict() for g in self.grids], "repeat": self.repeat, "name": self.name,
                "probe": list(self.probe), "probe_workloads": list(self.probe_workloads)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepPlan:
        grids = tuple(Grid({k: list(v) for k, v in g["axes"].items()}, dict(g.get("base", {})), str(g.get("purpose", "")),
                           None if g.get("repeat") is None else int(g["repeat"]))
                      for g in data["grids"])
        return cls(grids, int(data.get("repeat", 1)), str(data.get("name", "")), tuple(data.get("probe", ())),
                   tuple(data.get("probe_workloads", ())))

    def points(self) -> list[SweepPoint]:
        cells: dict[str, _Cell] = {}  # by the spec's identity: a cell several grids ask for runs once
        for grid in self.grids:
            repeat = self.repeat if grid.repeat is None else grid.repeat
            for spec in grid.cells():
                identity = json.dumps(spec.to_dict(), sort_keys=True, default=str)
                cell = cells.setdefault(identity, _Cell(spec, _label(spec, grid.axes)))
                if grid.purpose and grid.purpose not in cell.purposes:
                    cell.purposes.append(grid.purpose)
                cell.repeat = max(cell.repeat, repeat)
        if not cells:
            raise SpecError("the sweep has no point: no framework has the variants asked for")
        ordered = list(cells.values())
        points: list[SweepPoint] = []
        for r in range(max(c.repeat for c in ordered)):
            points += [SweepPoint(index=len(points) + k, cell=c, repeat=r, label=cell.label, spec=cell.spec,
                                  purpose=",".join(cell.purposes))
                       for k, (c, cell) in enumerate((c, cell) for c, cell in enumerate(ordered) if cell.repeat > r)]
        return points


@dataclass
class _Cell:
    spec: RunSpec
    label: str
    purposes: list[str] = field(default_factory=list)
    repeat: int = 1


def purposes_of(purpose: str) -> tuple[str, ...]:
    """The purposes a point is measured for (a point several grids share lists them all)."""
    return tuple(p for p in purpose.split(",") if p)


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
    for axis, short in (("model_scale", "scale"), ("data_size", "n")):
        if axis in axes:
            parts.append(f"{short}={getattr(spec, axis)}")
    return " · ".join(parts)
