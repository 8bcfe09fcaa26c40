"""`attach --pid`'s answer in the terminal: the sampled stacks as a call tree (a flame graph
turned on its side, boxes under MIN_SHARE of the samples folded into one line) and the
functions with the most samples of their own."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from traces.folded_stacks import FlameNode, StackProfile, flame_tree, hottest_functions

MIN_SHARE = 0.02  # a branch under 2 % of the samples is summed into "… N more"
MAX_DEPTH = 60


def stack_tree(profile: StackProfile, title: str, min_share: float = MIN_SHARE) -> Tree:
    root = flame_tree(profile)
    total = max(1, root.samples)
    tree = Tree(f"[bold]{title}[/]: {root.samples:,} samples")

    def add(branch: Tree, node: FlameNode, depth: int) -> None:
        shown = [child for child in node.sorted_children() if child.samples / total >= min_share]
        hidden = node.sorted_children()[len(shown):]
        for child in shown:
            label = f"{100 * child.samples / total:5.1f}%  {child.name}"
            sub = branch.add(label)
            if depth < MAX_DEPTH:
                add(sub, child, depth + 1)
        if hidden:
            rest = sum(child.samples for child in hidden)
            branch.add(f"[dim]{100 * rest / total:5.1f}%  … {len(hidden)} more, each under {100 * min_share:g}%[/]")

    add(tree, root, 0)
    return tree


def hot_table(profile: StackProfile, limit: int) -> Table:
    total = max(1, profile.total)
    table = Table(title="hottest functions (own samples: the innermost frame)", title_justify="left")
    table.add_column("own", justify="right")
    table.add_column("anywhere", justify="right")
    table.add_column("function (file)")
    for hot in hottest_functions(profile, limit):
        table.add_row(f"{100 * hot.self_samples / total:.1f}%", f"{100 * hot.total_samples / total:.1f}%", hot.name)
    return table


def print_stacks(profile: StackProfile, title: str, limit: int = 15) -> None:
    console = Console()
    console.print(stack_tree(profile, title))
    console.print(hot_table(profile, limit))
