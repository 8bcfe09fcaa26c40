"""`stepscope env`: the compatibility matrix, from one probe process per framework.

Each framework is probed in its own interpreter (`profilers.framework_check`), so a framework that fails
to import or crashes only marks its own row. With `--on ssh://...` the same probes run in the remote
machine's worker environment (`remote setup`), over SSH. `--json` gives each report the version of
the Python the probes ran in (`python_version`), there or here.
"""
from __future__ import annotations

import json
import platform
from typing import Any

from rich.console import Console
from rich.table import Table

from profilers.executors import ExecutorError
from profilers.framework_check import FrameworkReport, probe_framework
from workloads.spec import FRAMEWORKS


def env_command(quick: bool, as_json: bool, on: str = "local") -> int:
    console = Console(stderr=True)
    reports: list[FrameworkReport] = []
    python_version: str | None = platform.python_version()  # the probes here run in this interpreter
    if on != "local":
        try:
            reports, python_version = _remote_reports(on, quick, console)
        except ExecutorError as exc:
            console.print(f"stepscope env: {exc}", soft_wrap=True, markup=False)
            return 1
    with console.status("probing frameworks…") as status:
        def on_record(framework: str, record: dict[str, Any]) -> None:
            what = record.get("workload", record["check"])
            status.update(f"{framework}: {what} {record.get('variant', '')} {'ok' if record.get('ok', True) else 'failed'}")

        for framework in FRAMEWORKS if on == "local" else ():
            reports.append(probe_framework(framework, quick, on_record))
    if as_json:
        print(json.dumps([dict(r.to_dict(), python_version=python_version) for r in reports], indent=2))
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
                if run["ok"]:
                    result = f"[green]runs[/green] — {run['ms']:.0f} ms to build, compile and run one step"
                else:
                    result = f"[red]{run['error']}[/red]"
                matrix.add_row(r.framework, run["workload"], run["variant"], result)
        out.print(matrix)
    return 0


def _remote_reports(on: str, quick: bool, console: Console) -> tuple[list[FrameworkReport], str | None]:
    """The reports of the machine `on` names (ssh:// only: a Ray cluster has no one machine to probe),
    and the version of the worker environment's Python there (None if it would not say)."""
    if not on.startswith("ssh://"):
        raise ExecutorError(f"env --on takes an ssh:// target, not {on!r}")
    from profilers.executors.ssh import SshExecutor
    from profilers.executors.ssh_setup import find_environment, probe_environment

    executor = SshExecutor.from_target(on)
    with console.status(f"probing frameworks on {executor.target.host}…"):
        conn = executor.connect()
        try:
            reports = [FrameworkReport(**record) for record in probe_environment(conn, quick)]
            return reports, find_environment(conn).python_version  # as `remote setup` recorded it
        finally:
            conn.close()
