"""A comparison of runs as a document: Markdown for a pull request or an issue, and one
self-contained HTML file (inline CSS, no scripts, no external assets) to mail or attach.

Both are rendered from one neutral `Report` (sections of paragraphs and tables), so the two
formats never disagree, and the GUI's "Save report…" writes exactly what `compare --html` and
`compare --markdown` write. Qt-free.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessions.compare import METRICS, RunComparison
from sessions.formatting import format_value
from sessions.store import Session, SessionError
from sessions.traces import load_trace
from traces.op_diff import OpDiff, op_diff
from traces.table import EventTable

OP_LIMIT = 15  # op-diff rows per pair in a report: the biggest changes; the rest are in the GUI
FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}


@dataclass
class Cell:
    """A table cell; `tone` ("good", "bad", "same") colours it in HTML and is dropped in Markdown."""

    text: str
    tone: str = ""


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    left: int = 1  # how many leading columns hold text (left-aligned); the rest are numbers

    def align(self, column: int) -> str:
        return "left" if column < self.left else "right"


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class Report:
    title: str
    sections: list[Section]


# -- where the runs and their traces are -------------------------------------------------
def run_sources(refs: Sequence[str]) -> list[tuple[Path, str]]:
    """(session path, run id) per run, in the order `sessions.compare.load_runs` reads them."""
    sources: list[tuple[Path, str]] = []
    for ref in refs:
        path_text, _, run_id = ref.partition(":") if not Path(ref).exists() else (ref, "", "")
        path = Path(path_text)
        if run_id:
            sources.append((path, run_id))
            continue
        with Session.open_readonly(path) as session:
            sources.extend((path, record.run_id) for record in session.runs())
    return sources


def load_run_trace(path: Path, run_id: str) -> EventTable | None:
    """A run's stored trace, None when it ran without a trace window; SessionError when the
    file or the stored trace cannot be read."""
    with Session.open_readonly(path) as session:
        if session.trace(run_id) is None:
            return None
        return load_trace(session, run_id)[0]


def op_diffs_against_baseline(sources: Sequence[tuple[Path, str]], labels: Sequence[str]) -> list[OpDiff | str]:
    """For each run after the first: its op diff against the first, or a sentence saying why
    there is none (a run without a trace, an unreadable trace)."""
    if len(sources) < 2:
        return []
    try:
        base = load_run_trace(*sources[0])
    except SessionError as exc:
        return [f"No op diff: the baseline's trace cannot be read ({exc})."] * (len(sources) - 1)
    if base is None:
        return [f"No op diff: the baseline {labels[0]} has no stored trace (it ran without a trace window, "
                "or stopped before it)."] * (len(sources) - 1)
    out: list[OpDiff | str] = []
    for (path, run_id), label in zip(sources[1:], labels[1:], strict=True):
        try:
            table = load_run_trace(path, run_id)
        except SessionError as exc:
            out.append(f"No op diff for {label}: {exc}")
            continue
        if table is None:
            out.append(f"No op diff for {label}: it has no stored trace (it ran without a trace window, or stopped before it).")
        else:
            out.append(op_diff(base, table, baseline_label=labels[0], other_label=label))
    return out


# -- building the document ---------------------------------------------------------------
def run_title(record: dict[str, Any]) -> str:
    """"torch eager · convnet train · batch 8": what a reader needs to tell runs apart."""
    parts = [f"{record.get('framework') or '?'} {record.get('variant') or ''}".strip(),
             f"{record.get('workload') or ''} {record.get('mode') or ''}".strip()]
    if record.get("batch_size"):
        parts.append(f"batch {record['batch_size']}")
    return " · ".join(p for p in parts if p)


def verdict_tone(verdict: str | None) -> str:
    return {"faster": "good", "slower": "bad"}.get(verdict or "", "same")


def repeats_text(record: dict[str, Any]) -> str:
    """"3 runs, median 12.41 ms (95 % CI 12.02 … 12.95)" for a group of repeats; "1 run" for a lone run."""
    count = record.get("run_count") or 1
    if count == 1:
        return "1 run"
    interval = record.get("step_ms_median_ci")
    ci = f" (95 % CI {interval[0]:.2f} … {interval[1]:.2f})" if interval else ""
    return f"{count} runs, median {format_value(record.get('step_ms_median'))} ms{ci}"


def metrics_table(comparison: RunComparison) -> Table:
    """Metric rows × run columns; a first row with each column's run count and pooled interval
    when any column pools repeats."""
    runs = comparison.runs
    rows = []
    if any(run.run_count > 1 for run in runs):
        rows.append([Cell("runs pooled (median step time, run-first CI)")] + [Cell(repeats_text(r.record)) for r in runs])
    for key, title, better in METRICS:
        cells = [Cell(title)]
        for i, (run, delta) in enumerate(zip(runs, comparison.deltas(key), strict=True)):
            text = format_value(run.record.get(key), 3 if key in ("final_loss", "accuracy") else 2)
            tone = ""
            if i and delta is not None:
                text += f" ({delta:+.1f} %)"
                tone = "same" if abs(delta) < 2.0 else "good" if (delta < 0) == (better == "lower") else "bad"
            cells.append(Cell(text, tone))
        rows.append(cells)
    header = ["metric"] + [f"{run_title(r.record)} ({r.label})" + (" — baseline" if i == 0 else "")
                           for i, r in enumerate(runs)]
    return Table(header, rows, "Deltas are relative to the baseline (the first column).")


def step_time_table(comparison: RunComparison) -> Table:
    rows = []
    for run, cmp in zip(comparison.runs[1:], comparison.step_time[1:], strict=True):
        if cmp is None:
            rows.append([Cell(run.label), Cell("—"), Cell("—"), Cell("no measured steps on one side", "same")])
            continue
        rows.append([Cell(run.label), Cell(f"{cmp.ratio:.3f} ({cmp.delta_percent:+.1f} %)"),
                     Cell(f"{cmp.ci_low:.3f} … {cmp.ci_high:.3f}"), Cell(cmp.verdict, verdict_tone(cmp.verdict))])
    return Table(["run", "median step time ratio", "95 % CI of the ratio", "verdict"], rows,
                 "Ratio of median step times (other / baseline) with a bootstrap confidence interval; "
                 "a verdict only when the whole interval lies on one side of 1. Repeats of one spec are "
                 "pooled and resampled run-first, so run-to-run variance widens their interval.", left=1)


def environment_table(comparison: RunComparison) -> Table | None:
    differences = comparison.environment_differences()
    if not differences:
        return None
    rows = [[Cell(key)] + [Cell(format_value(v)) for v in values] for key, values in differences.items()]
    return Table(["field"] + [r.label for r in comparison.runs], rows, left=len(comparison.runs) + 1)


def op_diff_section(diff: OpDiff | str, limit: int = OP_LIMIT) -> Section:
    if isinstance(diff, str):
        return Section("Op differences", [diff])
    counts = diff.counts()
    section = Section(f"Op differences: {diff.other_label} against {diff.baseline_label}", [
        ", ".join(f"{n} {status}" for status, n in counts.items()) + f" (by {diff.measure} time; {diff.basis}; "
        f"changes under {diff.rel_threshold:.0%} or {diff.abs_threshold_ns / 1000:g} µs per step count as unchanged)."])
    if counts["added"] + counts["removed"] == len(diff.rows):
        section.paragraphs.append("The two traces share no op (different frameworks or compilers name their ops differently), "
                                  "so every op reads as added or removed: the table lists the largest of each side.")
    changed = diff.changed(limit)
    if not changed:
        section.paragraphs.append("No op changed beyond the noise thresholds.")
        return section
    rows = [[Cell(r.status, {"slower": "bad", "faster": "good"}.get(r.status, "same")), Cell(r.name), Cell(r.kind),
             Cell(f"{r.base_count:g} → {r.other_count:g}"), Cell(f"{r.base_ns / 1e6:,.3f}"), Cell(f"{r.other_ns / 1e6:,.3f}"),
             Cell(f"{r.delta_ns / 1e6:+,.3f}"), Cell("new" if r.delta_percent is None else f"{r.delta_percent:+.1f} %")]
            for r in changed]
    total = len(diff.changed())
    shown = f"the {len(changed)} largest of {total} changes" if total > len(changed) else "every change"
    section.tables.append(Table(["status", "op", "kind", "calls / step", "baseline ms / step", "other ms / step", "Δ ms / step",
                                 "Δ %"], rows, f"Ops by size of change ({shown}).", left=3))
    return section


def build_report(comparison: RunComparison, op_diffs: Sequence[OpDiff | str] = (), title: str = "Stepscope comparison",
                 op_limit: int = OP_LIMIT) -> Report:
    """The document for `comparison`; `op_diffs` holds one entry per run after the baseline."""
    base = comparison.runs[0]
    total = sum(run.run_count for run in comparison.runs)
    counted = f"{total} runs compared" + (f" in {len(comparison.runs)} groups (repeats of one spec pooled)"
                                          if total > len(comparison.runs) else "")
    sections = [
        Section("Runs", [f"Baseline: {run_title(base.record)} ({base.label}). {counted}."],
                [metrics_table(comparison)]),
    ]
    if len(comparison.runs) > 1:
        sections.append(Section("Step time against the baseline", tables=[step_time_table(comparison)]))
    env = environment_table(comparison)
    sections.append(Section("Environment differences", tables=[env]) if env else
                    Section("Environment differences", ["The environments are identical in every recorded field."]))
    sections.extend(op_diff_section(d, op_limit) for d in op_diffs)
    return Report(title, sections)


# -- rendering ---------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for table in section.tables:
            lines.append("| " + " | ".join(_md_cell(h) for h in table.header) + " |")
            lines.append("|" + "|".join("---" if table.align(i) == "left" else "--:" for i in range(len(table.header))) + "|")
            lines += ["| " + " | ".join(_md_cell(c.text) for c in row) + " |" for row in table.rows]
            lines.append("")
            if table.caption:
                lines += [f"*{table.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #1f2328; background: #fff; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: right; vertical-align: top; }
th { background: #f6f8fa; } .left { text-align: left; }
.good { color: #116329; background: #dafbe1; } .bad { color: #a40e26; background: #ffebe9; } .same { color: #57606a; }
.caption { color: #57606a; font-size: .9em; }
@media (prefers-color-scheme: dark) {
  body { color: #e6edf3; background: #0d1117; } th { background: #161b22; } th, td { border-color: #30363d; }
  .good { color: #7ee787; background: #12261e; } .bad { color: #ffa198; background: #2d1214; } .same, .caption { color: #8b949e; }
}
"""


