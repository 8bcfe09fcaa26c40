"""The "Your program" form without Qt: what a person types becomes a ProgramSpec or one sentence
that says what to fix; the recent programs are capped and hold each (command, folder) once. Also
the names and colours a program run gets while it streams and once it is stored."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gui.live.live_model import FRAMEWORK_COLORS, NEUTRAL_COLOR, LiveModel
from gui.live.program_panel_model import EMPTY_COMMAND, MAX_RECENT, ProgramForm, RecentPrograms, parse_command, parse_env
from gui.live.run_names import display_name, is_program_run, live_run, live_status
from workloads.program import ProgramSpec
from workloads.spec import RunSpec, SpecError


def test_the_command_is_split_as_a_shell_would() -> None:
    assert parse_command('python train.py --lr 3e-4 --name "my run" --tag \'a b\' x\\ y') == (
        "python", "train.py", "--lr", "3e-4", "--name", "my run", "--tag", "a b", "x y")


@pytest.mark.parametrize("text, says", [("", EMPTY_COMMAND), ("   ", EMPTY_COMMAND),
                                        ('python train.py --name "open', "cannot be split: no closing quotation")])
def test_a_bad_command_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(SpecError, match=says.replace(".", r"\.")):
        parse_command(text)


def test_environment_lines() -> None:
    text = "# comment\n\nCUDA_VISIBLE_DEVICES=0\nexport OMP_NUM_THREADS = 4\nMSG=\"a = b\"\nEMPTY=\nQ='x'\n"
    assert parse_env(text) == {"CUDA_VISIBLE_DEVICES": "0", "OMP_NUM_THREADS": "4", "MSG": "a = b", "EMPTY": "",
                               "Q": "x"}


@pytest.mark.parametrize("text, line", [("A=1\nno equals sign", 2), ("1ABC=x", 1), ("=x", 1), ("A B=1", 1)])
def test_a_bad_environment_line_is_named(text: str, line: int) -> None:
    with pytest.raises(SpecError, match=f"Environment line {line} is not KEY=VALUE"):
        parse_env(text)


def test_the_form_becomes_a_program_spec(tmp_path: Path) -> None:
    form = ProgramForm(command="python train.py --lr 3e-4", cwd=str(tmp_path), env="A=1", name=" my run ",
                       batch_size=32, window="steps", steps_from=10, steps_to=13, with_stack=True)
    spec = form.spec()
    assert spec == ProgramSpec(command=("python", "train.py", "--lr", "3e-4"), cwd=str(tmp_path), env={"A": "1"},
                               name="my run", steps_window=(10, 13), trace_at=None, trace_for=None, batch_size=32,
                               with_stack=True)
    timed = ProgramForm(command="python train.py", cwd=str(tmp_path), window="time", trace_at=5.0, trace_for=1.5).spec()
    assert (timed.steps_window, timed.trace_at, timed.trace_for, timed.batch_size) == (None, 5.0, 1.5, None)
    off = ProgramForm(command="python train.py", cwd=str(tmp_path), window="off").spec()
    assert (off.steps_window, off.trace_at, off.name, off.label) == (None, None, None, "train.py")


def test_an_empty_folder_means_the_default_one(tmp_path: Path) -> None:
    assert ProgramForm(command="python t.py").spec(default_cwd=str(tmp_path)).cwd == str(tmp_path)


@pytest.mark.parametrize("changes, says", [
    ({"steps_from": 13, "steps_to": 13}, "trace window's steps 13:13 are empty"),
    ({"steps_from": 20, "steps_to": 10}, "trace window's steps 20:10 are empty"),
    ({"window": "time", "trace_for": 0.0}, "length above 0 s"),
    ({"command": ""}, "Enter the command"),
    ({"cwd": "/no/such/folder/anywhere"}, "working directory /no/such/folder/anywhere does not exist"),
    ({"env": "oops"}, "Environment line 1"),
])
def test_a_bad_form_gives_one_sentence(tmp_path: Path, changes: dict[str, object], says: str) -> None:
    form = ProgramForm(**{"command": "python train.py", "cwd": str(tmp_path), **changes})  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=says) as caught:
        form.spec()
    assert "\n" not in str(caught.value)


def test_recent_programs_are_capped_newest_first_and_deduplicated() -> None:
    recent = RecentPrograms()
    for i in range(MAX_RECENT + 5):
        recent.remember(ProgramForm(command=f"python train.py --run {i}", cwd="/p"))
    assert len(recent.forms) == MAX_RECENT
    assert recent.forms[0].command.endswith(f"--run {MAX_RECENT + 4}")
    recent.remember(ProgramForm(command="python  train.py   --run 7", cwd="/p/", env="A=1"))  # same words, same folder
    assert len(recent.forms) == MAX_RECENT and recent.forms[0].env == "A=1"
    assert sum(f.command.endswith("--run 7") for f in recent.forms) == 1
    recent.remember(ProgramForm(command="python train.py --run 7", cwd="/elsewhere"))  # another folder: its own entry
    assert [f.cwd for f in recent.forms[:2]] == ["/elsewhere", "/p/"]
    assert recent.commands()[0] == "python train.py --run 7"
    assert len(recent.commands()) == len(set(recent.commands()))


def test_recent_programs_survive_a_round_trip_and_bad_settings() -> None:
    recent = RecentPrograms()
    recent.remember(ProgramForm(command="python a.py", cwd="/a", window="time", trace_at=3.0))
    recent.remember(ProgramForm(command="python b.py", cwd="/b", batch_size=16))
    again = RecentPrograms.from_json(recent.to_json())
    assert again.forms == recent.forms
    assert RecentPrograms.from_json("not json").forms == []
    assert RecentPrograms.from_json('{"a": 1}').forms == []
    odd = RecentPrograms.from_json('[{"command": "python c.py", "batch_size": "many", "window": "sideways", '
                                   '"trace_at": 4}, {"cwd": "/no/command"}, 5]')
    assert [(f.command, f.batch_size, f.window, f.trace_at) for f in odd.forms] == [("python c.py", 0, "steps", 4.0)]


def test_a_program_run_is_named_by_its_label_and_takes_its_framework_colour_once_known() -> None:
    spec = ProgramSpec(command=("python", "train.py"), cwd="/p")
    assert display_name(spec) == "train.py" and display_name(RunSpec(framework="torch")) == "PyTorch"
    model = LiveModel()
    framework, label, expected = live_run(spec, model.runs.values())
    assert (framework, label, expected) == ("", "train.py", 0)
    model.announce("r1", framework, label, expected)
    model.drain()
    run = model.runs["r1"]
    assert run.color == NEUTRAL_COLOR and is_program_run(run)
    assert live_status(run) == ("framework not imported yet", "")
    version = model.version
    model.post("r1", {"type": "program", "t": 0.1, "framework": "torch", "framework_version": "2.0", "pid": 1})
    model.post("r1", {"type": "step_source", "t": 0.2, "source": "torch.optim", "detail": "between optimizer steps"})
    for i in range(3):
        model.post("r1", {"type": "step", "t": 0.3 + i, "index": i, "phase": "warmup" if i == 0 else "measure",
                          "step_ms": 10.0, "samples_per_s": None, "loss": None})
    model.drain()
    assert model.version > version  # the view rebuilds the curves in the new colour
    assert run.color == FRAMEWORK_COLORS["torch"] and run.steps_done == 3
    assert live_status(run) == ("PyTorch 2.0 · steps from torch.optim", "between optimizer steps")
    assert len(run.series["samples_per_s"]) == 0 and len(run.by_step["samples_per_s"]) == 0
    assert np.array_equal(run.by_step["step_ms"].x, [1.0, 2.0])  # step 0 (warm-up: imports, set-up) is left off
    assert live_run(spec, model.runs.values())[1] == "train.py #2"
