"""The parameter counts every framework must report at each RunSpec.model_scale the scorecard's
model-size fit uses: one table, so the three backend tests hold all three frameworks to the same
numbers (tests/workloads/test_configs.py checks it against the framework-free configs)."""
from __future__ import annotations

SCALES = (0.5, 1.0, 2.0)
SCALED_PARAM_COUNTS = {
    "convnet": {0.5: 201_578, 1.0: 804_554, 2.0: 3_214_730},
    "mlp": {0.5: 235_146, 1.0: 535_818, 2.0: 1_333_770},
    "transformer": {0.5: 29_600, 1.0: 108_320, 2.0: 413_216},
}
