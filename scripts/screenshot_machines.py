r"""Remakes resources/screenshots/machines.png: Run → Machines… with two machines. One is a real
OpenSSH server on 127.0.0.1 (the tests' throw-away sshd, tests/executors/sshd.py, reached through
its ~/.ssh/config alias), set up with Set up… (this interpreter used as it is) and then tested
OK; the other a closed port, whose test fails in one line.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_machines.py [--out PATH]
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the QApplication is made, not at import
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from PySide6.QtWidgets import QApplication  # noqa: E402  (after the environment above)
from screenshot_common import save_screenshot  # noqa: E402  (beside this script: its folder is on the path)

from gui.app import make_app  # noqa: E402  (importable only after the sys.path insert above)
from gui.live.machines_dialog import MachinesDialog  # noqa: E402  (the same)
from gui.live.machines_model import MachinesModel  # noqa: E402  (the same)
from tests.executors.sshd import SshServer, start_server  # noqa: E402  (the same)


def wait(app: QApplication, condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    return condition()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shoot(app: QApplication, server: SshServer, out: Path) -> int:
    """The dialog on `server` (set up, then tested) and a closed port (tested), saved to `out`."""
    os.environ["HOME"] = str(server.home)  # the children reach the server through its ~/.ssh/config
    os.environ.pop("SSH_AUTH_SOCK", None)
    model = MachinesModel()
    dialog = MachinesDialog(model)
    dialog.resize(760, 560)
    dialog.show()
    dialog.add_edit.setText(server.target)
    dialog.add()
    dialog.python_edit.setText(sys.executable)  # this interpreter used there as it is: nothing installed
    dialog.set_up()
    if not wait(app, lambda: server.target in model.results and model.results[server.target].state != "testing", 300):
        print(f"the set-up and test did not finish: {dialog.status.text()}", file=sys.stderr)
        return 1
    closed = f"ssh://127.0.0.1:{closed_port()}"
    dialog.add_edit.setText(closed)
    dialog.add()
    dialog.test(closed)
    if not wait(app, lambda: dialog.job is None and closed in model.results, 60):
        return 1
    for target in (server.target, closed):
        print(f"{target}: {model.results[target].state}: {model.results[target].line}")
    dialog.select(server.target)
    dialog.status.setText(f"{server.target}: {model.results[server.target].line}")
    save_screenshot(app, dialog, out)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots" / "machines.png")
    args = parser.parse_args()
    app = make_app()
    with tempfile.TemporaryDirectory(prefix="stepscope-shot-") as tmp:
        with contextmanager(start_server)(Path(tmp) / "sshd") as server:  # stopped before its folder goes
            return shoot(app, server, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
