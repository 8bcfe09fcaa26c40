"""`traces.heap_reuse`: inside a read, a big array freed and made again reuses the process's
pages (no fresh page faults); after it, what was freed goes back to the kernel. Each case runs in
a fresh interpreter, so the test's own heap does not decide the answer."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "confstr") or not os.confstr("CS_GNU_LIBC_VERSION"),
                                reason="glibc's malloc only")

PROGRAM = r"""
import json, resource, sys
import numpy as np
from traces.heap_reuse import reused_heap

MB = 1 << 20
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // MB

def twice():
    first = np.ones(96 * MB, np.uint8)  # over glibc's largest dynamic mmap threshold (32 MiB)
    del first
    before = faults()
    second = np.ones(96 * MB, np.uint8)
    return faults() - before, second

out = {}
if sys.argv[1] == "inside":
    with reused_heap():
        out["faults"], kept = twice()
        del kept
        out["rss_inside"] = rss_mb()
    out["rss_after"] = rss_mb()
else:
    out["faults"], kept = twice()
print(json.dumps(out))
"""


def _run(mode: str) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, env=env, timeout=120,
                          check=True)
    out: dict[str, int] = json.loads(done.stdout)
    return out


def test_a_freed_big_array_is_reused_inside_a_read_and_handed_back_after_it() -> None:
    outside, inside = _run("outside"), _run("inside")
    # outside, the second array starts on fresh pages: each huge page (2 MiB) or page a fault
    assert outside["faults"] >= 40, outside
    assert inside["faults"] < 10, inside  # the first array's pages, already the process's
    assert inside["rss_inside"] - inside["rss_after"] >= 80, inside  # freed in the read, handed back after it


def test_reads_inside_reads_restore_only_when_the_last_one_ends() -> None:
    from traces import heap_reuse

    if heap_reuse._libc is None:
        pytest.skip("glibc's malloc only")
    calls: list[dict[int, int]] = []
    real = heap_reuse._set
    heap_reuse._set = calls.append  # type: ignore[assignment]
    try:
        with heap_reuse.reused_heap():
            with heap_reuse.reused_heap():
                pass
            assert calls == [heap_reuse.READING]
        assert calls == [heap_reuse.READING, heap_reuse.AFTER]
    finally:
        heap_reuse._set = real
        real(heap_reuse.AFTER)
