"""A Keras 3 program: `fit` (callbacks passed positionally, validation data), then evaluate and predict;
or `predict` only (an inference script).

    python keras_fit.py fit        # 2 epochs x 4 batches of 16, a callback of its own prints each batch's loss
    python keras_fit.py predict    # 4 predict batches of 16
"""
import sys

import keras
import numpy as np


class Printer(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("batch", batch, repr(float(logs["loss"])))


def main() -> None:
    mode = sys.argv[1]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    rng = np.random.RandomState(0)
    x = rng.randn(64, 8).astype("float32")
    y = rng.randn(64, 1).astype("float32")
    if mode == "predict":
        out = model.predict(x, batch_size=16, verbose=0)
        print("predicted", out.shape)
        return
    callbacks = [Printer()]
    history = model.fit(x, y, 16, 2, 0, callbacks, validation_data=(x[:16], y[:16]))
    print("history", [round(v, 6) for v in history.history["loss"]])
    print("callbacks unchanged", len(callbacks) == 1 and isinstance(callbacks[0], Printer))
    print("params", model.count_params())
    model.evaluate(x, y, batch_size=16, verbose=0)
    model.predict(x, verbose=0)


if __name__ == "__main__":
    main()
