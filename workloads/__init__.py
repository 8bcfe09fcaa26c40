"""What runs: the same models in JAX, PyTorch and TensorFlow, and their data.
Framework imports happen only inside the `*_model` and `*_backend` modules."""
