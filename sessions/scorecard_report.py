"""A scorecard as a document: the metric table, the claims, the fits, the compatibility grid, as
one neutral `compare_report.Report`, so `scorecard --markdown` / `--html` and the terminal table
read alike (the terminal prints the same tables with rich).
"""
from __future__ import annotations

from sessions.compare_report import Cell as DocCell
from sessions.compare_report import Report, Section, Table
from sessions.scorecard_model import Cell, Scorecard

BEST = "★"
VERDICT_TONES = {"holds": "good", "does not hold": "bad", "inconclusive": "same", "not measurable here": "same"}
FIT_TITLES = {"scale_data": "dataset size (time per epoch)", "scale_model": "parameter count (step time)",
              "scale_batch": "batch size (samples/s)"}
RULES = ("A cell is the median (or the named quantile) with its 95 % bootstrap interval, resampled run-first over "
         "repeats; one run of a per-run figure gives no interval. ★ marks a row's best only where its interval clears "
         "every other framework's. A claim holds when the whole interval of its ratio lies inside the claimed range, "
         "does not hold when it lies wholly outside, and is inconclusive when it straddles an end; the README "
         "(\"Framework scorecard\") gives each claim's range.")


def _digits(value: float) -> int:
    size = abs(value)
    return 0 if size >= 100 else 1 if size >= 10 else 2 if size >= 0.1 or size == 0 else 3


def number(value: float) -> str:
    return f"{value:,.{_digits(value)}f}" if value == value and abs(value) != float("inf") else "∞"


def cell_text(cell: Cell) -> str:
    """"12.3 ms (11.9–12.8)"; "—" for a cell without a value."""
    if cell.value is None:
        return "—"
    digits = _digits(cell.value)
    text = f"{cell.value:,.{digits}f}"
    if cell.low is not None and cell.high is not None and (cell.low != cell.value or cell.high != cell.value):
        text += f" ({cell.low:,.{digits}f}–{cell.high:,.{digits}f})"
    return f"{text} {cell.unit}".rstrip()


def metrics_table(card: Scorecard) -> tuple[Table, list[str]]:
    """Metric rows x framework columns, and the numbered notes of the cells without a value."""
    notes: list[str] = []
    rows = []
    for row in card.rows:
        cells = [DocCell(row.metric), DocCell(row.label)]
        for fw in card.frameworks:
            cell = row.cells.get(fw)
            if cell is None or cell.value is None:
                note = cell.note if cell is not None else "not part of the sweep"
                if note not in notes:
                    notes.append(note)
                cells.append(DocCell(f"— [{notes.index(note) + 1}]", "same"))
            else:
                best = row.best == fw
                cells.append(DocCell(cell_text(cell) + (f" {BEST}" if best else ""), "good" if best else ""))
        cells.append(DocCell(row.best or "", "good" if row.best else ""))
        rows.append(cells)
    table = Table(["metric", "measure", *card.frameworks, "best"], rows,
                  "Value (95 % interval); ★ the best, only where its interval separates it.", left=2)
    return table, notes


def claims_table(card: Scorecard) -> Table:
    rows = []
    for claim in card.claims:
        interval = f"{number(claim.low)}–{number(claim.high)} {claim.unit}" if claim.low is not None and \
            claim.high is not None else "—"
        rows.append([DocCell(claim.claim), DocCell(claim.measured), DocCell(interval),
                     DocCell(claim.verdict, VERDICT_TONES.get(claim.verdict, "")), DocCell(claim.why)])
    return Table(["claim", "measured", "95 % interval", "verdict", "why"], rows, left=5)


def fits_table(card: Scorecard) -> Table:
    rows = []
    for purpose, by_fw in card.fits.items():
        for fw, fit in by_fw.items():
            low, high = fit.get("ci_low"), fit.get("ci_high")
            points = ", ".join(f"{number(float(s))}: {number(float(c))}" for s, c in zip(fit["sizes"], fit["costs"],
                                                                                         strict=True))
            rows.append([DocCell(FIT_TITLES.get(purpose, purpose)), DocCell(fw), DocCell(f"{float(fit['exponent']):.3f}"),
                         DocCell(f"{low:.3f}–{high:.3f}" if low is not None and high is not None else "—"),
                         DocCell(f"{float(fit['r_squared']):.3f}"), DocCell(points)])
    return Table(["axis", "framework", "exponent b", "95 % interval", "R²", "points (size: cost)"], rows,
                 "cost = a · size^b fitted on log-log axes; the interval is a residual bootstrap (README).", left=2)


def compatibility_table(card: Scorecard) -> Table:
    rows = []
    for fw, cells in card.compatibility.items():
        ok = sum(bool(c.get("ok")) for c in cells)
        failures = "; ".join(f"{c['workload']} {c['variant']} {c['mode']} {c['device']}: {c.get('reason')}"
                             for c in cells if not c.get("ok"))
        rows.append([DocCell(fw), DocCell(card.versions.get(fw, "—")), DocCell(f"{ok} / {len(cells)}"),
                     DocCell(failures or "none", "" if failures else "good")])
    return Table(["framework", "version", "cells that run", "failures"], rows,
                 "Cells: workload × variant × mode × device, one tiny step each (the sweep's probe).", left=2)


def build_report(card: Scorecard, title: str = "Stepscope framework scorecard") -> Report:
    versions = ", ".join(f"{fw} {v}" for fw, v in card.versions.items()) or "unknown"
    head = [f"Session {card.session}, sweep {card.sweep_id}. Device: {card.device}. Versions: {versions}.",
            *([card.machine] if card.machine else []), *card.notes]
    metrics, notes = metrics_table(card)
    sections = [Section("Metrics", head, [metrics])]
    if notes:
        sections[0].paragraphs += [f"[{i}] {n}" for i, n in enumerate(notes, start=1)]
    sections.append(Section("Claims", [RULES], [claims_table(card)]))
    if any(card.fits.values()):
        sections.append(Section("Scalability fits", tables=[fits_table(card)]))
    sections.append(Section("Compatibility", tables=[compatibility_table(card)]) if card.compatibility else
                    Section("Compatibility", ["This sweep holds no compatibility probe."]))
    if card.failed_points:
        rows = [[DocCell(p["label"]), DocCell(p["purpose"]), DocCell(p.get("reason") or "")] for p in card.failed_points]
        sections.append(Section("Failed points", tables=[Table(["point", "purposes", "reason"], rows, left=3)]))
    return Report(title, sections)
