"""A worker holds exactly one framework: the others cannot be imported, yet probing for them
(torch._dynamo's find_spec, scipy's sys.modules checks) keeps working."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import importlib.util, sys
from profilers.isolation import block_other_frameworks, loaded_frameworks
block_other_frameworks("torch")
for name in ("jax", "tensorflow", "keras", "jax.numpy"):
    try:
        __import__(name)
    except ImportError as exc:
        assert "another framework" in str(exc), exc
    else:
        raise SystemExit(f"{name} imported")
assert importlib.util.find_spec("tensorflow").origin is None
assert "jax" not in sys.modules and "tensorflow" not in sys.modules
import scipy.stats  # reads sys.modules for array libraries
print(",".join(loaded_frameworks()))
"""


def test_blocked_frameworks_refuse_import_but_survive_probing() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
