"""Asynchronous dispatch for the agent's tests: one step, waited for, then N steps dispatched
without waiting, then a wait for the last. Prints, on Stepscope's clock (perf_counter minus
STEPSCOPE_CLOCK_ORIGIN), when step 0's result was ready and when the last step's was.

    python jax_async.py N
"""
import os
import sys
import time

import jax
import jax.numpy as jnp


@jax.jit
def step(w, x):
    for _ in range(3):
        x = jnp.tanh(x @ w)
    return x, jnp.mean(x * x)


def main() -> None:
    n = int(sys.argv[1])
    origin = float(os.environ.get("STEPSCOPE_CLOCK_ORIGIN", "0"))
    w = jnp.eye(768) * 0.5 + 0.001
    x = jnp.ones((768, 768))
    x, loss = step(w, x)
    loss.block_until_ready()
    first_ready = time.perf_counter() - origin
    dispatched = time.perf_counter()
    for _ in range(n):
        x, loss = step(w, x)
    dispatch_s = time.perf_counter() - dispatched
    loss.block_until_ready()
    last_ready = time.perf_counter() - origin
    print("first_ready", repr(first_ready))
    print("last_ready", repr(last_ready))
    print("dispatch_s", repr(dispatch_s))


if __name__ == "__main__":
    main()
