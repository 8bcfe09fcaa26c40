"""`stepscope env` without --quick: every framework x workload x variant gets a row.

The whole command runs one tiny step of each of the 21 combinations (about a minute on 2 cores),
so it is checked in two halves: the real full probe of one framework (torch, whose report is what
`env --json` prints for it), and the command's table and JSON printed from recorded reports."""
from __future__ import annotations

import json
import platform
from typing import Any

import pytest

import cli.env
from profilers.framework_check import FrameworkReport, probe_framework
from workloads.registry import WORKLOADS
from workloads.spec import FRAMEWORKS, VARIANTS

TF_REASON = "ImportError: libcudart.so.12: cannot open shared object file: No such file or directory"
TORCH_FAILURE = "BackendCompilerFailed: backend='inductor' raised: no C++ compiler found"


@pytest.mark.slow
def test_the_full_probe_of_torch_runs_one_step_of_every_workload_and_variant() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    report = probe_framework("torch", quick=False, on_record=lambda fw, record: seen.append((fw, record)))
    assert report.imports is True and report.error is None
    assert report.version is not None and report.version.startswith("2.")
    assert report.devices[0] == "cpu"
    assert [(r["workload"], r["variant"]) for r in report.runs] == \
        [(w, v) for w in WORKLOADS for v in VARIANTS["torch"]]  # 3 workloads x eager, compiled
    for run in report.runs:
        assert run["ok"] is True and run["error"] is None and run["ms"] > 0, run
    # progress came record by record: the import, the devices, then each run
    assert [fw for fw, _ in seen] == ["torch"] * (2 + len(report.runs))
    assert [r["check"] for _, r in seen] == ["import", "devices"] + ["run"] * len(report.runs)
    as_json = json.loads(json.dumps(report.to_dict()))  # what `env --json` prints for torch
    assert set(as_json) == {"framework", "imports", "version", "error", "devices", "runs"}
    assert as_json["runs"] == report.runs


def _recorded() -> list[FrameworkReport]:
    """Reports as a full probe writes them: jax and torch import (torch's compiled transformer
    fails), TensorFlow does not import."""
    reports = []
    for fw, version, devices in (("jax", "0.10.2", ["cpu:0 cpu"]), ("torch", "2.13.0+cpu", ["cpu"])):
        runs = []
        for k, (workload, variant) in enumerate((w, v) for w in WORKLOADS for v in VARIANTS[fw]):
            if (fw, workload, variant) == ("torch", "transformer", "compiled"):
                runs.append({"check": "run", "workload": workload, "variant": variant, "ok": False, "error": TORCH_FAILURE})
            else:
                runs.append({"check": "run", "workload": workload, "variant": variant, "ok": True,
                             "ms": 100.0 + k, "error": None})
        reports.append(FrameworkReport(fw, True, version, None, devices, runs))
    reports.append(FrameworkReport("tf", False, None, TF_REASON))
    return reports


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`env` fed the recorded reports instead of probe processes; returns which it asked for, and how."""
    asked: list[str] = []
    reports = {r.framework: r for r in _recorded()}

    def fake_probe(framework: str, quick: bool, on_record: object = None) -> FrameworkReport:
        asked.append(f"{framework} quick={quick}")
        return reports[framework]
    monkeypatch.setattr(cli.env, "probe_framework", fake_probe)
    monkeypatch.setenv("COLUMNS", "240")  # rich wraps to the terminal's width; keep each row on one line
    return asked


def _cells(out: str) -> list[list[str]]:
    """The rows of rich's tables as lists of stripped cells."""
    return [[c.strip() for c in line.strip().strip("│").split("│")] for line in out.splitlines()
            if line.strip().startswith("│")]


def test_the_env_table_has_a_row_for_every_framework_workload_and_variant(
        recorded: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.env.env_command(quick=False, as_json=False) == 0
    assert recorded == [f"{fw} quick=False" for fw in FRAMEWORKS]
    out = capsys.readouterr().out
    assert "Frameworks" in out and "Workloads × variants (one tiny step each, on the default device)" in out
    rows = _cells(out)
    assert ["jax", "0.10.2", "cpu:0 cpu", "imports"] in rows
    assert ["torch", "2.13.0+cpu", "cpu", "imports"] in rows
    assert ["tf", "—", "—", TF_REASON] in rows  # a framework that does not import says why
    matrix = [r for r in rows if len(r) == 4 and r[1] in WORKLOADS]
    expected = []
    for report in _recorded():
        for run in report.runs:
            result = (f"runs — {run['ms']:.0f} ms to build, compile and run one step" if run["ok"] else run["error"])
            expected.append([report.framework, run["workload"], run["variant"], result])
    assert matrix == expected
    assert len(matrix) == len(WORKLOADS) * (len(VARIANTS["jax"]) + len(VARIANTS["torch"]))


def test_env_quick_has_no_workload_rows(recorded: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.env.env_command(quick=True, as_json=False) == 0
    assert recorded == [f"{fw} quick=True" for fw in FRAMEWORKS]
    out = capsys.readouterr().out
    assert "Frameworks" in out and "Workloads" not in out


def test_env_json_prints_every_report_as_recorded(recorded: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.env.env_command(quick=False, as_json=True) == 0
    printed = json.loads(capsys.readouterr().out)
    # each report says which Python the probes ran in: here, this interpreter (the probes' own)
    assert printed == [dict(r.to_dict(), python_version=platform.python_version()) for r in _recorded()]
    assert [len(r["runs"]) for r in printed] == [len(WORKLOADS) * len(VARIANTS["jax"]),
                                                 len(WORKLOADS) * len(VARIANTS["torch"]), 0]
