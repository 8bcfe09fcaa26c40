"""A throw-away OpenSSH server on 127.0.0.1 for the executor tests: its own host key, a user key
in a fake HOME (`~/.ssh/config` names it `stepscope-test`), authorized keys and the remote root
(`STEPSCOPE_REMOTE_ROOT`, set by the server) in the test's tmp directory. Skipped only where
no sshd binary exists (scripts/setup.sh installs openssh-server)."""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

ALIAS = "stepscope-test"
SSHD = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.path.exists(p)), None)


@dataclass
class SshServer:
    proc: subprocess.Popen[bytes]
    port: int
    home: Path  # the fake HOME whose ~/.ssh/config and keys reach the server
    remote_root: Path
    user: str

    @property
    def target(self) -> str:
        return f"ssh://{ALIAS}"

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment a `stepscope` subprocess needs to reach this server, and only it."""
        env = {key: value for key, value in os.environ.items() if key != "SSH_AUTH_SOCK"}
        env["HOME"] = str(self.home)
        return env

    def kill(self) -> None:
        """Kill every sshd process of this server (the listener and each connection's), as a
        crash or a dropped network would, leaving the processes they started."""
        try:
            tree = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for process in tree:
            try:
                if process.name().startswith("sshd"):
                    process.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def start_server(tmp: Path) -> Iterator[SshServer]:
    if SSHD is None:
        pytest.skip("no sshd binary (scripts/setup.sh installs openssh-server)")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # OpenSSH's privilege separation directory
    tmp.mkdir(parents=True, exist_ok=True)
    home, remote_root = tmp / "home", tmp / "remote"
    (home / ".ssh").mkdir(parents=True)
    remote_root.mkdir()
    host_pub = _keygen(tmp / "host_key")
    (tmp / "authorized_keys").write_text(_keygen(home / ".ssh" / "id_ed25519") + "\n")
    port, user = _free_port(), getpass.getuser()
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_pub.split()[:2])}\n")
    (home / ".ssh" / "config").write_text(
        f"Host {ALIAS}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n"
        f"  IdentityFile {home}/.ssh/id_ed25519\n  IdentitiesOnly yes\n")
    config = tmp / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {tmp / 'host_key'}",
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}", f"PidFile {tmp / 'sshd.pid'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no", "Subsystem sftp internal-sftp",
        f"SetEnv STEPSCOPE_REMOTE_ROOT={remote_root}", "",
    ]))
    with open(tmp / "sshd.log", "wb") as log:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log)
    server = SshServer(proc, port, home, remote_root, user)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(tmp / 'sshd.log').read_text()[-2000:]}") from None
                time.sleep(0.05)
        yield server
    finally:
        if proc.poll() is None:
            server.kill()
