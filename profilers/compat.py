"""`python main.py env`: the compatibility matrix, from one probe process per framework.

Each framework is probed in its own interpreter (the caller, possibly the GUI, never imports
one), so a framework that fails to import or crashes only marks its own row.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from profilers.runner import PROJECT_ROOT
from workloads.spec import FRAMEWORKS

PROBE_TIMEOUT_S = 900.0


@dataclass
class FrameworkReport:
    framework: str
    imports: bool = False
    version: str | None = None
    error: str | None = None
    devices: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def probe_framework(framework: str, quick: bool, on_record: Any = None) -> FrameworkReport:
    report = FrameworkReport(framework)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "profilers.probe", "--framework", framework] + (["--quick"] if quick else [])
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT_ROOT, env=env, text=True)
    except OSError as exc:
        report.error = f"could not start the probe: {exc}"
        return report
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record["check"] == "import":
            report.imports, report.version, report.error = record["ok"], record.get("version"), record.get("error")
        elif record["check"] == "devices":
            report.devices = record["devices"]
        elif record["check"] == "run":
            report.runs.append(record)
        if on_record is not None:
            on_record(framework, record)
    try:
        _, stderr = proc.communicate(timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
    if proc.returncode != 0 and report.error is None:
        last = [line for line in (stderr or "").splitlines() if line.strip()][-1:] or ["no output"]
        report.error = f"the probe exited with code {proc.returncode}: {last[0][:200]}"
    return report


def env_command(quick: bool, as_json: bool) -> int:
    console = Console(stderr=True)
    reports = []
    with console.status("probing frameworks…") as status:
        def on_record(framework: str, record: dict[str, Any]) -> None:
            what = record.get("workload", record["check"])
            status.update(f"{framework}: {what} {record.get('variant', '')} {'ok' if record.get('ok', True) else 'failed'}")

        for framework in FRAMEWORKS:
            reports.append(probe_framework(framework, quick, on_record))
    if as_json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
        return 0
    out = Console()
    table = Table(title="Frameworks")
    for column in ("framework", "version", "devices", "status"):
        table.add_column(column)
    for r in reports:
        table.add_row(r.framework, r.version or "—", "\n".join(r.devices) or "—",
                      "[green]imports[/green]" if r.imports and not r.error else f"[red]{r.error or 'does not import'}[/red]")
    out.print(table)
    if not quick:
        matrix = Table(title="Workloads × variants (one tiny step each, on the default device)")
        for column in ("framework", "workload", "variant", "result"):
            matrix.add_column(column)
        for r in reports:
            for run in r.runs:
                result = f"[green]runs[/green] — {run['ms']:.0f} ms to build, compile and run one step" if run["ok"] else f"[red]{run['error']}[/red]"
                matrix.add_row(r.framework, run["workload"], run["variant"], result)
        out.print(matrix)
    return 0
