from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.executors.sshd import SshServer, start_server


@pytest.fixture
def sshd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SshServer]:
    """A fresh server per test; this process's HOME points at its keys and ~/.ssh/config."""
    for server in start_server(tmp_path / "sshd"):
        monkeypatch.setenv("HOME", str(server.home))
        monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
        yield server
