"""The walls of DESIGN.md, checked: Qt only in gui/, frameworks only in workers."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = {"torch", "jax", "jaxlib", "tensorflow", "keras", "optax"}
QT = {"PySide6", "pyqtgraph", "shiboken6"}
# The only modules allowed to import a framework: they run inside a worker process.
FRAMEWORK_HOMES = ("workloads/", "profilers/torch_hooks.py", "profilers/jax_hooks.py", "profilers/tf_hooks.py")


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def project_files() -> list[Path]:
    return [p for p in ROOT.rglob("*.py") if ".venv" not in p.parts and "tests" not in p.parts and "bench" not in p.parts]


def test_only_gui_imports_qt() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in project_files()
                 if not p.relative_to(ROOT).as_posix().startswith("gui/") and imported_roots(p) & QT]
    assert not offenders, f"Qt imported outside gui/: {offenders}"


def test_frameworks_are_imported_only_by_worker_side_modules() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in project_files()
                 if imported_roots(p) & FRAMEWORKS and not p.relative_to(ROOT).as_posix().startswith(FRAMEWORK_HOMES)]
    assert not offenders, f"framework imported outside the worker-side modules: {offenders}"


def test_the_gui_side_process_loads_no_framework() -> None:
    code = (
        "import sys, main, gui.live.live_plot, profilers.runner, cli.run, profilers.compat\n"
        "from workloads import registry, data\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in %r)\n"
        "print(','.join(loaded))" % FRAMEWORKS
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"the GUI-side process imported: {proc.stdout.strip()}"
