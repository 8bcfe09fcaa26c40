"""The workloads Stepscope ships, by name, and how to reach each framework's backend.

Nothing here imports a framework: the GUI and the controller read this registry too.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from workloads.configs import ModelConfig

WORKLOADS = ("convnet", "mlp", "transformer")

_BACKENDS = {"torch": "workloads.torch_backend", "jax": "workloads.jax_backend", "tf": "workloads.tf_backend"}


def model_config(workload: str) -> ModelConfig:
    """The framework-free description of a workload (layer sizes, data kind)."""
    config: ModelConfig = importlib.import_module(f"workloads.{workload}").CONFIG
    return config


def model_builder(workload: str, framework: str) -> ModuleType:
    """The module that builds `workload` in `framework`, e.g. workloads.convnet.torch_model."""
    return importlib.import_module(f"workloads.{workload}.{framework}_model")


def backend(framework: str) -> ModuleType:
    """The module that turns a model into a runnable train/infer step for `framework`."""
    return importlib.import_module(_BACKENDS[framework])
