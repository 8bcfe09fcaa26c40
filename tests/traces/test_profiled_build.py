"""The chunk step's profile-guided build (`scripts/build_ext.py`, `scripts/scan_training.py`):
the training read goes through the compiled step (a profile of msgspec's fallback would teach
the compiler nothing), and the build falls back to a plain one when the profile cannot be had."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts import build_ext, scan_training
from traces import chunk_scan_glue, stream_columns
from traces.readers import read_trace

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not chunk_scan_glue.available(), reason="the compiled chunk step is not built here")
def test_the_training_traces_go_through_the_compiled_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bool] = []
    scan = stream_columns.StreamColumns.scan

    def counted(self: stream_columns.StreamColumns, *args: Any) -> bool:
        got = scan(self, *args)
        taken.append(got)
        return got

    monkeypatch.setattr(stream_columns.StreamColumns, "scan", counted)
    for path in scan_training.write(tmp_path):
        taken.clear()
        table = read_trace(str(path))
        assert len(table) > 30_000
        assert len(taken) >= 10 and all(taken), f"{path.name}: {taken.count(False)} of {len(taken)} chunks refused"


def test_the_training_refuses_to_run_without_the_instrumented_step(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "scan_training.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1
    assert "scan_training:" in done.stderr and str(tmp_path) in done.stderr


class Builds:
    """`build_ext.build` and the training subprocess, recorded instead of run."""

    def __init__(self, root: Path, training_rc: int, leaves_profile: bool) -> None:
        self.root, self.training_rc, self.leaves_profile = root, training_rc, leaves_profile
        self.calls: list[tuple[tuple[str, ...], bool]] = []  # (compile flags, into a folder)

    def build(self, source: str, libraries: list[str], *, compile_args: tuple[str, ...] = (),
              link_args: tuple[str, ...] = (), into: Path | None = None) -> None:
        self.calls.append((compile_args, into is not None))

    def run(self, argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        assert argv[1].endswith("scan_training.py") and argv[2]  # given the instrumented build's folder
        if self.leaves_profile:
            (self.root / "build" / "pgo" / "deep").mkdir(parents=True)
            (self.root / "build" / "pgo" / "deep" / "chunk_scan.gcda").write_bytes(b"counts")
        return subprocess.CompletedProcess(argv, self.training_rc, "", "boom" if self.training_rc else "")


@pytest.mark.parametrize(("training_rc", "leaves_profile", "last"), [
    (0, True, ("-fprofile-use",)), (1, True, ()), (0, False, ())])
def test_the_profiled_build_uses_the_profile_or_builds_plainly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        training_rc: int, leaves_profile: bool, last: tuple[str, ...]) -> None:
    fake = Builds(tmp_path, training_rc, leaves_profile)
    (tmp_path / "build" / "pgo").mkdir(parents=True)
    (tmp_path / "build" / "pgo" / "stale.gcda").write_bytes(b"old counts")  # an older build's: never used
    monkeypatch.setattr(build_ext, "ROOT", tmp_path)
    monkeypatch.setattr(build_ext, "build", fake.build)
    monkeypatch.setattr(build_ext.subprocess, "run", fake.run)
    monkeypatch.delenv(build_ext.PGO_ENV, raising=False)
    build_ext.build_profiled("traces/chunk_scan.pyx", [])
    assert fake.calls[0] == (("-fprofile-generate", f"-fprofile-dir={tmp_path / 'build' / 'pgo'}"), True)
    flags, into = fake.calls[-1]
    assert len(fake.calls) == 2 and not into
    assert flags[:1] == last
    assert not (tmp_path / "build" / "pgo" / "stale.gcda").exists()
    if not last:
        assert "building it without a profile" in capsys.readouterr().err


def test_the_profiled_build_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Builds(tmp_path, 0, True)
    monkeypatch.setattr(build_ext, "ROOT", tmp_path)
    monkeypatch.setattr(build_ext, "build", fake.build)
    monkeypatch.setenv(build_ext.PGO_ENV, "0")
    build_ext.build_profiled("traces/chunk_scan.pyx", [])
    assert fake.calls == [((), False)]
