"""Train a small Keras classifier with model.fit on fake 8x8 images.

The training set holds exactly steps * batch_size samples, so one epoch runs exactly --steps batches.
A small callback prints progress and times each batch.
"""

import argparse
import statistics
import time

import keras
import numpy as np


class StepTimer(keras.callbacks.Callback):
    """Records the wall time between consecutive training batches and prints the loss every 10 batches."""

    def __init__(self, print_every: int = 10) -> None:
        super().__init__()
        self.print_every = print_every
        self.step_times = []
        self._last = None

    def on_train_begin(self, logs=None):
        self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        loss = float(logs["loss"])
        now = time.perf_counter()
        self.step_times.append(now - self._last)
        self._last = now
        step = len(self.step_times)
        if step % self.print_every == 0:
            print(f"step {step} loss {loss:.4f}")


def make_data(num_samples: int, seed: int = 0):
    """Fake 8x8 grayscale images whose class is set by a random linear teacher."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_samples, 8, 8, 1)).astype("float32")
    teacher = rng.normal(size=(64, 10)).astype("float32")
    y = np.argmax(x.reshape(num_samples, 64) @ teacher, axis=-1)
    return x, y


def build_model() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40, help="number of training batches")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    x, y = make_data(args.steps * args.batch_size)
    model = build_model()

    timer = StepTimer()
    model.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=True, callbacks=[timer], verbose=0)

    steps = len(timer.step_times)
    timed = timer.step_times[2:] or timer.step_times
    ms_per_step = statistics.median(timed) * 1000 if timed else float("nan")
    print(f"done: {steps} steps, {ms_per_step:.2f} ms/step (own timing)")


if __name__ == "__main__":
    main()
