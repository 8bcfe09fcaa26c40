"""Make a worker process hold exactly one framework, configured before it is imported.

TensorFlow and Keras import JAX opportunistically when it is installed (+0.5 s, +memory, and
a second framework's threads in the measurement); they fall back cleanly on ImportError, so
the worker refuses the other frameworks' imports outright.
"""
from __future__ import annotations

import importlib.abc
import os
import sys

FRAMEWORK_MODULES = {"jax": ("jax", "jaxlib", "optax"), "torch": ("torch",), "tf": ("tensorflow", "keras", "tf_keras")}


class _BlockFrameworks(importlib.abc.MetaPathFinder):
    def __init__(self, blocked: tuple[str, ...]) -> None:
        self.blocked = blocked

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".", 1)[0] in self.blocked:
            raise ImportError(f"{name} is not loaded in a Stepscope worker that measures another framework")
        return None


def block_other_frameworks(framework: str) -> None:
    blocked = tuple(m for fw, mods in FRAMEWORK_MODULES.items() if fw != framework for m in mods)
    sys.meta_path.insert(0, _BlockFrameworks(blocked))


def loaded_frameworks() -> list[str]:
    """The frameworks whose top-level module is in this process (used to prove isolation)."""
    return sorted(fw for fw, mods in FRAMEWORK_MODULES.items() if mods[0] in sys.modules)


def configure_environment(framework: str, device: str) -> None:
    """Environment the frameworks read at import: no JAX preallocation (so device-memory
    figures mean something), Keras on TensorFlow, quiet TF C++ logs, and CPU-only when asked."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    if device == "cpu":
        if framework == "jax":
            os.environ["JAX_PLATFORMS"] = "cpu"
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
    if framework == "tf":
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
