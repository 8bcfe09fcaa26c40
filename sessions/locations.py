"""Where session files live: the default session, and the sessions beside it.

Kept apart from the file format so that listing or naming sessions never opens one.
"""
from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir

SUFFIX = ".stepscope"


def default_session_path() -> Path:
    """Where runs go when no session is named (not created here)."""
    return Path(user_data_dir("stepscope", appauthor=False)) / "sessions" / f"default{SUFFIX}"


def default_stacks_dir() -> Path:
    """Where `attach --pid` keeps sampled stacks (folded-stacks files, not runs): beside the sessions."""
    return default_session_path().parents[1] / "stacks"


def list_sessions(directory: Path | str | None = None) -> list[Path]:
    """The `.stepscope` files in a directory (default: next to the default session), newest first."""
    folder = Path(directory) if directory is not None else default_session_path().parent
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.suffix == SUFFIX and p.is_file()]
    return sorted(found, key=lambda p: (-p.stat().st_mtime, p.name))
