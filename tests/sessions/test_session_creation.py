"""A new session appears whole: a reader polling for the file (`capture` waiting for a run, a
second window, `report`) never finds it half made. Before, the writer created the file in place,
so a reader could open it between WAL mode and the schema and be told "an empty SQLite database,
not a Stepscope session" (CI, stop 26)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sessions import session_file
from sessions.store import Session, SessionError

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 40

POLLER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sessions.store import Session, SessionError
    folder, count = Path(sys.argv[1]), int(sys.argv[2])
    deadline = time.monotonic() + 60
    pending = [folder / f"s{i}.stepscope" for i in range(count)]
    print("ready", flush=True)
    while pending and time.monotonic() < deadline:
        for path in list(pending):
            if not path.exists():
                continue
            try:
                with Session.open_readonly(path) as session:
                    session.runs()
            except SessionError as exc:
                print(exc, flush=True)
            pending.remove(path)
""")


@pytest.mark.timeout(120)
def test_a_reader_polling_for_new_sessions_never_finds_one_half_made(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with subprocess.Popen([sys.executable, "-c", POLLER, str(tmp_path), str(SESSIONS)], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as poller:
        assert poller.stdout is not None and poller.stdout.readline().strip() == "ready"
        for i in range(SESSIONS):
            Session.create_or_open(tmp_path / f"s{i}.stepscope").close()
            time.sleep(0.01)
        out, err = poller.communicate(timeout=90)
    assert poller.returncode == 0, err
    assert out == ""
    made = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm")))
    assert made == sorted(f"s{i}.stepscope" for i in range(SESSIONS))


def test_the_file_is_linked_into_place_only_with_its_schema_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "new.stepscope"
    seen: list[int] = []
    real_link = os.link

    def link(source: str | Path, target: str | Path) -> None:
        assert not path.exists()
        with Session.open_readonly(Path(source)) as made:
            seen.append(made.file_version)
        real_link(source, target)

    monkeypatch.setattr(os, "link", link)
    Session.create_or_open(path).close()
    assert seen and seen[0] > 0
    with Session.open_readonly(path) as session:
        assert session.runs() == []


def test_a_session_made_first_by_another_writer_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "raced.stepscope"
    real_link = os.link

    def link_after_the_other(source: str | Path, target: str | Path) -> None:
        monkeypatch.setattr(os, "link", real_link)
        Session.create_or_open(path).close()  # another writer makes the file first
        real_link(source, target)

    monkeypatch.setattr(os, "link", link_after_the_other)
    with Session.create_or_open(path) as session:
        assert session.runs() == []
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".new")] == []


def test_without_hard_links_the_session_is_made_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(source: str | Path, target: str | Path) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "plain.stepscope"
    with Session.create_or_open(path) as session:
        assert session.runs() == []
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == ["plain.stepscope"]


def test_a_full_disk_while_making_it_names_the_session_and_leaves_nothing(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(session_file.MAX_PAGES_ENV, "1")
    path = tmp_path / "full.stepscope"
    with pytest.raises(SessionError) as raised:
        Session.create_or_open(path)
    assert str(path) in str(raised.value) and ".new" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_a_new_session_has_the_mode_sqlite_gives_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "mode.stepscope"
    Session.create_or_open(path).close()
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644 & ~umask
