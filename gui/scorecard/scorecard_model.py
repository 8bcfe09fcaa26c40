"""What the Scorecard window shows, Qt-free: a `Scorecard` (sessions.scorecard) turned into
table cells with their tone and tooltip, scaling series with their fitted line and band, latency
percentiles, and the sweep's progress in words.

Kept apart from the widgets so the same text is tested without a display, and so the window's
tables and their CSV exports read exactly alike.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sessions.schema import SessionError
from sessions.scorecard_model import Cell, Scorecard
from sessions.store import Session
from sessions.sweep_plan import SweepPlan
from sessions.sweep_runner import SweepStatus
from workloads.spec import FRAMEWORKS

NOT_MEASURABLE = "not measurable here"
NOT_MEASURED = "not measured"
VERDICT_TONES = {"holds": "good", "does not hold": "bad", "inconclusive": "unsure", NOT_MEASURABLE: "absent"}
SCALING_PURPOSES = (  # purpose, tab title, x axis, y axis
    ("scale_data", "Dataset size", "training samples", "time per epoch (s)"),
    ("scale_model", "Parameter count", "parameters", "step time (ms)"),
    ("scale_batch", "Batch size", "batch size", "samples/s"),
)


@dataclass(frozen=True)
class ShownCell:
    """One table cell as shown: its text, a tone the view colours ("best", "absent", "ok",
    "fail", or a verdict's "good"/"bad"/"unsure"), and a tooltip."""

    text: str
    tone: str = ""
    tip: str = ""
    centred: bool = False  # a mark or a name among figures: neither words nor a number


@dataclass(frozen=True)
class ShownTable:
    header: list[str]
    text_columns: int  # the leading columns of words (aligned left); figures follow
    rows: list[list[ShownCell]] = field(default_factory=list)

    def text_rows(self) -> list[list[str]]:
        return [[cell.text for cell in row] for row in self.rows]


# -- numbers ---------------------------------------------------------------------------------
def decimals_for(value: float) -> int:
    """Three significant digits for small figures, none past the point for large ones."""
    size = abs(value)
    if size == 0 or not math.isfinite(size):
        return 2
    if size >= 100:
        return 0
    if size >= 10:
        return 1
    if size >= 1:
        return 2
    return min(6, 2 - math.floor(math.log10(size)))


def number(value: float, decimals: int | None = None) -> str:
    places = decimals_for(value) if decimals is None else decimals
    return f"{value:,.{places}f}"


def figure_text(value: float | None, low: float | None, high: float | None, unit: str) -> str:
    """"12.3 [11.9, 12.8] ms": the bounds at the value's precision, so they line up, but never
    past three significant digits (a skewed interval such as latency's "0.926 [0.113, 34.1]")."""
    if value is None:
        return ""
    text = number(value)
    if low is not None and high is not None:
        text += f" {interval_text(low, high, decimals_for(value))}"
    return f"{text} {unit}".rstrip()


def interval_text(low: float, high: float, places: int | None = None) -> str:
    def bound(v: float) -> str:
        return number(v, decimals_for(v) if places is None else min(places, decimals_for(v)))

    return f"[{bound(low)}, {bound(high)}]"


def _absent_text(note: str) -> str:
    return NOT_MEASURABLE if "not measurable" in note.lower() else NOT_MEASURED


def _runs_tip(runs: Sequence[str]) -> str:
    if not runs:
        return ""
    shown = ", ".join(runs[:6]) + (f" and {len(runs) - 6} more" if len(runs) > 6 else "")
    return f"from run{'s' if len(runs) > 1 else ''} {shown}"


def ordered_frameworks(names: Iterable[str]) -> list[str]:
    """The frameworks in the app's usual order (jax, torch, tf), any other after them."""
    present = set(names)
    return [fw for fw in FRAMEWORKS if fw in present] + sorted(present - set(FRAMEWORKS))


# -- tables ----------------------------------------------------------------------------------
def metric_cell(cell: Cell | None, best: bool) -> ShownCell:
    if cell is None:
        return ShownCell(NOT_MEASURED, "absent", "this framework was not part of the sweep")
    if cell.value is None:
        return ShownCell(_absent_text(cell.note), "absent", cell.note or "no run measured this")
    tip = "\n".join(t for t in (("best: its interval separates it from every other framework" if best else ""),
                                cell.note, _runs_tip(cell.runs)) if t)
    return ShownCell(figure_text(cell.value, cell.low, cell.high, cell.unit), "best" if best else "", tip)


def metrics_table(card: Scorecard) -> ShownTable:
    """Rows: the metrics; columns: Metric, Measure, one per framework, and Best (the framework
    marked best, only where the scorecard says its interval separates it)."""
    frameworks = ordered_frameworks([*card.frameworks, *(fw for row in card.rows for fw in row.cells)])
    table = ShownTable(["Metric", "Measure", *frameworks, "Best"], 2)
    for row in card.rows:
        better = f"{row.better} is better"
        best = ShownCell(row.best, "best", "its interval separates it from every other framework", True) if row.best \
            else ShownCell("", "", "no framework's interval separates it from every other")
        table.rows.append([ShownCell(row.metric), ShownCell(row.label, "", better),
                           *(metric_cell(row.cells.get(fw), row.best == fw) for fw in frameworks), best])
    return table


def claims_table(card: Scorecard) -> ShownTable:
    table = ShownTable(["Claim", "Measured", "Interval", "Verdict", "Why"], 5)
    for claim in card.claims:
        interval = ""
        if claim.low is not None and claim.high is not None:
            places = decimals_for(claim.value) if claim.value is not None else None
            interval = f"{interval_text(claim.low, claim.high, places)} {claim.unit}".rstrip()
        runs = _runs_tip(claim.runs)
        table.rows.append([ShownCell(claim.claim), ShownCell(claim.measured, "", runs), ShownCell(interval),
                           ShownCell(claim.verdict, VERDICT_TONES.get(claim.verdict, ""), claim.why, True),
                           ShownCell(claim.why, "", claim.why)])
    return table


def compatibility_shares(card: Scorecard) -> dict[str, tuple[int, int]]:
    """Per framework: cells that ran here, of all its cells."""
    return {fw: (sum(bool(c.get("ok")) for c in cells), len(cells))
            for fw, cells in card.compatibility.items()}


def share_text(ok: int, total: int) -> str:
    return f"{ok}/{total} ({100 * ok / total:.0f} %)" if total else "0/0"


def compatibility_table(card: Scorecard) -> ShownTable:
    """Rows: workload × mode (× device when there are several); columns: each framework's
    variants; the last row, the share of each column's cells that run here. A framework's
    variant that was not probed for a row leaves its cell empty."""
    frameworks = ordered_frameworks(card.compatibility)
    devices = {str(c.get("device", "")) for cells in card.compatibility.values() for c in cells}
    fields = ("workload", "mode", "device") if len(devices) > 1 else ("workload", "mode")
    columns: list[tuple[str, str]] = []
    keys: list[tuple[str, ...]] = []
    found: dict[tuple[tuple[str, ...], tuple[str, str]], dict[str, Any]] = {}
    for fw in frameworks:
        for c in card.compatibility[fw]:
            column, key = (fw, str(c.get("variant", ""))), tuple(str(c.get(k, "")) for k in fields)
            columns += [column] if column not in columns else []
            keys += [key] if key not in keys else []
            found[(key, column)] = c
    table = ShownTable([name.capitalize() for name in fields] + [f"{fw} {variant}" for fw, variant in columns], len(fields))
    for key in sorted(keys):
        row = [ShownCell(part) for part in key]
        for column in columns:
            cell = found.get((key, column))
            if cell is None:
                row.append(ShownCell("", "", f"{' '.join(column)} was not tried here"))
            elif cell.get("ok"):
                row.append(ShownCell("runs", "ok", str(cell.get("reason") or "ran here"), True))
            else:
                row.append(ShownCell("fails", "fail", str(cell.get("reason") or "failed here, with no reason given"), True))
        table.rows.append(row)
    share_row = [ShownCell("runs here", "", "the share of the column's cells that ran")] + [ShownCell("")] * (len(fields) - 1)
    for column in columns:
        cells = [c for (_, col), c in found.items() if col == column]
        share_row.append(ShownCell(share_text(sum(bool(c.get("ok")) for c in cells), len(cells)), "", "", True))
    table.rows.append(share_row)
    return table


def compatibility_summary(card: Scorecard) -> str:
    """"Runs here: jax 6/6 (100 %) · torch 12/12 (100 %) · tf 10/12 (83 %)"."""
    shares = compatibility_shares(card)
    if not shares:
        return "No compatibility probe in this sweep yet."
    return "Runs here: " + " · ".join(f"{fw} {share_text(*shares[fw])}" for fw in ordered_frameworks(shares))


# -- plots -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScalingSeries:
    """One framework's fit for one purpose: the measured points, the fitted power law across
    them, and the band the exponent's interval spans (pivoting on the points' centre in log-log
    space, where the fitted line passes through)."""

    framework: str
    sizes: list[float]
    costs: list[float]
    line_x: list[float]
    line_y: list[float]
    band_low: list[float]
    band_high: list[float]
    legend: str


def exponent_text(exponent: float, low: float | None, high: float | None) -> str:
    text = f"b = {exponent:.2f}"
    return text + (f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else " (no interval: two points)")


def scaling_series(framework: str, fit: Mapping[str, Any], samples: int = 40) -> ScalingSeries | None:
    """None when the fit holds no usable points."""
    pairs = [(float(s), float(c)) for s, c in zip(fit.get("sizes", ()), fit.get("costs", ()), strict=False)
             if s and c and float(s) > 0 and float(c) > 0]
    exponent = fit.get("exponent")
    if not pairs or exponent is None:
        return None
    sizes, costs = [p[0] for p in pairs], [p[1] for p in pairs]
    b = float(exponent)
    log_x = np.log(sizes)
    centre_x = float(log_x.mean())
    centre_y = float(np.mean(np.log(costs) - b * (log_x - centre_x)))  # the least-squares line's value at the centre
    xs = np.exp(np.linspace(float(log_x.min()), float(log_x.max()), samples))
    line = np.exp(centre_y + b * (np.log(xs) - centre_x))
    low, high = fit.get("ci_low"), fit.get("ci_high")
    if low is not None and high is not None:
        ends = np.stack([np.exp(centre_y + float(e) * (np.log(xs) - centre_x)) for e in (low, high)])
        band_low, band_high = ends.min(axis=0).tolist(), ends.max(axis=0).tolist()
    else:
        band_low = band_high = []
    return ScalingSeries(framework, sizes, costs, xs.tolist(), line.tolist(), band_low, band_high,
                         f"{framework}: {exponent_text(b, low, high)}")


def scaling_for(card: Scorecard, purpose: str) -> list[ScalingSeries]:
    fits = card.fits.get(purpose, {})
    series = (scaling_series(fw, fits[fw]) for fw in ordered_frameworks(fits))
    return [s for s in series if s is not None]


@dataclass(frozen=True)
class LatencySpread:
    framework: str
    samples: list[float]
    p25: float
    p50: float
    p75: float
    p95: float
    p99: float


def latency_spreads(card: Scorecard) -> list[LatencySpread]:
    out = []
    for fw in ordered_frameworks(card.latency_samples):
        x = np.asarray(card.latency_samples[fw], dtype=float)
        x = x[np.isfinite(x) & (x > 0)]
        if x.size:
            p25, p50, p75, p95, p99 = (float(v) for v in np.percentile(x, [25, 50, 75, 95, 99]))
            out.append(LatencySpread(fw, x.tolist(), p25, p50, p75, p95, p99))
    return out


def absent_reason(card: Scorecard, row_key: str, default: str) -> str:
    """Why a plot drawn from row `row_key` is empty: the scorecard's own note for it."""
    row = next((r for r in card.rows if r.key == row_key), None)
    notes = [c.note for c in (row.cells.values() if row else ()) if c.value is None and c.note]
    return notes[0] if notes else default


def wrapped(text: str, width: int = 48) -> str:
    """Break a sentence into lines for a note inside a plot."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


def header_text(card: Scorecard) -> str:
    """The line above the tabs: device, versions, sweep; how busy the rest of the machine was; and
    what the scorecard says of the sweep as a whole (unfinished, stopped, failed points)."""
    versions = " · ".join(f"{fw} {card.versions[fw]}" for fw in ordered_frameworks(card.versions))
    parts = [f"Device: {card.device or 'unknown'}", versions, f"sweep {card.sweep_id}" if card.sweep_id else "no sweep yet"]
    failed = len(card.failed_points)
    parts.append(f"{failed} point{'s' if failed != 1 else ''} failed (hover for why)" if failed else "")
    text = " · ".join(p for p in parts if p)
    return "\n".join([text, *([card.machine] if card.machine else []), *card.notes])


def failures_tip(card: Scorecard) -> str:
    return "\n".join(f"{p.get('label', '?')} ({p.get('purpose', '')}): {p.get('reason') or 'no reason given'}"
                     for p in card.failed_points)


# -- the sweep -------------------------------------------------------------------------------
def unfinished_sweep(session_path: Path, plan: SweepPlan) -> tuple[int, int] | None:
    """(points finished, of all) of this plan's sweep that stopped or crashed in the session, which
    Run will resume; None when there is none (or no session file yet)."""
    if not session_path.exists():
        return None
    try:
        with Session.open_readonly(session_path) as session:
            for record in reversed(session.sweeps()):
                if record.plan_key == plan.key and record.status != "done":
                    points = session.sweep_points(record.sweep_id)
                    return sum(p.done for p in points), len(points)
    except SessionError:
        return None
    return None


def duration_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_text(status: SweepStatus) -> str:
    """What the line under the progress bar says: the point running now and the time left."""
    left = status.seconds_left()
    when = f"~{duration_text(left)} left" if left is not None else "time left: after the first point"
    failed = f" · {len(status.failed)} failed" if status.failed else ""
    if status.probing is not None:
        return f"now: probing what {status.probing} runs here (every workload × variant × mode, one step each)"
    if status.current is not None and status.current.done:  # stored; the next worker starts after the rebuild
        return f"point {status.current.point + 1} ({status.current.label}) {status.current.status}; updating the scorecard…"
    if status.current is not None:
        purpose = status.current.purpose.replace(",", ", ").replace("_", " ")
        what = f"{status.current.label}, for {purpose}" if purpose else status.current.label
        return f"now: {what} (point {status.current.point + 1}) · {when}{failed}"
    if status.stopped:
        return f"stopped ({status.stopped}): {status.finished} of {status.total} points kept; Run resumes{failed}"
    return f"done: {status.finished} of {status.total} points{failed}"
