"""A JAX loop that runs jax.profiler itself, for the agent's tests.

    python jax_own_profiler.py around OUT_DIR   # `with jax.profiler.trace(OUT_DIR):` around 6 steps
    python jax_own_profiler.py inside OUT_DIR   # start_trace before step 3, stop_trace after step 4 (8 steps)

Prints how many .xplane.pb files the program's own trace wrote.
"""
import pathlib
import sys

import jax
import jax.numpy as jnp


@jax.jit
def train_step(w, x):
    loss = jnp.mean((x @ w) ** 2)
    return w - 0.01 * loss, loss


def main() -> None:
    mode, out_dir = sys.argv[1], sys.argv[2]
    w = jnp.ones((8, 8)) * 0.1
    x = jnp.ones((4, 8))
    if mode == "around":
        with jax.profiler.trace(out_dir):
            for _ in range(6):
                w, loss = train_step(w, x)
                float(loss)
    else:
        for i in range(8):
            if i == 3:
                jax.profiler.start_trace(out_dir)
            w, loss = train_step(w, x)
            float(loss)
            if i == 4:
                jax.profiler.stop_trace()
    print("own xplanes", len(list(pathlib.Path(out_dir).glob("plugins/profile/*/*.xplane.pb"))))


if __name__ == "__main__":
    main()
