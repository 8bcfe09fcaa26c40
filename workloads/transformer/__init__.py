"""transformer: a small causal language model, so attention and layer norm are measured too.

Its real data is the digits set as token sequences: 64 pixel intensities (0..16) followed by
a label token (17 + digit), so next-token prediction at the last position is classification.
"""
from workloads.configs import TransformerConfig

CONFIG = TransformerConfig(
    data_kind="tokens", vocab_size=32, seq_len=64, d_model=64, num_heads=4, d_ff=256, num_layers=2
)
