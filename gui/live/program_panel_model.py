"""The "Your program" form, Qt-free: its fields as typed, turned into a ProgramSpec, and the
programs run lately.

Apart from the widget so what a person types (a quoted argument, an environment line, a trace
window that ends before it starts) is checked, and its one-sentence error chosen, without Qt;
the widget only copies fields in and out. The recent list keeps whole forms, so choosing one
brings back its folder, variables and window too, not just the command.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from workloads.program import ProgramSpec
from workloads.spec import SpecError

MAX_RECENT = 10
WINDOWS = ("steps", "time", "off")  # trace steps A:B, trace at S for S seconds, no trace window
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EMPTY_COMMAND = "Enter the command that runs your program, e.g. python train.py --lr 3e-4."


def parse_command(text: str) -> tuple[str, ...]:
    """The command line split as a POSIX shell would (quotes group, backslashes escape)."""
    try:
        words = tuple(shlex.split(text))
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise SpecError(f"The command line cannot be split: {str(exc).lower()}.") from None
    if not words:
        raise SpecError(EMPTY_COMMAND)
    return words


def parse_env(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines (blank lines and `#` comments skipped, `export ` allowed, one pair of
    quotes around the value removed) as the variables the user adds to the program's environment."""
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not ENV_NAME.fullmatch(name):
            raise SpecError(f"Environment line {number} is not KEY=VALUE: {raw.strip()!r}.")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[name] = value
    return env


@dataclass
class ProgramForm:
    """The form's fields as typed. `batch_size` 0 is "unknown"; `cwd` empty is `default_cwd`."""

    command: str = ""
    cwd: str = ""
    env: str = ""
    name: str = ""
    batch_size: int = 0
    window: str = "steps"
    steps_from: int = 10
    steps_to: int = 13
    trace_at: float = 10.0
    trace_for: float = 2.0
    with_stack: bool = False

    def spec(self, default_cwd: str | None = None) -> ProgramSpec:
        """The ProgramSpec these fields describe, checked: SpecError with one sentence otherwise."""
        command = parse_command(self.command)
        env = parse_env(self.env)
        if self.window not in WINDOWS:
            raise SpecError(f"Unknown trace window {self.window!r}; choose steps, seconds or off.")
        steps = (self.steps_from, self.steps_to) if self.window == "steps" else None
        if steps is not None and not 0 <= steps[0] < steps[1]:
            raise SpecError(f"The trace window's steps {steps[0]}:{steps[1]} are empty: the last step must come "
                            "after the first (steps A, A+1 … B-1 are traced).")
        timed = self.window == "time"
        if timed and not (self.trace_at >= 0 and self.trace_for > 0):
            raise SpecError("The trace window needs a start of 0 s or more and a length above 0 s.")
        cwd = os.path.expanduser(self.cwd.strip()) or default_cwd or os.getcwd()
        if not os.path.isdir(cwd):
            raise SpecError(f"The working directory {cwd} does not exist.")
        if self.batch_size < 0:
            raise SpecError("The batch size must be positive, or unknown.")
        return ProgramSpec(command=command, cwd=os.path.abspath(cwd), env=env, name=self.name.strip() or None,
                           steps_window=steps, trace_at=self.trace_at if timed else None,
                           trace_for=self.trace_for if timed else None, batch_size=self.batch_size or None,
                           with_stack=self.with_stack).resolved()

    @property
    def title(self) -> str:
        """How the recent list shows it: the command, then its folder (home as ~)."""
        home = os.path.expanduser("~")
        cwd = self.cwd.strip()
        if cwd == home or cwd.startswith(home + os.sep):
            cwd = "~" + cwd[len(home):]
        return f"{self.command.strip()}  —  {cwd}" if cwd else self.command.strip()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> ProgramForm:
        """A form from stored values, each field kept only if it has the right type (an old or
        edited settings file never breaks the panel)."""
        form = cls()
        if isinstance(data, dict):
            for f in dataclasses.fields(cls):
                value, default = data.get(f.name), getattr(form, f.name)
                if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                if type(value) is type(default):
                    setattr(form, f.name, value)
        if form.window not in WINDOWS:
            form.window = "steps"
        return form


@dataclass
class RecentPrograms:
    """The last MAX_RECENT forms started, newest first, one per (command, folder)."""

    forms: list[ProgramForm] = field(default_factory=list)

    def remember(self, form: ProgramForm) -> None:
        key = _key(form)
        self.forms = [dataclasses.replace(form)] + [f for f in self.forms if _key(f) != key]
        del self.forms[MAX_RECENT:]

    def commands(self) -> list[str]:
        """The remembered command lines, newest first, each once (for the command's completer)."""
        return list(dict.fromkeys(f.command.strip() for f in self.forms))

    def to_json(self) -> str:
        return json.dumps([f.to_dict() for f in self.forms])

    @classmethod
    def from_json(cls, text: str) -> RecentPrograms:
        """The list stored by `to_json`; unreadable text reads as no programs, entries without a
        command are dropped."""
        try:
            data = json.loads(text)
        except ValueError:
            return cls()
        recent = cls()
        for item in reversed(data if isinstance(data, list) else []):
            form = ProgramForm.from_dict(item)
            if form.command.strip():
                recent.remember(form)
        return recent


def _key(form: ProgramForm) -> tuple[str, str]:
    """Two forms are one entry when they run the same words in the same folder."""
    try:
        words = " ".join(shlex.split(form.command))
    except ValueError:
        words = form.command.strip()
    return words, os.path.normpath(os.path.expanduser(form.cwd.strip())) if form.cwd.strip() else ""
