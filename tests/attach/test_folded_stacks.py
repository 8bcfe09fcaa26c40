"""Folded stacks read into counts, a call tree and the hottest functions, and the flame
graph's boxes and zoom (Qt-free), on stacks written as py-spy writes them."""
from __future__ import annotations

import pytest

from gui.attach.flame_model import FlameModel
from traces.folded_stacks import NO_FRAME, Frame, flame_tree, hottest_functions, parse_folded, parse_frame
from traces.table import TraceError

PYSPY_RAW = """\
<module> (train.py:30);train (train.py:22);step (train.py:10);matmul (ops.py:5) 60
<module> (train.py:30);train (train.py:22);step (train.py:11);relu (ops.py:9) 20
<module> (train.py:30);train (train.py:23);load_batch (data.py:4) 15
<module> (train.py:30);train (train.py:22);step (train.py:10);matmul (ops.py:5) 5
"""


def test_frames_keep_function_file_and_line() -> None:
    assert parse_frame("step (train.py:10)") == Frame("step", "train.py", 10)
    assert parse_frame("step (train.py)") == Frame("step", "train.py", None)
    assert parse_frame("<native code>") == Frame("<native code>")
    assert Frame("f (x)", "a.py", 3).label == "f (x) (a.py:3)"


def test_repeated_stacks_add_up_and_the_heaviest_comes_first() -> None:
    profile = parse_folded(PYSPY_RAW)
    assert profile.total == 100
    frames, count = profile.stacks[0]
    assert count == 65 and frames[-1].function == "matmul"


def test_the_tree_merges_a_function_across_its_lines() -> None:
    root = flame_tree(parse_folded(PYSPY_RAW))
    train = root.children["<module> (train.py)"].children["train (train.py)"]
    assert train.samples == 100
    assert train.children["step (train.py)"].samples == 85  # lines 10 and 11: one box
    assert train.children["step (train.py)"].children["matmul (ops.py)"].self_samples == 65
    by_line = flame_tree(parse_folded(PYSPY_RAW), by_line=True)
    assert "step (train.py:11)" in by_line.children["<module> (train.py:30)"].children["train (train.py:22)"].children


def test_hottest_functions_rank_by_own_samples() -> None:
    hot = hottest_functions(parse_folded(PYSPY_RAW), 3)
    assert [(h.name, h.self_samples, h.total_samples) for h in hot] == [
        ("matmul (ops.py)", 65, 65), ("relu (ops.py)", 20, 20), ("load_batch (data.py)", 15, 15)]


def test_a_line_that_is_not_folded_stacks_is_named() -> None:
    with pytest.raises(TraceError, match="line 2"):
        parse_folded("a;b 3\nnot a count here\n", "x.folded")


def test_flame_boxes_are_as_wide_as_their_share_and_zoom_makes_one_full_width() -> None:
    model = FlameModel(parse_folded(PYSPY_RAW))
    boxes = {box.name: box for box in model.boxes()}
    assert boxes["all"].width == 1.0 and boxes["matmul (ops.py)"].width == pytest.approx(0.65)
    assert boxes["load_batch (data.py)"].x == pytest.approx(0.85)  # after step, the heavier callee
    step_path = boxes["step (train.py)"].path
    model.zoom(step_path)
    zoomed = {box.name: box for box in model.boxes()}
    assert zoomed["step (train.py)"].width == 1.0 and not zoomed["step (train.py)"].caller
    assert zoomed["train (train.py)"].caller and zoomed["all"].caller
    assert zoomed["matmul (ops.py)"].width == pytest.approx(65 / 85)
    assert zoomed["matmul (ops.py)"].share == pytest.approx(0.65)  # of all samples, whatever the zoom
    assert "load_batch (data.py)" not in zoomed
    model.zoom(("no", "such"))
    assert model.focus == ()


def test_boxes_too_narrow_to_see_are_left_out() -> None:
    text = "main (m.py:1);big (m.py:2) 9999\nmain (m.py:1);tiny (m.py:3) 1\n"
    names = {box.name for box in FlameModel(parse_folded(text)).boxes()}
    assert "big (m.py)" in names and "tiny (m.py)" not in names


def test_an_empty_stack_from_a_nonblocking_sample_is_counted_not_refused() -> None:
    profile = parse_folded(" 3\n<module> (rate.py:9);work (rate.py:5) 30\n")  # as py-spy --nonblocking wrote it
    assert profile.total == 33
    assert (NO_FRAME,) in dict(profile.stacks)
