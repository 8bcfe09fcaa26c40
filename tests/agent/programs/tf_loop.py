"""A TensorFlow custom training loop: a @tf.function train_step called STEPS times (with a helper
tf.function it calls and an init function called once before the loop).

    python tf_loop.py STEPS             # the loop as is
    python tf_loop.py STEPS --trace     # each step inside tf.profiler.experimental.Trace(step_num=i)
    python tf_loop.py STEPS --trace --own-profiler DIR   # ... and the program runs tf.profiler itself
"""
import sys

import tensorflow as tf


def main() -> None:
    steps = int(sys.argv[1])
    tf.random.set_seed(0)
    tf.config.experimental.enable_op_determinism()
    w = tf.Variable(tf.zeros((8, 1)))
    x = tf.random.normal((32, 8))
    y = tf.random.normal((32, 1))

    @tf.function
    def init() -> tf.Tensor:
        w.assign(tf.random.normal((8, 1), stddev=0.1))
        return tf.reduce_sum(w)

    @tf.function
    def predict(inputs: tf.Tensor) -> tf.Tensor:
        return inputs @ w

    @tf.function
    def train_step(inputs: tf.Tensor, targets: tf.Tensor) -> dict:
        with tf.GradientTape() as tape:
            pred = predict(inputs)
            loss = tf.reduce_mean((pred - targets) ** 2)
        w.assign_sub(0.1 * tape.gradient(loss, w))
        return {"pred": pred, "loss": loss, "step": tf.constant(1)}

    init()
    own = "--own-profiler" in sys.argv
    if own:
        tf.profiler.experimental.start(sys.argv[sys.argv.index("--own-profiler") + 1])
    for i in range(steps):
        if "--trace" in sys.argv:
            with tf.profiler.experimental.Trace("train", step_num=i, _r=1):
                out = train_step(x, y)
        else:
            out = train_step(x, y)
        print("loss", i, repr(float(out["loss"])))
    if own:
        tf.profiler.experimental.stop()
        print("own profile written")


if __name__ == "__main__":
    main()
