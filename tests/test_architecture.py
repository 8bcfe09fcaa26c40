"""The map and the walls of docs/architecture.md, checked.

The map: every event type of the event stream, every command of the command line, every
`report --json` field and every table of the session file is named in docs/architecture.md.
The walls: Qt only in gui/ (and the screenshot makers in scripts/), frameworks only in the
worker-side modules, and imports only from a lower room to a higher one, lazy imports included.
"""
from __future__ import annotations

import ast
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
FRAMEWORKS = {"torch", "jax", "jaxlib", "tensorflow", "keras", "tf_keras", "optax"}
QT = {"PySide6", "pyqtgraph", "shiboken6"}
# The only modules allowed to import a framework: they run inside a worker process (bench/standalone/
# holds the plain scripts the app is benchmarked against, each run as a process of its own).
# agent/'s hook modules run inside the user's own program, on the framework it imported; examples/ are
# the user-style programs that README shows.
AGENT_HOOKS = ("agent/stepscope_agent/torch_agent.py", "agent/stepscope_agent/jax_agent.py",
               "agent/stepscope_agent/torch_capture.py",
               "agent/stepscope_agent/tf_agent.py", "agent/stepscope_agent/keras_agent.py", "agent/stepscope_agent/tf_capture.py")
FRAMEWORK_HOMES = ("workloads/", "profilers/torch_hooks.py", "profilers/jax_hooks.py", "profilers/tf_hooks.py",
                   "bench/standalone/", "bench/agent_step_cost/", "examples/", *AGENT_HOOKS)
QT_HOMES = ("gui/", "scripts/")
# Rooms by rank: a room imports only rooms of a lower rank (and itself); equal ranks never import each other.
RANKS = {"agent": 0, "workloads": 0, "traces": 0, "profilers": 1, "sessions": 2, "cli": 3, "gui": 3, "main": 4}


# ---------------------------------------------------------------------------------------------
# Reading imports


