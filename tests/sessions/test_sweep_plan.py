"""The sweep's grid: which points a plan expands to, in which order, and what it refuses."""
from __future__ import annotations

import pytest

from sessions.sweep_plan import Grid, SweepPlan
from workloads.spec import SpecError


def test_points_are_every_cell_then_every_cell_again() -> None:
    plan = SweepPlan.grid(axes={"framework": ["torch", "jax"], "batch_size": [16, 32]}, base={"steps": 3}, repeat=2)
    points = plan.points()
    cells = [(p.spec.framework, p.spec.batch_size) for p in points]
    assert cells == [("torch", 16), ("torch", 32), ("jax", 16), ("jax", 32)] * 2
    assert [p.repeat for p in points] == [0] * 4 + [1] * 4
    assert [p.cell for p in points] == [0, 1, 2, 3] * 2
    assert [p.index for p in points] == list(range(8))
    assert points[0].label == "torch eager · b=16" and points[2].label == "jax compiled · b=16"
    assert all(p.spec.steps == 3 for p in points)


def test_all_variants_and_a_variant_some_frameworks_lack() -> None:
    every = Grid(axes={"framework": ["jax", "torch", "tf"]}, base={"variant": "all"}).cells()
    assert [(s.framework, s.variant) for s in every] == [
        ("jax", "compiled"), ("jax", "eager"), ("torch", "eager"), ("torch", "compiled"),
        ("tf", "xla"), ("tf", "compiled"), ("tf", "eager")]
    xla = Grid(axes={"framework": ["jax", "torch", "tf"]}, base={"variant": "xla"}).cells()
    assert [(s.framework, s.variant) for s in xla] == [("jax", "compiled"), ("tf", "xla")]  # jax's alias; torch has none
    aliases = Grid(axes={"framework": ["jax"], "variant": ["xla", "jit", "compiled"]}).cells()
    assert len(aliases) == 1  # three names of one variant are one cell


def test_the_key_names_what_is_measured_not_the_label() -> None:
    a = SweepPlan.grid(axes={"framework": ["torch"]}, base={"steps": 3}, name="first")
    assert a.key == SweepPlan.grid(axes={"framework": ["torch"]}, base={"steps": 3}, name="other").key
    assert a.key != SweepPlan.grid(axes={"framework": ["torch"]}, base={"steps": 4}).key
    assert a.key != SweepPlan.grid(axes={"framework": ["torch"]}, base={"steps": 3}, repeat=2).key
    assert SweepPlan.from_dict(a.to_dict()) == a


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"axes": {"seed": [1, 2]}}, "cannot vary seed"),
    ({"axes": {"framework": ["torch"]}, "base": {"framework": "jax"}}, "both swept and fixed"),
    ({"axes": {"framework": ["torch"]}, "repeat": 0}, "at least 1"),
    ({"axes": {"framework": ["torch", "torch"]}}, "names a value twice"),
    ({"axes": {"framework": []}}, "has no values"),
])
def test_bad_plans_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        SweepPlan.grid(**kwargs)  # type: ignore[arg-type]


def test_bad_points_are_refused_before_anything_runs() -> None:
    with pytest.raises(SpecError, match="needs a grid"):
        SweepPlan(grids=())
    with pytest.raises(SpecError, match="unknown framework 'mxnet'"):
        SweepPlan.grid(axes={"framework": ["mxnet"]}).points()
    with pytest.raises(SpecError, match="batch_size must be at least 1"):
        SweepPlan.grid(axes={"framework": ["torch"], "batch_size": [0, 1]}).points()
    with pytest.raises(SpecError, match="no framework has the variants"):
        SweepPlan.grid(axes={"framework": ["torch"]}, base={"variant": "xla"}).points()


def test_several_grids_are_one_plan_each_point_with_its_purpose() -> None:
    plan = SweepPlan((Grid({"framework": ["torch", "jax"]}, {"mode": "infer", "batch_size": 1}, "latency"),
                      Grid({"framework": ["torch"], "batch_size": [8, 16]}, {}, "throughput")), repeat=2)
    points = plan.points()
    assert [(p.purpose, p.spec.framework, p.spec.batch_size, p.repeat) for p in points] == [
        ("latency", "torch", 1, 0), ("latency", "jax", 1, 0), ("throughput", "torch", 8, 0), ("throughput", "torch", 16, 0),
        ("latency", "torch", 1, 1), ("latency", "jax", 1, 1), ("throughput", "torch", 8, 1), ("throughput", "torch", 16, 1)]
    assert SweepPlan.from_dict(plan.to_dict()) == plan and SweepPlan.from_dict(plan.to_dict()).key == plan.key
