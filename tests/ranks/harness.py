"""A distributed example recorded as one run (docs/programs.md, "Multi-rank programs"), and what the
tests read back: the result, the session's per-rank steps and the merged trace window."""
from __future__ import annotations

import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from profilers.fatal_error import fatal_summary
from profilers.program_runner import ProgramController
from sessions.record_run import RecordedRun, record_run
from workloads.program import ProgramSpec

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
TORCH_DDP = (TORCHRUN, "--nproc-per-node", "2", str(ROOT / "examples" / "torch_ddp.py"))
JAX_RANKS = (sys.executable, str(ROOT / "examples" / "jax_ranks.py"))


def record(tmp_path: Path, command: tuple[str, ...], *, steps_window: tuple[int, int] | None = None,
           ranks: tuple[int, ...] | None = None,
           on_event: Callable[[dict[str, Any]], None] | None = None,
           controllers: list[ProgramController] | None = None) -> RecordedRun[ProgramSpec]:
    spec = ProgramSpec(command=command, cwd=str(ROOT), steps_window=steps_window, ranks=ranks)
    started = controllers if controllers is not None else []
    return record_run(spec, tmp_path / "s.stepscope", out_dir=tmp_path / "out", on_event=on_event,
                      on_started=started.append, stdin_devnull=True, on_stdout=lambda b: None, on_stderr=lambda b: None)


def record_despite_a_torch_crash(tmp_path: Path, command: tuple[str, ...], **options: Any) -> RecordedRun[ProgramSpec]:
    """`record`, made once more when a rank crashed in native code inside PyTorch (docs/programs.md, "Multi-rank programs": a rare
    abort of torch.profiler's stop in a gloo DDP process on a loaded machine, 1 run in ~100 here). Saying so
    is the product's part, tested in tests/profilers/test_fatal_error.py; any other failure is returned as is."""
    recorded = record(tmp_path, command, **options)
    crash = fatal_summary(recorded.result.log) if recorded.result.status == "failed" else None
    if crash is None or "torch/" not in crash:
        return recorded
    warnings.warn(f"PyTorch crashed in a rank ({crash}); the run is recorded again", stacklevel=2)
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
    for path in tmp_path.glob("s.stepscope*"):
        path.unlink()
    return record(tmp_path, command, **options)


def alive(pids: list[int]) -> list[int]:
    """The processes among `pids` still running (a zombie has ended)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def rank_groups(rows: list[Any]) -> set[str]:
    """The rank row groups of a merged table ("rank 0", "rank 1")."""
    return {row.pid.split(":")[0] for row in rows}
