"""`scorecard SESSION`: the table, --json, --markdown and --html from a session of known runs;
`sweep --preset` refusing what a preset fixes; and one end-to-end run of a tiny real preset
through `sweep` and `scorecard`."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from main import main
from sessions.scorecard_presets import RUN_SETTINGS_FOR_SCALING
from tests.sessions.scorecard_builder import FakeRun, write_sweep
from workloads.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]


def _session(tmp_path: Path) -> Path:
    path = tmp_path / "s.stepscope"
    runs = [FakeRun(fw, "train,variants", [ms] * 20, spec={"batch_size": 64}) for fw, ms in (("jax", 20.0), ("torch", 10.0))]
    runs += [FakeRun(fw, "latency", [ms] * 50, spec={"mode": "infer", "batch_size": 1, "evaluate": False})
             for fw, ms in (("jax", 1.0), ("torch", 2.0))]
    write_sweep(path, runs)
    return path


def test_the_table_marks_the_best_and_lists_the_claims(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scorecard", str(_session(tmp_path))]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "steady step time" in line)
    assert "20.0 ms" in line and "10.0 ms ★" in line and line.rstrip(" │").endswith("torch")
    assert "not measurable on this device: a CPU has no GPU utilisation" in out
    assert "TensorFlow has lower inference latency" in out and "not measurable here" in out


def test_json_markdown_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = _session(tmp_path)
    assert main(["scorecard", str(session), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    rows = {row["key"]: row for row in card["rows"]}
    assert rows["latency_p50_ms"]["best"] == "jax" and rows["latency_p50_ms"]["cells"]["jax"]["value"] == 1.0
    assert rows["train_step_ms"]["cells"]["torch"]["runs"] == ["run-01-torch"]
    assert len(card["claims"]) == 7 and {c["verdict"] for c in card["claims"]} <= {"holds", "does not hold", "inconclusive",
                                                                                     "not measurable here"}
    assert main(["scorecard", str(session), "--markdown", str(tmp_path / "card.md")]) == 0
    text = (tmp_path / "card.md").read_text()
    assert text.startswith("# Stepscope framework scorecard") and "| Training time | steady step time" in text
    assert main(["scorecard", str(session), "--html", str(tmp_path / "card.html")]) == 0
    assert "<table>" in (tmp_path / "card.html").read_text() and "<script" not in (tmp_path / "card.html").read_text()


def test_unreadable_sessions_and_unknown_sweeps_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scorecard", str(tmp_path / "none.stepscope")]) == 2
    assert capsys.readouterr().err.strip() == f"stepscope scorecard: {tmp_path / 'none.stepscope'}: no such file"
    assert main(["scorecard", str(_session(tmp_path)), "--sweep", "abc"]) == 2
    assert "no sweep 'abc'" in capsys.readouterr().err


def test_a_preset_fixes_its_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = tmp_path / "s.stepscope"
    assert main(["sweep", "--preset", "scorecard-quick", "--steps", "3", "--batch-sizes", "8", "--session", str(session)]) == 2
    assert capsys.readouterr().err.strip() == ("stepscope sweep: --preset fixes the grid; --batch-sizes, --steps cannot be "
                                               "combined with it (--frameworks, --repeat and --device can)")
    assert main(["sweep", "--preset", "scorecard-slow", "--session", str(session)]) == 2
    assert "unknown preset 'scorecard-slow'" in capsys.readouterr().err
    assert not session.exists()


@pytest.mark.slow
@pytest.mark.skipif(not RUN_SETTINGS_FOR_SCALING <= {f.name for f in dataclasses.fields(RunSpec)},
                    reason="RunSpec lacks the scorecard's run settings (docs/scorecard.md) in this checkout")
def test_a_tiny_real_preset_through_sweep_and_scorecard(tmp_path: Path) -> None:
    session = tmp_path / "e2e.stepscope"
    sweep = subprocess.run([sys.executable, str(ROOT / "main.py"), "sweep", "--preset", "scorecard-smoke", "--frameworks",
                            "torch", "--session", str(session), "--out-dir", str(tmp_path / "runs"), "--json"],
                           capture_output=True, text=True, timeout=280, cwd=ROOT)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    points = json.loads(sweep.stdout)["points"]
    assert points and all(p["status"] == "ok" for p in points)
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "scorecard", str(session), "--json"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    card = json.loads(out.stdout)
    rows = {row["key"]: row["cells"]["torch"] for row in card["rows"]}
    for key in ("train_step_ms", "latency_p50_ms", "latency_p99_ms", "serving_samples_per_s_b64", "cpu_util_percent",
                "accuracy", "train_peak_rss_mb", "infer_peak_rss_mb", "scale_data_exponent", "scale_model_exponent",
                "scale_batch_exponent", "compatibility_percent"):
        assert rows[key]["value"] is not None and rows[key]["runs"] or key == "compatibility_percent", (key, rows[key])
    assert rows["time_to_accuracy_s"]["value"] is not None or "did not reach" in rows["time_to_accuracy_s"]["note"]
    assert rows["gpu_util_mean"]["value"] is not None or rows["gpu_util_mean"]["note"].startswith("not measurable")
    cells = card["compatibility"]["torch"]
    assert len(cells) >= 4 and {c["mode"] for c in cells} == {"train", "infer"} and {c["workload"] for c in cells} == {"mlp"}
    assert rows["compatibility_percent"]["value"] == 100.0 * sum(c["ok"] for c in cells) / len(cells)
    assert card["curves"].get("torch") or "did not reach" in rows["time_to_accuracy_s"]["note"]
