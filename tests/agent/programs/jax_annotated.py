"""A JAX loop marked with the program's own jax.profiler.StepTraceAnnotation blocks.

    python jax_annotated.py STEPS [FIRST_STEP_NUM]
"""
import sys

import jax
import jax.numpy as jnp


@jax.jit
def train_step(w, x):
    loss = jnp.mean((x @ w) ** 2)
    return w - 0.01 * loss, loss


def main() -> None:
    steps = int(sys.argv[1])
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    w = jnp.ones((8, 8)) * 0.1
    x = jnp.ones((4, 8))
    for i in range(first, first + steps):
        with jax.profiler.StepTraceAnnotation("train", step_num=i):
            w, loss = train_step(w, x)
            print("step", i, repr(float(loss)))


if __name__ == "__main__":
    main()
