"""The compatibility score: per framework, the share of (workload x variant x mode x device)
cells whose one tiny step ran in the sweep's probe (`profilers.probe`), with each failure's reason.

The cells a probe should have run are known in advance (every workload it was asked for, every
variant of the framework, both modes, the CPU and any GPU it saw), so a framework that does not
import, or a probe that died half-way, scores its missing cells as failed with that reason
rather than shrinking the denominator.
"""
from __future__ import annotations

from typing import Any

from sessions.scorecard_data import SweepData
from sessions.scorecard_model import Cell, MetricRow, absent
from workloads.registry import WORKLOADS
from workloads.spec import MODES, VARIANTS


def probe_cells(framework: str, report: dict[str, Any], workloads: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every cell the probe should have run, in a stable order, each {workload, variant, mode,
    device, ok, reason} (`ms` too where it ran)."""
    ran = {(r.get("workload"), r.get("variant"), r.get("mode", "train"), r.get("device", "cpu")): r
           for r in report.get("runs", [])}
    devices = sorted({key[3] for key in ran} | {"cpu"}, key=lambda d: (d != "cpu", d))
    if not report.get("imports"):
        why = f"does not import: {report.get('error') or 'no reason given'}"
    else:
        why = f"the probe stopped before this cell ({report.get('error') or 'no reason given'})"
    out = []
    for workload in workloads or WORKLOADS:
        for variant in VARIANTS.get(framework, ()):
            for mode in MODES:
                for device in devices:
                    record = ran.get((workload, variant, mode, device))
                    cell: dict[str, Any] = {"workload": workload, "variant": variant, "mode": mode, "device": device}
                    if record is None:
                        cell.update(ok=False, reason=why)
                    else:
                        cell.update(ok=bool(record.get("ok")), reason=record.get("error"), ms=record.get("ms"))
                    out.append(cell)
    return out


def compatibility(data: SweepData) -> dict[str, list[dict[str, Any]]]:
    workloads = tuple(data.sweep.plan.get("probe_workloads") or ())
    return {fw: probe_cells(fw, data.probes[fw], workloads) for fw in data.frameworks if fw in data.probes}


def compatibility_row(data: SweepData) -> MetricRow:
    """A share has no sampling error (the probe ran each cell once), so its interval is the value
    itself and any difference marks a best."""
    grid = compatibility(data)
    out: dict[str, Cell] = {}
    for fw in data.frameworks:
        if fw not in grid:
            words = f"this sweep does not probe {fw}" if fw not in data.sweep.plan.get("probe", []) else \
                "its probe has not run yet (run the same sweep again to resume)"
            out[fw] = absent(f"not measured: {words}", "%")
            continue
        cells = grid[fw]
        ok = sum(c["ok"] for c in cells)
        share = 100.0 * ok / len(cells) if cells else 0.0
        failures = [f"{c['workload']} {c['variant']} {c['mode']} {c['device']}: {c['reason']}" for c in cells if not c["ok"]]
        version = data.probes[fw].get("version")
        note = f"{ok} of {len(cells)} cells run" + (f" ({fw} {version})" if version else "")
        if failures:
            note += "; failed: " + "; ".join(failures[:5]) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
        out[fw] = Cell(share, share, share, "%", (), note)
    return MetricRow("compatibility_percent", "Compatibility", "cells that run here (workload × variant × mode × device)",
                     "higher", out)
