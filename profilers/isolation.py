"""Make a worker process hold exactly one framework, configured before it is imported.

TensorFlow and Keras import JAX opportunistically when it is installed (+0.5 s, +memory, and
a second framework's threads in the measurement); they fall back cleanly on ImportError, so
the worker refuses the other frameworks' imports outright.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys

FRAMEWORK_MODULES = {"jax": ("jax", "jaxlib", "optax"), "torch": ("torch",), "tf": ("tensorflow", "keras", "tf_keras")}


class _RefusingLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        raise ImportError(f"{spec.name} is not loaded in a Stepscope worker that measures another framework")

    def exec_module(self, module: object) -> None:  # never reached: create_module refuses
        raise ImportError("refused")


class _BlockFrameworks(importlib.abc.MetaPathFinder):
    """Answers for the other frameworks with a spec whose loading raises ImportError.

    Both obvious alternatives break a framework: a finder that raises breaks torch._dynamo,
    which probes `importlib.util.find_spec("jax")`; a None in sys.modules breaks scipy,
    which reads `sys.modules["torch"].Tensor` when the key exists. Here find_spec succeeds
    (origin None, which dynamo skips), `import jax` raises ImportError (which TF and Keras
    catch), and sys.modules never holds the name."""

    def __init__(self, blocked: set[str]) -> None:
        self.blocked = blocked

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name.split(".", 1)[0] in self.blocked:
            return importlib.machinery.ModuleSpec(name, _RefusingLoader(), origin=None)
        return None


def block_other_frameworks(framework: str) -> None:
    blocked = {name for other, modules in FRAMEWORK_MODULES.items() if other != framework for name in modules}
    sys.meta_path.insert(0, _BlockFrameworks(blocked))


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
