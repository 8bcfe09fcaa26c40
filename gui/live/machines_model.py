"""The app's machines to run on (issue 18), Qt-free: "This machine" and the SSH targets the user
added (`ssh://[user@]host[:port]`, or `ssh://alias` for a Host of ~/.ssh/config), each read by
the executors' own parser (`SshTarget.parse`), so the list accepts exactly what `--on` accepts.

The dialog layer keeps `to_list()` in QSettings. No secret is ever kept: authentication is the
user's own SSH set-up (agent, keys, ~/.ssh/config), so there is no password to store, and a
target with one is refused. A connection test and a set-up run in child processes
(`check_argv`, `setup_argv`); `summarize_env` turns the test's output into the one line shown.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gui.live.run_panel_model import FRAMEWORK_NAMES

ROOT = Path(__file__).resolve().parents[2]
LOCAL = "local"  # the `--on` target of this machine
LOCAL_LABEL = "This machine"
HINT = "type ssh://[user@]host[:port], or ssh://ALIAS for a Host of ~/.ssh/config"
NO_ENVIRONMENT = "no Stepscope worker environment"  # what `env --on` says before `remote setup`


def parse_machine(text: str) -> str:
    """The canonical target for `text` (`user@host` gets its `ssh://`); ValueError, one line, else."""
    text = text.strip()
    if not text:
        raise ValueError(HINT)
    if text.lower() in (LOCAL, LOCAL_LABEL.lower()):
        raise ValueError(f"{LOCAL_LABEL} is always listed")
    if "://" not in text:
        text = f"ssh://{text}"
    if not text.startswith("ssh://"):
        raise ValueError(f"{text!r} is not an SSH machine: {HINT} (Ray clusters: `sweep --on ray` on the command line)")
    # asyncssh loads with the parser: only once a machine is named, never at the app's start.
    from profilers.executors.base import ExecutorError
    from profilers.executors.ssh_connection import SshTarget
    try:
        return str(SshTarget.parse(text))
    except ExecutorError as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class CheckResult:
    """A connection test's outcome: `state` is "testing", "ok", "no-environment" or "failed"."""

    state: str
    line: str


class MachinesModel:
    """The machines, in the order they were added; `results` holds each one's last test."""

    def __init__(self, targets: list[str] | tuple[str, ...] = ()) -> None:
        self.targets: list[str] = []
        self.results: dict[str, CheckResult] = {}
        self.load(targets)

    def load(self, items: list[str] | tuple[str, ...]) -> list[str]:
        """Replace the list with `items` (as stored); the ones it skips (unreadable, repeated)."""
        self.targets, self.results, skipped = [], {}, []
        for item in items:
            try:
                self.add(str(item))
            except ValueError:
                skipped.append(str(item))
        return skipped

    def add(self, text: str) -> str:
        """Add the machine `text` names and return its target; ValueError (one line) if it cannot."""
        target = parse_machine(text)
        if target in self.targets:
            raise ValueError(f"{target} is already listed")
        self.targets.append(target)
        return target

    def remove(self, target: str) -> None:
        if target in self.targets:
            self.targets.remove(target)
            self.results.pop(target, None)

    def to_list(self) -> list[str]:
        return list(self.targets)

    def choices(self) -> list[tuple[str, str]]:
        """(label, target) for a "Run on" choice: this machine first."""
        return [(LOCAL_LABEL, LOCAL)] + [(target, target) for target in self.targets]


def label(target: str) -> str:
    return LOCAL_LABEL if target == LOCAL else target


def check_argv(target: str) -> list[str]:
    """The connection test: `env --on` lists the frameworks and devices of the worker environment
    there (a quick probe: each framework imported, nothing run), as JSON on stdout."""
    return [sys.executable, str(ROOT / "main.py"), "env", "--on", target, "--quick", "--json"]


def setup_argv(target: str, python: str | None = None) -> list[str]:
    """`remote setup`; `python`: an interpreter there to use as it is (nothing installed)."""
    return [sys.executable, str(ROOT / "main.py"), "remote", "setup", target] + (["--python", python] if python else [])


def summarize_env(exit_code: int, stdout: str, stderr: str) -> CheckResult:
    """The test child's outcome as one line: the frameworks there and their versions and the GPU,
    or why not (a machine reached but not set up says so, and what to press)."""
    reports: list[dict[str, Any]] = []
    if exit_code == 0:
        try:
            reports = [r for r in json.loads(stdout) if isinstance(r, dict)]
        except (ValueError, TypeError):
            reports = []
    if not reports:
        reason = failure_line(stderr, exit_code)
        if NO_ENVIRONMENT in reason:
            return CheckResult("no-environment", "reached, but not set up for this version: press Set up…")
        return CheckResult("failed", reason)
    found = [f"{FRAMEWORK_NAMES.get(r.get('framework', ''), r.get('framework'))} {r.get('version') or ''}".strip()
             for r in reports if r.get("imports") and not r.get("error")]
    missing = [FRAMEWORK_NAMES.get(r.get("framework", ""), str(r.get("framework"))) for r in reports
               if not r.get("imports") or r.get("error")]
    parts = [", ".join(found) if found else "no framework imports"]
    if missing:
        parts.append(f"not importing: {', '.join(missing)}")
    parts.append(gpu_text([str(d) for r in reports for d in r.get("devices") or []]))
    return CheckResult("ok" if found else "failed", " · ".join(parts))


def gpu_text(devices: list[str]) -> str:
    """The GPUs among the frameworks' device names ("cuda:0 NVIDIA H200", "gpu:0 ...", "GPU:0"),
    counted once (torch's names first: the most readable)."""
    for prefix in ("cuda:", "gpu:"):
        names = [d.split(" ", 1)[1] if " " in d else d for d in devices if d.lower().startswith(prefix)]
        if names:
            counts = {name: names.count(name) for name in names}
            return "GPU: " + ", ".join(f"{n} × {name}" if n > 1 else name for name, n in counts.items())
    return "no GPU (CPU only)"


def failure_line(stderr: str, exit_code: int) -> str:
    """A child's one line (`stepscope env: ...`, `stepscope remote setup: ...`), else its last
    line, else its exit code."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for prefix in ("stepscope env: ", "stepscope remote setup: "):
        ours = [line for line in lines if line.startswith(prefix)]
        if ours:
            return ours[-1].removeprefix(prefix)
    return lines[-1] if lines else f"the child process ended with exit code {exit_code}"
