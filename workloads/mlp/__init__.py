"""mlp: dense layers only, so the comparison isolates matmul and dispatch overhead."""
from workloads.configs import MLPConfig

CONFIG = MLPConfig(data_kind="images", image_shape=(28, 28, 1), num_classes=10, hidden=(512, 256))
