"""Run a callback right after a module finishes importing, without importing it ourselves.

A finder first on `sys.meta_path` answers for the watched names only: it asks the other finders
for the real spec and wraps its loader, so the module runs exactly as it would have, and the
callback runs once it has fully executed (torch's `import torch` done, `torch.optim` ready). The
real loader is put back on the module afterwards, so nothing downstream sees the wrapper.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Callable

Callback = Callable[[ModuleType], None]


class _Loader(importlib.abc.Loader):
    def __init__(self, real: Any, name: str, watcher: ImportWatcher) -> None:
        self._real = real
        self._name = name
        self._watcher = watcher

    def __getattr__(self, attribute: str) -> Any:  # get_resource_reader, is_package, get_data, ...
        return getattr(self._real, attribute)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._real, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        self._watcher.in_progress.append(self._name)
        try:
            self._real.exec_module(module)
        finally:
            self._watcher.in_progress.remove(self._name)
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self._real
            spec = getattr(module, "__spec__", None)
            if spec is not None and spec.loader is self:
                spec.loader = self._real
        self._watcher.imported(self._name, module)


class ImportWatcher(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self._callbacks: dict[str, Callback] = {}
        self._busy: set[str] = set()
        self.in_progress: list[str] = []  # watched modules whose import is running, outermost first
        self._lock = threading.RLock()

    def importing(self, besides: tuple[str, ...]) -> bool:
        """Whether a watched module other than those in `besides` is being imported right now (so
        they come in as part of it: TensorFlow imports jax where jax is installed)."""
        return any(name not in besides for name in self.in_progress)

    def watch(self, name: str, callback: Callback) -> None:
        """`callback(module)` once `name` has been imported (at once if it already has been)."""
        module = sys.modules.get(name)
        if module is not None:
            callback(module)
            return
        self._callbacks[name] = callback

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._callbacks or fullname in self._busy:
            return None
        with self._lock:
            self._busy.add(fullname)
            try:
                spec = importlib.util.find_spec(fullname)
            except (ImportError, ValueError):
                return None
            finally:
                self._busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _Loader(spec.loader, fullname, self)
        return spec

    def imported(self, name: str, module: ModuleType) -> None:
        callback = self._callbacks.pop(name, None)
        if callback is not None:
            callback(module)


def install() -> ImportWatcher:
    watcher = ImportWatcher()
    sys.meta_path.insert(0, watcher)
    return watcher
