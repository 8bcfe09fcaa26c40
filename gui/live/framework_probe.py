"""Checks which frameworks import, in the background, one probe process at a time.

Importing TensorFlow takes seconds, and the GUI process must never import a framework, so each
check is `profilers.framework_check.probe_framework` (its own interpreter) on a daemon thread; the window
shows "checking…" until `on_report` arrives (called on the probe thread).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from profilers.framework_check import FrameworkReport, probe_framework


class FrameworkProbe:
    def __init__(self, frameworks: Sequence[str], on_report: Callable[[FrameworkReport], None]) -> None:
        self.frameworks = list(frameworks)
        self._on_report = on_report
        self._thread = threading.Thread(target=self._run, name="stepscope-framework-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        # torch first: it imports fastest, so the common case is runnable soonest.
        for framework in sorted(self.frameworks, key=lambda fw: ("torch", "jax", "tf").index(fw)):
            try:
                report = probe_framework(framework, quick=True)
            except Exception as exc:  # the probe itself broke: say so on that framework's row
                report = FrameworkReport(framework, error=f"the compatibility probe failed: {exc}")
            self._on_report(report)
