"""The convnet as a user would write it in plain TensorFlow/Keras (tf.function + XLA), timed the plain way."""
import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"
import keras  # noqa: E402  (reads KERAS_BACKEND when imported, so it follows the line above)
import tensorflow as tf  # noqa: E402  (reads TF_CPP_MIN_LOG_LEVEL when imported)

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=200)
p.add_argument("--warmup", type=int, default=20)
p.add_argument("--batch-size", type=int, default=64)
a = p.parse_args()
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                          keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dense(10)])
opt = keras.optimizers.Adam(1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@tf.function(jit_compile=True)
def train_step(x, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables, strict=True))
    return loss


rng = np.random.default_rng(0)
batches = [(tf.constant(rng.random((a.batch_size, 28, 28, 1), dtype=np.float32)),
            tf.constant(rng.integers(0, 10, a.batch_size).astype(np.int32))) for _ in range(4)]
times = []
for i in range(a.warmup + a.steps):
    x, y = batches[i % 4]
    t0 = time.perf_counter()
    float(train_step(x, y))
    if i >= a.warmup:
        times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"step_ms_median": float(np.median(times))}))
