"""`python main.py scorecard SESSION`: the framework scorecard of a scorecard sweep (`sweep
--preset scorecard-quick`): one table of metrics x frameworks, each a value with its interval and
the best marked where it is significant, then the claims; `--json` the model, `--html` /
`--markdown` a self-contained document (`sessions.scorecard_report`).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from sessions.compare_report import Table, write_report
from sessions.scorecard import build_scorecard
from sessions.scorecard_report import build_report
from sessions.store import SessionError

EXIT_OK, EXIT_USAGE = 0, 2
TONE_STYLES = {"good": "bold green", "bad": "red", "same": "dim"}


def scorecard_command(session: Path, sweep_id: str | None, as_json: bool, html: Path | None, markdown: Path | None) -> int:
    try:
        card = build_scorecard(session, sweep_id)
        report = build_report(card)
        for path, fmt in ((html, "html"), (markdown, "markdown")):
            if path is not None:
                write_report(path, report, fmt)
                print(f"wrote {path}", file=sys.stderr)
    except SessionError as exc:
        print(f"stepscope scorecard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if as_json:
        print(json.dumps(card.to_dict(), indent=2))
        return EXIT_OK
    if html is not None or markdown is not None:
        return EXIT_OK
    console = Console()
    if not console.is_terminal:  # a pipe or a file: wide enough for the table, not rich's 80 columns
        console = Console(width=170)
    for section in report.sections:
        console.rule(escape(section.title), align="left")
        for paragraph in section.paragraphs:
            console.print(escape(paragraph))
        for table in section.tables:
            console.print(_rich(table))
    return EXIT_OK


def _rich(table: Table) -> RichTable:
    """The document's table in the terminal: text columns wrap (kept at least 12 wide), a repeated
    first column (the metric's group) is shown once per group."""
    out = RichTable(caption=escape(table.caption) if table.caption else None, caption_justify="left")
    for i, header in enumerate(table.header):
        left = table.align(i) == "left"
        out.add_column(escape(header), justify="left" if left else "right", overflow="fold", min_width=12 if left else None)
    previous = None
    for row in table.rows:
        texts = [f"[{TONE_STYLES[c.tone]}]{escape(c.text)}[/]" if c.tone in TONE_STYLES else escape(c.text) for c in row]
        group = row[0].text
        if table.left > 1 and group == previous:
            texts[0] = ""
        out.add_row(*texts, end_section=False)
        previous = group
    return out
