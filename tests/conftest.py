"""Real runs recorded once per pytest session and shared between test modules: each costs a worker's
start-up and its framework's import (seconds), and several modules need the same small traced run.
A module never gets the recorded file itself, only its own copy (`copy_session`), so a test that
writes into its session cannot change what another module reads."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The suite runs on every core at once (run-tests: pytest-xdist), and a framework sized for all of
# them stalls at each parallel region while another test keeps a core busy: on 2 cores a torch MLP
# step took 168 ms with two intra-op threads beside one busy process, 2.4 ms with one thread. The
# tests check behaviour, not speed, so torch here and in every worker they start runs one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# A small convnet run with a two-step trace window: enough for op diffs, timelines and step windows.
TRACED_STEPS = 6  # measured steps
TRACED_RUN = ("--batch-size", "8", "--steps", str(TRACED_STEPS), "--warmup", "1", "--trace-steps", "2")
_OUT_DIRS = count()  # each run's profiler files in a folder of their own


def record_cli_run(session: Path, framework: str, *extra: str, timeout: float = 300) -> None:
    """One `main.py run` of `framework` with TRACED_RUN (and `extra`) appended to `session`."""
    proc = subprocess.run([sys.executable, "main.py", "run", "--framework", framework, *TRACED_RUN, "--session",
                           str(session), "--out-dir", str(session.parent / f"out{next(_OUT_DIRS)}"), *extra],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"session: {session}" in proc.stderr


def copy_session(source: Path, target: Path) -> Path:
    """`source` copied to `target` as a file of its own. Every recorder folds its WAL into the file
    when its run ends, so the file alone holds the runs; a leftover WAL would mean it does not."""
    wal = source.with_name(source.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, f"{source} still has a WAL: a writer did not finish"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return target


@pytest.fixture(autouse=True)
def _garbage_collected_in_the_gui_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Qt tests collect Python's garbage in the GUI thread only, as the app does
    (gui/gui_thread_gc.py): a collection in an inspector's analysis thread once freed a closed
    window's menu there and deadlocked the test process. Back on after each, with one full
    collection here, so tests without Qt in the same process keep the usual collector."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("qapp")
    from gui import gui_thread_gc

    gui_thread_gc.start()
    try:
        yield
    finally:
        gui_thread_gc.stop()


@pytest.fixture(scope="session")
def traced_run_session(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """framework -> a session file holding one real TRACED_RUN of it (with evaluation), recorded on
    first use. Read-only by convention: copy it (`copy_session`) before opening or adding to it."""
    recorded: dict[str, Path] = {}

    def session_of(framework: str) -> Path:
        if framework not in recorded:
            path = tmp_path_factory.mktemp(f"shared-{framework}") / f"{framework}.stepscope"
            record_cli_run(path, framework)
            recorded[framework] = path
        return recorded[framework]
    return session_of
