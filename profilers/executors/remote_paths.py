"""Where a remote worker's files land here: an artifact keeps its place under the run's output
directory (a JAX profile is `plugins/profile/<ts>/<host>.xplane.pb`, and the trace readers look
for that shape), anything else goes in by its file name. Shared by the remote executors."""
from __future__ import annotations

from pathlib import Path, PurePosixPath


def local_copy_path(remote_path: str, remote_out_dir: str, local_dir: Path) -> Path:
    """The local path for `remote_path`; never outside `local_dir`, whatever the far side sent."""
    remote = PurePosixPath(remote_path)
    try:
        relative = remote.relative_to(PurePosixPath(remote_out_dir))
    except ValueError:
        relative = PurePosixPath(remote.name)
    if not relative.parts or ".." in relative.parts:
        relative = PurePosixPath(remote.name or "artifact")
    return local_dir.joinpath(*relative.parts)
