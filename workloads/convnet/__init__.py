"""convnet: the reference workload, a small image classifier every framework runs well."""
from workloads.configs import ConvNetConfig

CONFIG = ConvNetConfig(data_kind="images", image_shape=(28, 28, 1), num_classes=10, conv_channels=32, hidden=128)
