"""Executors: where a run's worker runs. `executor_for("ssh://gpu1")` picks one from an `--on`
target (docs/executors.md); the interface is in `profilers.executors.base`."""
from __future__ import annotations

from profilers.executors.base import Executor, ExecutorError, Launched, LaunchError

__all__ = ["Executor", "ExecutorError", "LaunchError", "Launched", "executor_for"]

TARGETS = "local, ssh://[user@]host[:port], ray, ray:auto or ray://ADDRESS"


def executor_for(text: str | None) -> Executor:
    """The executor an `--on` target names; ExecutorError (one line) for anything else. Each
    executor module is imported only when named, so a local run never loads asyncssh or Ray."""
    target = (text or "local").strip()
    if target == "local":
        from profilers.executors.local import LocalExecutor
        return LocalExecutor()
    if target.startswith("ssh://"):
        from profilers.executors.ssh import SshExecutor
        return SshExecutor.from_target(target)
    if target == "ray" or target.startswith(("ray:", "ray://")):
        from profilers.executors.ray import RayExecutor  # helper C's module
        return RayExecutor.from_target(target)
    raise ExecutorError(f"unknown --on target {target!r}: use {TARGETS}")
