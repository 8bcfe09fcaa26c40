"""The scorecard's device line names each device kind once, with what a framework adds."""
from __future__ import annotations

from typing import Any

import numpy as np

from sessions.scorecard import _device_kind
from sessions.scorecard_data import RunData


def _run(framework: str, kind: str, name: str, cores: int | None = 2) -> RunData:
    environment: dict[str, Any] = {"device_kind": kind, "device_name": name, "host": {"cpu_count": cores}}
    return RunData(run_id=framework, purposes=("train",), spec={"framework": framework}, environment=environment,
                   summary={}, step_ms=np.zeros(0), samples={}, evals=[], phases=[])


def test_cpu_names_the_cores_and_only_what_a_framework_adds() -> None:
    runs = [_run("torch", "cpu", "cpu (AVX512)"), _run("jax", "cpu", "cpu"), _run("tf", "cpu", "cpu")]
    assert _device_kind("cpu", runs) == "cpu, 2 cores (torch: AVX512)"


def test_a_gpu_named_alike_by_every_framework_is_named_once() -> None:
    runs = [_run(fw, "gpu", "NVIDIA H200", None) for fw in ("torch", "jax", "tf")]
    assert _device_kind("gpu", runs) == "gpu (NVIDIA H200)"


def test_gpus_named_differently_say_who_named_which() -> None:
    runs = [_run("torch", "gpu", "NVIDIA H200", None), _run("jax", "gpu", "H200", None)]
    assert _device_kind("gpu", runs) == "gpu (jax: H200; torch: NVIDIA H200)"