def to_html(report: Report) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{e(report.title)}</title>",
           f"<style>{_CSS}</style>", "</head>", "<body>", f"<h1>{e(report.title)}</h1>"]
    for section in report.sections:
        out.append(f"<h2>{e(section.title)}</h2>")
        out += [f"<p>{e(p)}</p>" for p in section.paragraphs]
        for table in section.tables:
            out.append("<table>")
            header = "".join(f'<th class="{table.align(i)}">{e(h)}</th>' for i, h in enumerate(table.header))
            out.append(f"<tr>{header}</tr>")
            for row in table.rows:
                out.append("<tr>" + "".join(f'<td class="{(table.align(i) + " " + c.tone).strip()}">{e(c.text)}</td>'
                                            for i, c in enumerate(row)) + "</tr>")
            out.append("</table>")
            if table.caption:
                out.append(f'<p class="caption">{e(table.caption)}</p>')
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def render(report: Report, fmt_name: str) -> str:
    if fmt_name == "markdown":
        return to_markdown(report)
    if fmt_name == "html":
        return to_html(report)
    raise ValueError(f"a report is markdown or html, not {fmt_name!r}")


def write_report(path: Path | str, report: Report, fmt_name: str | None = None) -> Path:
    """Write `report` as Markdown or HTML (`fmt_name`, else from the suffix: .md or .html);
    SessionError with the file and reason when it cannot be written."""
    path = Path(path)
    chosen = fmt_name or FORMATS.get(path.suffix.lower())
    if chosen is None:
        raise SessionError(f"{path}: a report is .md or .html (or name the format), not {path.suffix or 'no suffix'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(report, chosen), encoding="utf-8")
    except OSError as exc:
        raise SessionError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    return path
