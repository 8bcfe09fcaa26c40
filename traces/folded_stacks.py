"""Sampled Python stacks (py-spy's `--format raw`, the "folded stacks" every flame-graph tool
reads: `outer (file:line);inner (file:line) COUNT` a line) as counts per stack, merged into a
call tree, and the hottest functions.

A sampled profile has no timeline, no steps and no ops, so it is not an EventTable: what it
answers is where the program's threads were, as shares of the samples. Framework-free.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from traces.table import TraceError

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Frame:
    """One frame as py-spy names it; `line` is None when it recorded none (--nolineno)."""

    function: str
    file: str = ""
    line: int | None = None

    @property
    def label(self) -> str:
        """"train_step (train.py:41)", or the bare text when it named no file."""
        if not self.file:
            return self.function
        return f"{self.function} ({self.file}:{self.line})" if self.line is not None else f"{self.function} ({self.file})"

    @property
    def function_label(self) -> str:
        """The frame without its line: what a flame graph merges on, so one function is one box."""
        return f"{self.function} ({self.file})" if self.file else self.function


NO_FRAME = Frame("<no Python frame>")


def parse_frame(text: str) -> Frame:
    match = _FRAME.match(text.strip())
    if match is None:
        return Frame(text.strip())
    line = match.group("line")
    return Frame(match.group("function"), match.group("file"), int(line) if line else None)


@dataclass
class StackProfile:
    """Samples per distinct stack (outermost frame first); `total` is every sample."""

    stacks: list[tuple[tuple[Frame, ...], int]]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.stacks)


def parse_folded(text: str, where: str = "stacks") -> StackProfile:
    """The folded-stacks text; a line that is not `STACK COUNT` is a TraceError naming it."""
    merged: Counter[tuple[Frame, ...]] = Counter()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        stack, _, count = raw.rstrip().rpartition(" ")
        if not count.isdigit():
            raise TraceError(where, f"line {number} is not folded stacks (`frame;frame COUNT`): {raw[:80]!r}")
        # py-spy --nonblocking writes a sample it caught between frames with an empty stack
        frames = tuple(parse_frame(part) for part in stack.split(";") if part.strip()) or (NO_FRAME,)
        merged[frames] += int(count)
    return StackProfile(sorted(merged.items(), key=lambda item: -item[1]))


def read_folded(path: Path) -> StackProfile:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise TraceError(path, f"cannot be read ({exc.strerror or exc})") from None
    return parse_folded(text, str(path))


@dataclass
class FlameNode:
    """One box of a flame graph: a function reached by one path, and its samples there (its
    children's included); `self_samples` are those where it was the innermost frame."""

    name: str
    samples: int = 0
    self_samples: int = 0
    children: dict[str, FlameNode] = field(default_factory=dict)

    def sorted_children(self) -> list[FlameNode]:
        """Heaviest first, then by name, so the picture is the same every time."""
        return sorted(self.children.values(), key=lambda node: (-node.samples, node.name))


def flame_tree(profile: StackProfile, by_line: bool = False) -> FlameNode:
    """The stacks merged into one tree under a root named "all"; frames of one function at
    different lines merge unless `by_line`."""
    root = FlameNode("all")
    for frames, count in profile.stacks:
        node = root
        node.samples += count
        for frame in frames:
            name = frame.label if by_line else frame.function_label
            node = node.children.setdefault(name, FlameNode(name))
            node.samples += count
        node.self_samples += count
    return root


@dataclass(frozen=True)
class HotFunction:
    """A function's samples: `self_samples` as the innermost frame, `total_samples` anywhere on
    the stack (a recursive function counts once per sample)."""

    name: str
    self_samples: int
    total_samples: int


def hottest_functions(profile: StackProfile, limit: int = 20) -> list[HotFunction]:
    """Functions by self samples, the most first (ties: by total, then name)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for frames, count in profile.stacks:
        if frames:
            own[frames[-1].function_label] += count
        for name in {frame.function_label for frame in frames}:
            anywhere[name] += count
    ranked = sorted(anywhere, key=lambda name: (-own[name], -anywhere[name], name))
    return [HotFunction(name, own[name], anywhere[name]) for name in ranked[:limit]]
