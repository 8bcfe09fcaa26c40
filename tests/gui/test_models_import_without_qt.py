"""Every gui/**/*_model.py imports without Qt, directly or through what it imports: the name
promises a model that tests and headless code can use with no display and no Qt at all.

Each model is imported in a fresh interpreter where PySide6, shiboken6 and pyqtgraph cannot be
imported (a meta-path finder ahead of all others hands them a loader that raises ImportError),
so an import that only happens to be cached elsewhere cannot hide one.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted(ROOT.glob("gui/**/*_model.py"))
QT_PACKAGES = ("PySide6", "shiboken6", "pyqtgraph")

# The child's program: block the Qt packages, then import the module named in argv[1].
IMPORT_WITHOUT_QT = f"""
import importlib
import importlib.abc
import importlib.machinery
import sys

BLOCKED = {QT_PACKAGES!r}


class RefusingLoader(importlib.abc.Loader):
    def create_module(self, spec):
        raise ImportError(f"{{spec.name}} is blocked in this test: a *_model module must not need Qt")

    def exec_module(self, module):
        raise ImportError(f"{{module.__name__}} is blocked in this test")


class QtBlocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            return importlib.machinery.ModuleSpec(name, RefusingLoader())
        return None


sys.meta_path.insert(0, QtBlocker())
importlib.import_module(sys.argv[1])
"""


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def import_without_qt(module: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", IMPORT_WITHOUT_QT, module], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_the_glob_finds_the_models() -> None:
    assert {p.stem for p in MODELS} >= {"live_model", "run_panel_model", "runs_model", "compare_model"}


def test_the_blocker_refuses_qt() -> None:
    """The check itself: a Qt view cannot be imported under the blocker."""
    proc = import_without_qt("gui.notification_view")
    assert proc.returncode != 0 and "PySide6" in proc.stderr and "blocked in this test" in proc.stderr


@pytest.mark.parametrize("path", MODELS, ids=module_name)
def test_model_imports_without_qt(path: Path) -> None:
    module = module_name(path)
    proc = import_without_qt(module)
    assert proc.returncode == 0, f"{module} needs Qt when imported (directly or through its imports):\n{proc.stderr[-3000:]}"
