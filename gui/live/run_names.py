"""What a run is called on screen, for a built-in workload (a RunSpec) and the user's own
program (a ProgramSpec) alike: in the legend while it streams, in messages, and when a stored
run is shown again.

In one place because the two kinds differ where the window used to assume a RunSpec: a program
has a name or a script instead of a framework and a variant, its framework is known only once it
imports one (its `program` event; stored, in its environment), and its steps are not counted in
advance.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gui.live.live_model import RunSeries
from gui.live.run_panel_model import FRAMEWORK_NAMES
from gui.live.runs_model import RunRow, is_program
from workloads.program import ProgramSpec
from workloads.spec import RunSpec

AnySpec = RunSpec | ProgramSpec


def framework_name(framework: str | None) -> str:
    """"PyTorch" for "torch"; an unknown key as it is; "?" for none."""
    return FRAMEWORK_NAMES.get(framework or "", framework or "?")


def display_name(spec: AnySpec) -> str:
    """The run in a sentence: "The PyTorch run failed", "The train.py run failed"."""
    return spec.label if isinstance(spec, ProgramSpec) else framework_name(spec.framework)


def live_run(spec: AnySpec, shown: Iterable[RunSeries]) -> tuple[str, str, int]:
    """(framework, legend label, steps expected) for a run that is starting: a program's framework
    is "" (not known yet) and its steps 0 (not known in advance); a repeat gets "#2", "#3" …"""
    if isinstance(spec, ProgramSpec):
        same = sum(1 for r in shown if r.label == spec.label or r.label.startswith(spec.label + " #"))
        return "", spec.label + (f" #{same + 1}" if same else ""), 0
    same = sum(1 for r in shown if r.framework == spec.framework)
    label = f"{framework_name(spec.framework)} {spec.variant}" + (f" #{same + 1}" if same else "")
    return spec.framework, label, spec.warmup + spec.steps + spec.trace_steps


def stored_label(run_id: str, figures: dict[str, Any], program: bool) -> str:
    """A stored run in the legend: "PyTorch eager · 143301", "train.py (PyTorch) · 143301"."""
    framework = framework_name(figures.get("framework"))
    if program:
        return f"{figures.get('workload') or 'program'} ({framework}) · {run_id[9:15]}"
    return f"{framework} {figures.get('variant') or ''} · {run_id[9:15]}"


def stored_run(run_id: str, row: RunRow | None) -> tuple[str, str, str | None]:
    """(framework, legend label, device kind) to show a stored run's curves again."""
    if row is None:
        return "?", run_id, None
    kind = row.record.environment.get("device_kind")
    framework = row.figures.get("framework") or ("" if is_program(row.record) else "?")
    return framework, stored_label(run_id, row.figures, is_program(row.record)), str(kind) if kind else None


def stored_program(row: RunRow | None) -> bool:
    """Whether a stored run is one of the user's programs (its warm-up step is drawn differently)."""
    return row is not None and is_program(row.record)


def is_program_run(run: RunSeries) -> bool:
    """A streaming run of the user's program: its framework is not known yet, or its steps are found
    by a step source (a built-in workload has neither)."""
    return not run.framework or run.step_source is not None


def live_status(run: RunSeries, with_label: bool = False) -> tuple[str, str]:
    """(text, tooltip) of what is known of a program run: its framework and where its steps come
    from, e.g. "PyTorch 2.3 · steps from torch.optim" (after "train.py: " `with_label`)."""
    parts = [f"{framework_name(run.framework)} {run.framework_version or ''}".strip()] if run.framework else \
        ["framework not imported yet"]
    tip = ""
    if run.step_source is not None:
        parts.append(f"steps from {run.step_source[0]}")
        tip = run.step_source[1]
    return (f"{run.label}: " if with_label else "") + " · ".join(parts), tip
