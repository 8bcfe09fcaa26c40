"""The app's machines to run on (issue 18), Qt-free: "This machine" and the SSH targets the user
added (`ssh://[user@]host[:port]`, or `ssh://alias` for a Host of ~/.ssh/config), each read by
the executors' own parser (`SshTarget.parse`), so the list accepts exactly what `--on` accepts.

The dialog layer keeps `to_list()` in QSettings. No secret is ever kept: authentication is the
user's own SSH set-up (agent, keys, ~/.ssh/config), so there is no password to store, and a
target with one is refused. A connection test and a set-up run in child processes
(`check_argv`, `setup_argv`); `summarize_env` turns the test's output into the one line shown and
what each framework did there, which the run panel shows on its rows when "Run on" is that machine
(`framework_row`). The last test of each machine is kept with the list (`results_to_dict`), with
its time, so a result is never shown without its age.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gui.live.run_panel_model import FRAMEWORK_NAMES, FrameworkState

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
    """A connection test's outcome: `state` is "testing", "ok", "no-environment" or "failed";
    `frameworks`: what each framework did in the worker environment there (empty when the test
    did not get that far); `tested_at`: when it ended (time.time(), by default when it is made)."""

    state: str
    line: str
    python: str | None = None
    frameworks: dict[str, FrameworkState] = field(default_factory=dict, hash=False)
    tested_at: float | None = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "line": self.line, "python": self.python, "tested_at": self.tested_at,
                "frameworks": {fw: dict(s.__dict__) for fw, s in self.frameworks.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """As `to_dict` wrote it; ValueError/TypeError/KeyError for anything else (an edited file)."""
        frameworks = {str(fw): FrameworkState(**dict(s)) for fw, s in dict(data.get("frameworks") or {}).items()}
        tested_at = data.get("tested_at")
        return cls(str(data["state"]), str(data["line"]), data.get("python"), frameworks,
                   float(tested_at) if tested_at is not None else None)


# Called with the target whose test result changed (a test started or ended).
ResultListener = Callable[[str], None]


class MachinesModel:
    """The machines, in the order they were added; `results` holds each one's last test (set
    through `record`, so the dialog and the run panel both hear of it)."""

    def __init__(self, targets: list[str] | tuple[str, ...] = ()) -> None:
        self.targets: list[str] = []
        self.results: dict[str, CheckResult] = {}
        self._listeners: list[ResultListener] = []
        self.load(targets)

    def connect(self, listener: ResultListener) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: ResultListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def record(self, target: str, result: CheckResult) -> None:
        """Keep `result` as `target`'s last test (a machine removed meanwhile keeps nothing)."""
        if target in self.targets:
            self.results[target] = result
            for listener in list(self._listeners):
                listener(target)

    def not_importing(self, target: str, framework: str) -> str | None:
        """Why `framework` did not import on `target` at its last test; None when it did, or
        when nothing is known (never tested, or the test did not reach the environment)."""
        result = self.results.get(target)
        state = result.frameworks.get(framework) if result is not None else None
        if state is None or state.imports:
            return None
        return state.error or "does not import"

    def results_to_dict(self) -> dict[str, dict[str, Any]]:
        """The finished tests, as kept with the list (a test still running is not a result)."""
        return {t: r.to_dict() for t, r in self.results.items() if r.state != "testing" and t in self.targets}

    def load_results(self, stored: object) -> None:
        """Restore `results_to_dict()`'s output; entries unreadable or of machines not listed are dropped."""
        for target, data in (stored.items() if isinstance(stored, dict) else ()):
            if target in self.targets:
                try:
                    self.results[target] = CheckResult.from_dict(dict(data))
                except (ValueError, TypeError, KeyError):
                    pass

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


def summarize_env(exit_code: int, stdout: str, stderr: str, tested_at: float | None = None) -> CheckResult:
    """The test child's outcome as one line: the Python there, the frameworks and their versions
    and the GPU, or why not (a machine reached but not set up says so, and what to press); each
    framework's own finding with it. `tested_at`: when the test ended (default: now)."""
    tested_at = time.time() if tested_at is None else tested_at
    reports: list[dict[str, Any]] = []
    if exit_code == 0:
        try:
            reports = [r for r in json.loads(stdout) if isinstance(r, dict)]
        except (ValueError, TypeError):
            reports = []
    if not reports:
        reason = failure_line(stderr, exit_code)
        if NO_ENVIRONMENT in reason:
            return CheckResult("no-environment", "reached, but not set up for this version: press Set up…",
                               tested_at=tested_at)
        return CheckResult("failed", reason, tested_at=tested_at)
    found = [f"{FRAMEWORK_NAMES.get(r.get('framework', ''), r.get('framework'))} {r.get('version') or ''}".strip()
             for r in reports if r.get("imports") and not r.get("error")]
    missing = [FRAMEWORK_NAMES.get(r.get("framework", ""), str(r.get("framework"))) for r in reports
               if not r.get("imports") or r.get("error")]
    python = next((str(r["python_version"]) for r in reports if r.get("python_version")), None)
    parts = ([f"Python {python}"] if python else []) + [", ".join(found) if found else "no framework imports"]
    if missing:
        parts.append(f"not importing: {', '.join(missing)}")
    parts.append(gpu_text([str(d) for r in reports for d in r.get("devices") or []]))
    frameworks = {str(r.get("framework")): FrameworkState(
        bool(r.get("imports")) and not r.get("error"), r.get("version"), r.get("error"),
        [str(d) for d in r.get("devices") or []]) for r in reports}
    return CheckResult("ok" if found else "failed", " · ".join(parts), python, frameworks, tested_at)


def when_tested(tested_at: float | None, now: float) -> str:
    """"tested 5 min ago": how old a result is, in the unit a person would say."""
    if tested_at is None:
        return "tested at an unknown time"
    minutes = int(max(0.0, now - tested_at) // 60)
    if minutes < 1:
        return "tested just now"
    if minutes < 60:
        return f"tested {minutes} min ago"
    if minutes < 24 * 60:
        return f"tested {minutes // 60} h ago"
    days = minutes // (24 * 60)
    return f"tested {days} day{'s' if days > 1 else ''} ago"


def framework_row(target: str, result: CheckResult | None, framework: str, now: float) -> tuple[str, str]:
    """The run panel's (status text, tooltip) for `framework` when "Run on" is `target`: what its
    last test found there, never this machine's probe; "untested" until a test says."""
    if result is None:
        return "untested", f"{target} has not been tested: Test machine lists what its worker environment imports"
    if result.state == "testing":
        return "testing…", f"testing {target}: importing each framework in its worker environment"
    when = when_tested(result.tested_at, now)
    state = result.frameworks.get(framework)
    if state is None:  # the test never reached the environment: the reason, not a guess
        text = "not set up" if result.state == "no-environment" else "not reported" if result.frameworks else "test failed"
        return text, f"{target}: {result.line} ({when})"
    python = f"Python {result.python}, " if result.python else ""
    if state.imports:
        return state.version or "imports", f"on {target}: {python}devices: {', '.join(state.devices) or 'cpu'} ({when})"
    return "not importing", f"on {target}: {state.error or 'does not import'} ({when})"


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
