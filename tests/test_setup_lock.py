"""scripts/setup.sh runs one at a time per checkout: `./stepscope` and `./run-tests` started
together on a fresh clone must not install into one .venv and build into one build/ at once."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup.sh"


@pytest.mark.skipif(shutil.which("flock") is None, reason="no flock(1) here: setup takes no lock")
def test_a_second_setup_waits_for_the_first_and_says_so(tmp_path: Path) -> None:
    # the lock setup.sh takes: the checkout's physical path hashed as `pwd -P | sha256sum` does
    digest = hashlib.sha256((os.path.realpath(ROOT) + "\n").encode()).hexdigest()[:16]
    lock = tmp_path / f"stepscope-setup-{digest}.lock"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a first set-up, still running
        second = subprocess.Popen([str(SETUP)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert second.poll() is None, second.communicate()[1]  # it waits...
    _, err = second.communicate(timeout=120)  # ...and goes on once the first is done
    assert second.returncode == 0, err
    assert "setup: waiting for another set-up of this checkout to finish" in err
