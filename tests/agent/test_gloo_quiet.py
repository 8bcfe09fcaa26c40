"""The wait for gloo's worker threads before torch.profiler starts or stops (gloo_quiet.py): on a
thread table laid out as Linux's /proc/self/task, and on a real gloo DDP job, whose worker threads
must still carry the name the wait looks for."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "agent"))
from stepscope_agent.gloo_quiet import wait_for_gloo_workers, worker_tasks  # noqa: E402


def task(tasks: Path, tid: int, name: str, state: str) -> Path:
    folder = tasks / str(tid)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "comm").write_text(name + "\n")
    stat = folder / "stat"
    stat.write_text(f"{tid} ({name}) {state} 1 2 3 4\n")
    return stat


def test_the_wait_lasts_while_a_gloo_worker_runs_and_ignores_other_threads(tmp_path: Path) -> None:
    tasks = tmp_path / "task"
    task(tasks, 1, "python", "R")  # the program's own thread, running: not waited for
    task(tasks, 2, "pt_gloo_runloop", "S")
    busy = task(tasks, 3, "pt_gloo_runloop", "R")
    task(tasks, 4, "odd) name (R", "R")
    assert len(worker_tasks(str(tasks))) == 2
    timer = threading.Timer(0.05, lambda: busy.write_text("3 (pt_gloo_runloop) S 1 2 3 4\n"))
    started = time.monotonic()
    timer.start()
    assert wait_for_gloo_workers(str(tasks), timeout=5.0)
    assert 0.04 < time.monotonic() - started < 4.0


def test_a_worker_that_stays_busy_is_waited_for_no_longer_than_the_timeout(tmp_path: Path) -> None:
    tasks = tmp_path / "task"
    task(tasks, 3, "pt_gloo_runloop", "R")
    started = time.monotonic()
    assert not wait_for_gloo_workers(str(tasks), timeout=0.05)
    assert 0.05 <= time.monotonic() - started < 2.0


def test_without_gloo_workers_or_a_thread_table_it_returns_at_once(tmp_path: Path) -> None:
    task(tmp_path / "task", 1, "python", "R")
    assert wait_for_gloo_workers(str(tmp_path / "task"), timeout=10.0)
    assert wait_for_gloo_workers(str(tmp_path / "missing"), timeout=10.0)


DDP = """\
import os, sys
import torch, torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
sys.path.insert(0, {agent!r})
from stepscope_agent.gloo_quiet import worker_tasks, wait_for_gloo_workers
dist.init_process_group("gloo")
model = DistributedDataParallel(nn.Linear(4, 4))
model(torch.randn(2, 4)).sum().backward()
print(f"rank {{dist.get_rank()}}: {{len(worker_tasks())}} workers, quiet {{wait_for_gloo_workers()}}", flush=True)
dist.destroy_process_group()
"""


def test_a_real_gloo_job_has_the_named_workers_and_they_go_quiet(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    if not Path("/proc/self/task").is_dir():
        pytest.skip("no /proc thread table here")
    script = tmp_path / "ddp.py"
    script.write_text(DDP.format(agent=str(Path(__file__).resolve().parents[2] / "agent")))
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    with socket.socket() as sock:  # a free port for the rendezvous (another job may hold torchrun's default)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([torchrun, "--nproc-per-node", "2", "--master-port", str(port), str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    finally:  # torchrun's ranks too, however it ended
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-2000:]
    said = re.findall(r"rank (\d): (\d+) workers, quiet (True|False)", out)  # the two ranks' lines may interleave
    assert sorted(rank for rank, _, _ in said) == ["0", "1"], out
    assert all(int(workers) >= 1 and quiet == "True" for _, workers, quiet in said), said
