"""Which frameworks import and run here: one probe process per framework (`profilers.probe`).

Each framework is probed in its own interpreter (the caller, possibly the GUI, never imports
one), so a framework that fails to import or crashes only marks its own row.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from profilers.runner import PROJECT_ROOT

PROBE_TIMEOUT_S = 900.0

# Called with the framework and each JSON record as it arrives, so a caller can show progress.
OnRecord = Callable[[str, dict[str, Any]], None]


@dataclass
class FrameworkReport:
    """What one framework's probe found; `runs` are the probe's JSON `run` records as written."""

    framework: str
    imports: bool = False
    version: str | None = None
    error: str | None = None
    devices: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def probe_framework(framework: str, quick: bool, on_record: OnRecord | None = None, *, modes: tuple[str, ...] = ("train",),
                    devices: str = "auto", workloads: tuple[str, ...] = ()) -> FrameworkReport:
    """Probe `framework` in a fresh interpreter; a probe that cannot start, dies or times out
    is reported in `error`, so one broken framework never stops the others being checked.
    `modes`, `devices` ("auto": the default device; "all": the CPU and any GPU) and `workloads`
    (empty: all) choose the cells a full probe runs (`profilers.probe`)."""
    report = FrameworkReport(framework)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "profilers.probe", "--framework", framework, "--modes", ",".join(modes),
               "--devices", devices] + (["--workloads", ",".join(workloads)] if workloads else [])
    command += ["--quick"] if quick else []
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