def imports_of(path: Path, package: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in the file, function-level ones included;
    relative imports are resolved against `package` (by default the file's own package)."""
    tree = ast.parse(path.read_text(), str(path))
    if package is None:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                assert node.module is not None
                yield node.lineno, node.module
            else:
                parts = package.split(".") if package else []
                base = parts[: len(parts) - node.level + 1]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def python_files(*, tests: bool = False) -> list[Path]:
    """The repository's Python files (not .venv; tests/ only when asked)."""
    files = []
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT).parts
        if parts[0].startswith(".") or (parts[0] == "tests" and not tests):
            continue
        files.append(p)
    return sorted(files)


def room_of(path: Path) -> str | None:
    parts = path.relative_to(ROOT).parts
    if parts == ("main.py",):
        return "main"
    return parts[0] if len(parts) > 1 and parts[0] in RANKS else None


def offences(files: list[Path], wanted: set[str], homes: tuple[str, ...]) -> list[str]:
    return [f"{rel(p)}:{line} imports {module}" for p in files if not rel(p).startswith(homes)
            for line, module in imports_of(p) if module.split(".")[0] in wanted]


def layer_violation(source: str, target: str) -> str | None:
    """Why room `source` may not import room `target`, or None if it may."""
    if source == target:
        return None
    if RANKS[target] > RANKS[source]:
        return f"a lower room ({source}, rank {RANKS[source]}) imports a higher one ({target}, rank {RANKS[target]})"
    if RANKS[target] == RANKS[source]:
        return f"{source} and {target} are side by side and never import each other"
    return None


# ---------------------------------------------------------------------------------------------
# The walls


def test_only_gui_and_scripts_import_qt() -> None:
    bad = offences(python_files(), QT, QT_HOMES)
    assert not bad, "Qt imported outside gui/ and scripts/ (docs/architecture.md, 'The import direction'):\n" + "\n".join(bad)


def test_frameworks_are_imported_only_by_worker_side_modules() -> None:
    bad = offences(python_files(), FRAMEWORKS, FRAMEWORK_HOMES)
    assert not bad, ("framework imported outside the worker-side modules (docs/architecture.md, 'The import direction'):\n"
                     + "\n".join(bad))


def test_imports_go_from_higher_rooms_to_lower_ones_only() -> None:
    bad = []
    for path in python_files():
        source = room_of(path)
        if source is None:
            continue
        for line, module in imports_of(path):
            target = module.split(".")[0]
            why = layer_violation(source, target) if target in RANKS else None
            if why:
                bad.append(f"{rel(path)}:{line} imports {module}: {why}")
    assert not bad, "imports against the room order (docs/architecture.md, 'The import direction'):\n" + "\n".join(bad)


def test_the_agent_loads_in_any_python_with_the_standard_library_only() -> None:
    """agent/ runs inside the user's interpreter (docs/programs.md): Python >= 3.9 syntax, and at
    import nothing but the standard library and itself; frameworks only in its hook modules."""
    files = sorted((ROOT / "agent").rglob("*.py"))
    assert files
    own = {"stepscope", "stepscope_agent", "sitecustomize", "agent"}
    bad = []
    for path in files:
        ast.parse(path.read_text(), str(path), feature_version=(3, 9))
        for line, module in imports_of(path):
            top = module.split(".")[0]
            if top in own or top in sys.stdlib_module_names or top == "__future__":
                continue
            if top in FRAMEWORKS and rel(path) in AGENT_HOOKS:
                continue
            bad.append(f"{rel(path)}:{line} imports {module}")
    assert not bad, "the agent imports beyond the standard library:\n" + "\n".join(bad)


def test_the_layer_rule_itself() -> None:
    """The rule the test above applies, pinned so that loosening RANKS is a visible change."""
    allowed = {("profilers", "workloads"), ("profilers", "traces"), ("sessions", "profilers"), ("cli", "sessions"),
               ("gui", "traces"), ("main", "cli"), ("main", "gui"), ("sessions", "sessions")}
    forbidden = {("traces", "workloads"), ("traces", "profilers"), ("workloads", "traces"), ("workloads", "profilers"),
                 ("profilers", "sessions"), ("sessions", "gui"), ("sessions", "cli"), ("cli", "gui"), ("gui", "cli"),
                 ("gui", "main"), ("cli", "main")}
    assert all(layer_violation(*pair) is None for pair in allowed)
    assert all(layer_violation(*pair) for pair in forbidden)


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` (module -> modules it imports) as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target, path)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module, [])):
            return found
    return None


def project_graph(room: str | None, lazy: bool) -> dict[str, set[str]]:
    """Project modules -> the project modules they import (`from pkg import mod` counts as pkg.mod);
    module-level imports only unless `lazy`, since a function-level import is how a cycle is broken."""
    files = [p for p in python_files() if room_of(p) is not None and (room is None or room_of(p) == room)]
    modules = {module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        nodes = ast.walk(tree) if lazy else iter(tree.body)
        targets: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_no_import_cycles() -> None:
    """No cycle among module-level imports anywhere, and none at all inside traces/ (lazy imports
    included): the trace model's modules form a plain stack, readers above decoders above the table."""
    assert import_cycle(project_graph(None, lazy=False)) is None, import_cycle(project_graph(None, lazy=False))
    assert import_cycle(project_graph("traces", lazy=True)) is None, import_cycle(project_graph("traces", lazy=True))


def test_the_cycle_finder_finds_one() -> None:
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert import_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_import_reader_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    sample = tmp_path / "probe.py"
    sample.write_text("import os\n\ndef f():\n    from profilers import runner\n    from .table import EventTable\n"
                      "    from .. import gui\n    import gui.app\n")
    found = [module for _, module in imports_of(sample, package="traces.sub")]
    assert found == ["os", "profilers", "traces.sub.table", "traces", "gui.app"]


# The GUI-side process: the app, the controller and the commands, with every module they may load.
# Named here: main, the controller and what the run panel reads of workloads/; the test adds every
# module of gui/, cli/, sessions/ and traces/ (gui.live.live_plot, cli.run, cli.env, sessions.record_run ...).
GUI_SIDE = ["main", "profilers.runner", "profilers.host_monitor", "workloads.registry", "workloads.data", "workloads.spec"]


def test_the_gui_side_process_loads_no_framework() -> None:
    rooms = ("gui", "cli", "sessions", "traces")
    every = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                   for room in rooms for p in (ROOT / room).rglob("*.py"))
    code = (
        "import importlib, sys\n"
        f"frameworks = {sorted(FRAMEWORKS)!r}\n"
        f"for name in {GUI_SIDE + every!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        sys.exit(f'{name} does not import: {type(exc).__name__}: {exc}')\n"
        "    loaded = sorted({m.split('.')[0] for m in sys.modules} & set(frameworks))\n"
        "    if loaded:\n"
        "        print(f'importing {name} loaded {loaded}')\n"
        "        break\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, f"a GUI-side module failed: {proc.stderr.strip()[-2000:]}"
    assert proc.stdout.strip() == "", f"the GUI-side process loaded a framework: {proc.stdout.strip()}"


# ---------------------------------------------------------------------------------------------
# The map


def section(title: str) -> str:
    """The text of docs/architecture.md under the `## title` heading, up to the next `## `."""
    text = DOC.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/architecture.md has no section '## {title}' (module docstrings cite it by that title)"
    return match.group(1)


def table_keys(text: str) -> set[str]:
    """The first-column names of the Markdown tables in `text`, e.g. `hello` from '| `hello` | ...'."""
    return {name for cell in re.findall(r"^\| *([^|]+?) *\|", text, re.M) for name in re.findall(r"`([^`]+)`", cell)}


def test_every_event_type_is_in_the_map() -> None:
    from profilers.protocol import EVENT_FIELDS

    text = section("The event stream")
    missing = sorted(set(EVENT_FIELDS) - table_keys(text))
    assert not missing, f"docs/architecture.md, 'The event stream', has no table row for event types {missing}"
    for kind, fields in EVENT_FIELDS.items():
        row = re.search(rf"^\| `{kind}` \|(.*)$", text, re.M)
        assert row is not None
        absent = [name for name in fields if f"`{name}`" not in row.group(1)]
        assert not absent, f"docs/architecture.md, 'The event stream': the `{kind}` row lacks fields {absent}"
    stale = sorted(table_keys(text) - set(EVENT_FIELDS) - {"type"})
    assert not stale, f"docs/architecture.md, 'The event stream', lists event types the protocol lacks: {stale}"


def subcommands() -> list[str]:
    import argparse

    from cli.parser import build_parser

    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert actions, "cli.parser.build_parser() has no sub-commands"
    return sorted(name for action in actions for name in action.choices)


def test_every_command_is_in_the_map() -> None:
    text = section("The command line")
    commands = subcommands()
    missing = sorted(set(commands) - table_keys(text))
    assert not missing, f"docs/architecture.md, 'The command line', has no table row for commands {missing}"
    stale = sorted(table_keys(text) - set(commands))
    assert not stale, f"docs/architecture.md, 'The command line', lists commands main.py lacks: {stale}"


def test_every_report_json_field_is_in_the_map() -> None:
    from sessions.headline import CONTRACT_FIELDS

    text = section("The command line")
    missing = [name for name in CONTRACT_FIELDS if f"`{name}`" not in text]
    assert not missing, f"docs/architecture.md, 'The command line', lacks `report --json` fields {missing}"


def test_every_session_table_is_in_the_map(tmp_path: Path) -> None:
    from sessions import schema

    conn = sqlite3.connect(":memory:")
    schema.migrate(conn, 0, tmp_path / "x.stepscope")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    text = section("The session file")
    missing = sorted(tables - table_keys(text))
    assert not missing, f"docs/architecture.md, 'The session file', has no table row for tables {missing}"
    assert f"**Schema version {schema.SCHEMA_VERSION}.**" in text, \
        f"docs/architecture.md, 'The session file', does not name schema version {schema.SCHEMA_VERSION}"


@pytest.mark.parametrize("title", ["The event stream", "The session file", "The command line"])
def test_the_sections_the_code_cites_exist(title: str) -> None:
    section(title)


def test_every_section_the_code_cites_exists() -> None:
    """Docstrings cite a section of the map by the file name, a comma and its title in quotes; each must exist."""
    cited = {(rel(p), title) for p in python_files(tests=True)
             for title in re.findall(r"docs/architecture\.md, [\"']([^\"']+)[\"']", p.read_text())}
    sections = set(re.findall(r"^## (.+)$", DOC.read_text(), re.M))
    missing = sorted(f"{path} cites '{title}'" for path, title in cited if title not in sections)
    assert not missing, "citations of docs/architecture.md sections it lacks:\n" + "\n".join(missing)


def test_every_test_the_fault_matrix_cites_exists() -> None:
    """docs/faults.md backs each row with tests: `tests/x.py` or `tests/x.py::name` (`::name` alone
    continues the previous file). Each must exist, so the matrix cannot cite a deleted test."""
    text = (ROOT / "docs" / "faults.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("|") and "tests/" in line]
    assert len(rows) >= 10
    missing = []
    for row in rows:
        current: Path | None = None
        for ref in re.findall(r"`((?:tests/[\w/]+\.py)?(?:::\w+)?)(?:\[[^\]]*\])?`", row.split("|")[-2]):
            path, _, name = ref.partition("::")
            if path:
                current = ROOT / path
            if current is None or not current.exists():
                missing.append(ref)
            elif name and not re.search(rf"^def {name}\(", current.read_text(), re.M):
                missing.append(f"{rel(current)}::{name}")
    assert not missing, f"docs/faults.md cites tests that do not exist: {missing}"
