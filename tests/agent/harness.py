"""Run a program under the agent the way the controller does (docs/programs.md), without the
controller: a pipe passed by fd, the agent's environment, and the events read back and checked
against the protocol. The agent's tests use this so they exercise exactly the agent."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profilers.protocol import parse_line

ROOT = Path(__file__).resolve().parents[2]
AGENT_DIR = ROOT / "agent"


@dataclass
class AgentRun:
    events: list[dict[str, Any]]
    returncode: int
    stdout: str
    stderr: str

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def steps(self) -> list[dict[str, Any]]:
        return self.of("step")


def run_under_agent(argv: Sequence[str], plan: dict[str, Any] | None = None, cwd: Path | None = None,
                    timeout: float = 120.0, extra_env: dict[str, str] | None = None) -> AgentRun:
    read_end, write_end = os.pipe()
    env = dict(os.environ)
    env.pop("STEPSCOPE_CHANNEL_OWNER", None)
    env.update(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(AGENT_DIR), env.get("PYTHONPATH")]))
    env["STEPSCOPE_CHANNEL"] = f"{write_end}:{os.fstat(write_end).st_ino}"
    env["STEPSCOPE_CLOCK_ORIGIN"] = repr(time.perf_counter())
    env["STEPSCOPE_PLAN"] = json.dumps(plan or {})
    proc = subprocess.Popen(list(argv), env=env, pass_fds=(write_end,), cwd=cwd or ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(write_end)
    chunks: list[bytes] = []

    def read() -> None:
        while chunk := os.read(read_end, 1 << 16):
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    os.close(read_end)
    events = [parse_line(line) for line in b"".join(chunks).splitlines() if line.strip()]
    return AgentRun(events, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def python() -> str:
    return sys.executable
