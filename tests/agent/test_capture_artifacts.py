"""The agent's capture window hands on only files that can be a trace: a 0-byte or 2 GiB XPlane is a
`notice` with its reason (checked by size, which costs the program nothing), never an `artifact`."""
from __future__ import annotations

from pathlib import Path

from agent.stepscope_agent.capture import PROTOBUF_MAX_BYTES, CaptureBackend, CaptureWindow
from tests.recorded_events import RecordedEvents


class Writes(CaptureBackend):
    """A profiler whose stop leaves the given files (as real profilers leave them: present, maybe empty)."""

    framework = "jax"

    def __init__(self, files: list[tuple[str, Path]]) -> None:
        self.files = files

    def start(self, out_dir: str, first_step: int | None) -> None:
        return None

    def stop(self) -> list[tuple[str, str]]:
        return [(kind, str(path)) for kind, path in self.files]


def _window(tmp_path: Path, files: list[tuple[str, Path]]) -> RecordedEvents:
    emit = RecordedEvents()
    window = CaptureWindow(emit, {"steps": [1, 2], "out_dir": str(tmp_path)})
    window.before_step(1, Writes(files))
    window.after_step(1, None)
    return emit


def test_an_empty_xplane_is_a_notice_and_the_good_file_beside_it_is_kept(tmp_path: Path) -> None:
    empty, chrome = tmp_path / "host.xplane.pb", tmp_path / "host.trace.json.gz"
    empty.touch()
    chrome.write_bytes(b"x" * 10)
    emit = _window(tmp_path, [("xplane", empty), ("chrome-trace", chrome)])
    (notice,) = emit.of("notice")
    assert notice["message"] == (f"the jax profiler's xplane file {empty} is 0 bytes: the profiler could not serialize "
                                 "its XSpace (protobuf refuses a message over 2 GiB, and tsl then writes an empty file "
                                 "and reports success); trace fewer steps; it is not kept as the run's trace")
    assert [(a["kind"], a["bytes"]) for a in emit.of("artifact")] == [("chrome-trace", 10)]


def test_an_xplane_at_2_gib_and_an_empty_chrome_trace_are_notices(tmp_path: Path) -> None:
    huge, empty = tmp_path / "host.xplane.pb", tmp_path / "t.json"
    with open(huge, "wb") as f:
        f.truncate(PROTOBUF_MAX_BYTES)  # sparse
    empty.touch()
    emit = _window(tmp_path, [("xplane", huge), ("chrome-trace", empty)])
    messages = [n["message"] for n in emit.of("notice")]
    assert "is 2,147,483,647 bytes, at or over protobuf's 2 GiB message limit" in messages[0]
    assert f"{empty} is 0 bytes: the profiler wrote no events" in messages[1]
    assert not emit.of("artifact")
