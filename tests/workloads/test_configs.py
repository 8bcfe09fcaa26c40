"""model_scale widens the built-in models in one framework-free place (workloads.configs.scaled)."""
from __future__ import annotations

import pytest

from tests.workloads.scaled_counts import SCALED_PARAM_COUNTS, SCALES
from workloads import registry
from workloads.configs import ConvNetConfig, MLPConfig, TransformerConfig, scaled


@pytest.mark.parametrize("workload", registry.WORKLOADS)
def test_the_table_the_backends_are_held_to_is_the_configs_count(workload: str) -> None:
    config = registry.model_config(workload)
    assert {s: scaled(config, s).param_count for s in SCALES} == SCALED_PARAM_COUNTS[workload]
    assert scaled(config, 1.0) is config  # the default changes nothing


def test_widths_scale_and_depth_and_heads_do_not() -> None:
    conv = scaled(registry.model_config("convnet"), 0.5)
    assert isinstance(conv, ConvNetConfig) and (conv.conv_channels, conv.hidden) == (16, 64)
    mlp = scaled(registry.model_config("mlp"), 2.0)
    assert isinstance(mlp, MLPConfig) and mlp.hidden == (1024, 512)
    base = registry.model_config("transformer")
    odd = scaled(base, 0.3)  # 64 * 0.3 = 19.2: rounded to a multiple of the 4 heads
    assert isinstance(odd, TransformerConfig) and odd.d_model == 20 and odd.d_ff == 77
    assert (odd.num_heads, odd.num_layers, odd.vocab_size) == (base.num_heads, base.num_layers, base.vocab_size)
    tiny = scaled(base, 0.001)
    assert isinstance(tiny, TransformerConfig) and tiny.d_model == tiny.num_heads and tiny.d_ff == 1
