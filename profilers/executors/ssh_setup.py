"""The worker environment on a remote machine: what `stepscope remote setup ssh://...` installs and
what a run with `--on ssh://...` looks for.

Layout under the remote root (`~/.stepscope`, or `$STEPSCOPE_REMOTE_ROOT` there):
    <id>/code/         this checkout's worker code (profilers/, workloads/, traces/), copied over SFTP
    <id>/python        the interpreter to use, as plain text for the launch's shell
    <id>/ready.json    written last: the interpreter, what was installed, when
    venvs/<req-id>/    a virtualenv with the worker's packages, pinned by requirements.txt
    runs/<run-id>/     each run's output directory (removed once its artifacts are copied back)
`<id>` hashes requirements.txt and the code, so a run never meets a worker of another version;
the venv hashes requirements.txt only, so a code change re-copies 1 MB and reinstalls nothing.
"""
from __future__ import annotations

import hashlib
import io
import json
import shlex
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profilers.executors.base import ExecutorError
from profilers.executors.ssh_connection import SshConnection

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
REQUIREMENTS = PROJECT_ROOT / "requirements.txt"
CODE_DIRS = ("profilers", "workloads", "traces")
# What a worker imports (the GUI, the test and lint tools stay here), at requirements.txt's pins.
WORKER_PACKAGES = ("torch", "jax", "jaxlib", "optax", "tensorflow_cpu", "keras", "xprof", "numpy", "scipy",
                   "scikit-learn", "psutil", "nvidia-ml-py", "typing_extensions")
# Importable with the worker's packages; what a --python interpreter must at least have.
CORE_MODULES = ("numpy", "psutil", "typing_extensions")
ROOT_SHELL = '"${STEPSCOPE_REMOTE_ROOT:-$HOME/.stepscope}"'
INSTALL_TIMEOUT_S = 3600.0


def code_files() -> list[Path]:
    """The worker's source files, relative to the project root, sorted."""
    return sorted(path.relative_to(PROJECT_ROOT) for folder in CODE_DIRS
                  for path in (PROJECT_ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts)


def requirements_id() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]


def environment_id() -> str:
    """requirements.txt and every worker source file, so any change asks for a new set-up."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    for path in code_files():
        digest.update(str(path).encode() + b"\0" + (PROJECT_ROOT / path).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def code_archive() -> bytes:
    """The worker code as one tar.gz: one SFTP transfer instead of a hundred small ones."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in code_files():
            archive.add(PROJECT_ROOT / path, arcname=str(path))
    return buffer.getvalue()


@dataclass(frozen=True)
class RemoteEnv:
    """A ready worker environment on the far side (absolute paths there)."""

    root: str
    env_dir: str
    python: str
    python_version: str | None = None  # as `remote setup` found it (None: an environment set up before it said)

    @property
    def code_dir(self) -> str:
        return f"{self.env_dir}/code"

    def runs_dir(self) -> str:
        return f"{self.root}/runs"


def setup_hint(target: str) -> str:
    return f"./stepscope remote setup {target}"


def no_environment(host: str, target: str, env_id: str) -> str:
    return (f"{host} has no Stepscope worker environment for this version (requirements and code {env_id}): "
            f"run `{setup_hint(target)}` once")


def find_environment(conn: SshConnection) -> RemoteEnv:
    """This version's environment on the far side; ExecutorError naming the set-up command if absent."""
    env_id = environment_id()
    result = conn.run(f'R={ROOT_SHELL}; printf "%s\\n" "$R"; cat "$R/{env_id}/ready.json" 2>/dev/null')
    root, _, ready = str(result.stdout).partition("\n")
    try:
        record = json.loads(ready) if ready.strip() else {}
        python, version = record["python"], record.get("python_version")
    except (ValueError, KeyError, TypeError, AttributeError):
        python = version = None
    if not root or python is None:
        raise ExecutorError(no_environment(conn.target.host, str(conn.target), env_id))
    return RemoteEnv(root, f"{root}/{env_id}", python, str(version) if version else None)


