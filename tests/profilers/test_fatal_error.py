"""A crash in native code, as the run's reason says it: real faulthandler reports from real crashes
(a segfault under a library's frame, an abort in a thread that runs no Python code), and a program
run under the agent, whose crash report the agent turned on."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from profilers.fatal_error import fatal_summary
from sessions.record_run import record_run
from workloads.program import ProgramSpec

LIBRARY = """\
import ctypes


def crash():
    ctypes.string_at(0)
"""

SCRIPT = """\
import sys
sys.path.insert(0, {library!r})
{setup}
import native_lib


def main():
    for step in range(3):
        pass
    native_lib.crash()


main()
"""


def write_program(tmp_path: Path, setup: str = "import faulthandler; faulthandler.enable()") -> Path:
    library = tmp_path / "lib" / "python3.11" / "site-packages"
    library.mkdir(parents=True)
    (library / "native_lib.py").write_text(LIBRARY)
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(library=str(library), setup=setup))
    return script


def test_a_real_segfault_report_gives_the_crash_and_the_users_line(tmp_path: Path) -> None:
    script = write_program(tmp_path)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode < 0
    summary = fatal_summary("some earlier output\n" + proc.stderr)
    # the innermost frame is the standard library's (ctypes); the program's own is its caller's caller
    assert summary is not None and summary.startswith("Fatal Python error: Segmentation fault at ")
    assert "ctypes/__init__.py:" in summary and " in string_at, " in summary
    assert summary.endswith(f"from {tmp_path.parent.name}/{tmp_path.name}/train.py:10 in main")


def test_an_abort_in_a_native_thread_says_so_and_where_the_main_thread_was(tmp_path: Path) -> None:
    program = textwrap.dedent("""\
        import ctypes, faulthandler, threading, time
        faulthandler.enable(all_threads=True)
        libc = ctypes.CDLL(None)
        abort = ctypes.cast(libc.abort, ctypes.c_void_p)
        waiting = threading.Event()
        threading.Thread(target=waiting.wait, name="helper", daemon=True).start()

        def wait_here():
            tid = ctypes.c_ulong()
            libc.pthread_create(ctypes.byref(tid), None, abort, None)  # a thread of C code only
            time.sleep(30)

        wait_here()
        """)
    path = tmp_path / "native_thread.py"
    path.write_text(program)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode < 0
    summary = fatal_summary(proc.stderr)
    assert summary is not None and summary.startswith("Fatal Python error: Aborted in a thread without Python code; "
                                                      "the main thread was at ")
    assert summary.endswith(f"{tmp_path.name}/native_thread.py:11 in wait_here")


def test_no_report_and_a_report_without_stacks() -> None:
    assert fatal_summary("Traceback (most recent call last):\nValueError: x\n") is None
    assert fatal_summary("Fatal Python error: _PyMem_DebugMalloc: Python memory allocator called without holding the GIL\n"
                         ) == "Fatal Python error: Python memory allocator called without holding the GIL"


def test_a_program_under_the_agent_that_crashes_says_where_in_its_reason(tmp_path: Path) -> None:
    script = write_program(tmp_path, setup="")  # the agent turns faulthandler on
    spec = ProgramSpec(command=(sys.executable, str(script)), cwd=str(tmp_path))
    recorded = record_run(spec, tmp_path / "s.stepscope", out_dir=tmp_path / "out", stdin_devnull=True,
                          on_stdout=lambda b: None, on_stderr=lambda b: None)
    result = recorded.result
    assert result.status == "failed" and "segmentation fault" in (result.reason or "")
    assert ": Fatal Python error: Segmentation fault at " in (result.reason or "")
    assert (result.reason or "").endswith(f"from {tmp_path.parent.name}/{tmp_path.name}/train.py:10 in main")
    assert "Current thread" in result.log  # the whole report is in the run log
