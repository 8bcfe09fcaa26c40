"""Make a worker process hold exactly one framework, configured before it is imported.

TensorFlow and Keras import JAX opportunistically when it is installed (+0.5 s, +memory, and
a second framework's threads in the measurement); they fall back cleanly on ImportError, so
the worker refuses the other frameworks' imports outright.
"""
from __future__ import annotations

import os
import sys

FRAMEWORK_MODULES = {"jax": ("jax", "jaxlib", "optax"), "torch": ("torch",), "tf": ("tensorflow", "keras", "tf_keras")}


def block_other_frameworks(framework: str) -> None:
    """Make the other frameworks unimportable in this process. A None entry in sys.modules
    makes `import x` raise ImportError while `importlib.util.find_spec(x)` returns None, which
    is how torch._dynamo probes for them (a raising import hook would break it)."""
    for other, modules in FRAMEWORK_MODULES.items():
        if other != framework:
            for name in modules:
                sys.modules.setdefault(name, None)  # type: ignore[assignment]


def loaded_frameworks() -> list[str]:
    """The frameworks whose top-level module is in this process (used to prove isolation)."""
    return sorted(fw for fw, mods in FRAMEWORK_MODULES.items() if sys.modules.get(mods[0]) is not None)


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
