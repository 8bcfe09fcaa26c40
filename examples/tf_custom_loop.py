"""Train a small Keras model with a TensorFlow custom training loop.

A tf.data pipeline feeds batches to a @tf.function train step that computes gradients with
tf.GradientTape and applies them with a Keras optimizer.
"""

import argparse
import statistics
import time

import keras
import tensorflow as tf


def make_dataset(num_samples: int, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """Fake 8x8 grayscale images whose class is set by a random linear teacher."""
    images = tf.random.stateless_normal((num_samples, 8, 8, 1), seed=[seed, 1])
    teacher = tf.random.stateless_normal((64, 10), seed=[seed, 2])
    labels = tf.argmax(tf.reshape(images, (num_samples, 64)) @ teacher, axis=-1)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    return dataset.shuffle(num_samples, seed=seed).repeat().batch(batch_size, drop_remainder=True)


def build_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40, help="number of training steps")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    dataset = make_dataset(2048, args.batch_size).take(args.steps)
    model = build_model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))  # noqa: B905 (no strict= on Python 3.9)
        return loss

    step_times = []
    steps = 0
    last = time.perf_counter()
    for x, y in dataset:
        loss = float(train_step(x, y))
        steps += 1

        now = time.perf_counter()
        step_times.append(now - last)
        last = now
        if steps % 10 == 0:
            print(f"step {steps} loss {loss:.4f}")

    timed = step_times[2:] or step_times
    ms_per_step = statistics.median(timed) * 1000 if timed else float("nan")
    print(f"done: {steps} steps, {ms_per_step:.2f} ms/step (own timing)")


if __name__ == "__main__":
    main()