@dataclass
class SetupReport:
    """What `remote setup` did, for the user."""

    host: str
    env_dir: str
    python: str
    python_version: str
    venv_created: bool
    packages: dict[str, str] = field(default_factory=dict)  # worker package -> installed version
    code_files: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def setup_environment(conn: SshConnection, python: str | None, say: Callable[[str], None]) -> SetupReport:
    """Install (or reuse) the worker environment for this version on `conn`'s machine. `python`:
    an interpreter there to use as it is (nothing installed); None: a venv from requirements.txt."""
    root = _check(conn, f'printf "%s" {ROOT_SHELL}', "find the remote home").strip()
    env_dir = f"{root}/{environment_id()}"
    venv_created = False
    if python is None:
        python, venv_created = _venv(conn, root, say)
    version = _check(conn, f"{shlex.quote(python)} -c " + shlex.quote(
        f"import sys, {', '.join(CORE_MODULES)}; print(sys.version.split()[0])"),
        f"use {python} (it needs {', '.join(CORE_MODULES)}; drop --python to install a venv)").strip()
    say(f"copying the worker code to {conn.target.host}:{env_dir}/code")
    files = code_files()
    _check(conn, f'mkdir -p "{env_dir}/code"', "create the environment directory")
    archive = f"{env_dir}/code.tar.gz"
    conn.put_bytes(code_archive(), archive)
    _check(conn, f'tar -xzf "{archive}" -C "{env_dir}/code" && rm -f "{archive}"', "unpack the worker code")
    packages = _installed(conn, python)
    ready = {"python": python, "python_version": version, "packages": packages, "created": time.time(),
             "requirements": requirements_id()}
    conn.put_bytes(python.encode(), f"{env_dir}/python")  # read by the launch's shell (ssh.py)
    conn.put_bytes(json.dumps(ready, indent=1).encode(), f"{env_dir}/ready.json")
    return SetupReport(conn.target.host, env_dir, python, version, venv_created, packages, len(files))


def _venv(conn: SshConnection, root: str, say: Callable[[str], None]) -> tuple[str, bool]:
    """The venv for this requirements.txt, created and installed unless it is already complete."""
    venv = f"{root}/venvs/{requirements_id()}"
    python = f"{venv}/bin/python"
    if conn.run(f'test -f "{venv}/.stepscope-installed"').exit_status == 0:
        say(f"reusing {venv} (installed from the same requirements.txt)")
        return python, False
    base = _check(conn, "command -v python3.11 || command -v python3", "find python3 (install Python 3.11)").strip()
    _check(conn, f"{base} -c 'import sys; sys.exit(sys.version_info < (3, 11))'",
           f"use {base}: the worker needs Python 3.11 or newer (or pass --python PATH)")
    say(f"creating {venv} and installing {len(WORKER_PACKAGES)} packages at requirements.txt's pins "
        "(a few minutes; ~3 GB)")
    _check(conn, f'mkdir -p "{venv}" && {base} -m venv "{venv}"', "create a virtualenv (is python3-venv installed?)")
    conn.put_bytes(REQUIREMENTS.read_bytes(), f"{venv}/constraints.txt")
    install = (f'"{python}" -m pip install -q --disable-pip-version-check -c "{venv}/constraints.txt" '
               + " ".join(WORKER_PACKAGES) + f' && touch "{venv}/.stepscope-installed"')
    _check(conn, install, "install the worker's packages", timeout=INSTALL_TIMEOUT_S)
    return python, True


def _installed(conn: SshConnection, python: str) -> dict[str, str]:
    listing = conn.run(f"{shlex.quote(python)} -m pip list --format=json --disable-pip-version-check 2>/dev/null")
    try:
        found = {_norm(item["name"]): item["version"] for item in json.loads(str(listing.stdout))}
    except (ValueError, KeyError, TypeError):
        return {}
    return {name: found[_norm(name)] for name in WORKER_PACKAGES if _norm(name) in found}


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def _check(conn: SshConnection, command: str, what: str, timeout: float | None = 120.0) -> str:
    result = conn.run(command, timeout=timeout)
    if result.exit_status != 0:
        lines = [line for line in str(result.stderr or result.stdout).splitlines() if line.strip()]
        detail = f": {lines[-1][:300]}" if lines else ""
        raise ExecutorError(f"could not {what} on {conn.target.host}{detail}")
    return str(result.stdout)



def probe_environment(conn: SshConnection, quick: bool) -> list[dict[str, Any]]:
    """`stepscope env`'s reports (FrameworkReport dicts) from the far side's worker environment."""
    remote = find_environment(conn)
    code = shlex.quote(remote.code_dir)
    result = conn.run(f"cd {code} && PYTHONPATH={code} {shlex.quote(remote.python)} -m profilers.executors.env_probe"
                      + (" --quick" if quick else ""), timeout=INSTALL_TIMEOUT_S)
    reports = []
    for line in str(result.stdout).splitlines():
        try:
            reports.append(json.loads(line))
        except ValueError:
            continue
    if result.exit_status != 0 or not reports:
        lines = [line for line in str(result.stderr).splitlines() if line.strip()] or ["no output"]
        raise ExecutorError(f"the probe on {conn.target.host} failed (exit {result.exit_status}): {lines[-1][:300]}")
    return reports
