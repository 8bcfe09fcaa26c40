"""The flame graph of sampled stacks as boxes to draw: each function reached by one path is a
box as wide as its share of the samples, its callees stacked above it. Zooming into a box
makes it the full width (its callers stay as a thin strip below, to click back out). Qt-free:
the view only paints `boxes()`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from traces.folded_stacks import FlameNode, StackProfile, flame_tree, hottest_functions

MIN_WIDTH = 0.002  # boxes narrower than this share of the width are not drawn (about 2 px at 1000 px)


@dataclass(frozen=True)
class FlameBox:
    """One box: `x` and `width` as fractions of the view's width, `depth` 0 at the root."""

    x: float
    width: float
    depth: int
    name: str
    samples: int
    share: float  # of all samples
    path: tuple[str, ...]  # names from the root's child down to this box: what zooming remembers
    caller: bool = False  # drawn below the zoomed box: one of its callers


@dataclass
class FlameModel:
    """A profile, its tree, and the box zoomed into (`focus`, a path; empty: the whole profile)."""

    profile: StackProfile
    root: FlameNode = field(init=False)
    focus: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.root = flame_tree(self.profile)

    @property
    def total(self) -> int:
        return self.root.samples

    def node(self, path: tuple[str, ...]) -> FlameNode | None:
        node = self.root
        for name in path:
            child = node.children.get(name)
            if child is None:
                return None
            node = child
        return node

    def zoom(self, path: tuple[str, ...]) -> None:
        """Make the box at `path` the full width (an unknown path zooms out)."""
        self.focus = path if self.node(path) is not None else ()

    def reset(self) -> None:
        self.focus = ()

    def boxes(self, min_width: float = MIN_WIDTH) -> list[FlameBox]:
        """Every box wide enough to draw, root first: the focus's callers (full width, below),
        then the focus and everything it called."""
        total = max(1, self.root.samples)
        focus = self.node(self.focus) or self.root
        out: list[FlameBox] = [FlameBox(0.0, 1.0, 0, "all", self.root.samples, 1.0, (), caller=bool(self.focus))]
        node = self.root
        for depth, name in enumerate(self.focus, start=1):
            node = node.children[name]
            out.append(FlameBox(0.0, 1.0, depth, name, node.samples, node.samples / total, self.focus[:depth],
                                caller=depth < len(self.focus)))
        scale = 1.0 / max(1, focus.samples)

        def add(parent: FlameNode, x: float, depth: int, path: tuple[str, ...]) -> None:
            for child in parent.sorted_children():
                width = child.samples * scale
                if width >= min_width:
                    child_path = (*path, child.name)
                    out.append(FlameBox(x, width, depth, child.name, child.samples, child.samples / total, child_path))
                    add(child, x, depth + 1, child_path)
                x += width

        add(focus, 0.0, len(self.focus) + 1, self.focus)
        return out

    def depth(self) -> int:
        return max((box.depth for box in self.boxes()), default=0) + 1

    def hottest(self, limit: int = 50) -> list[tuple[str, float, float]]:
        """(function, own share, share anywhere on the stack), the most own samples first."""
        total = max(1, self.profile.total)
        return [(hot.name, hot.self_samples / total, hot.total_samples / total)
                for hot in hottest_functions(self.profile, limit)]
