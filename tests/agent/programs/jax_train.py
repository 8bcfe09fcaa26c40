"""A tiny JAX + optax training loop for the agent's tests: Adam on an MLP, the loss printed each step.

    python jax_train.py STEPS [--donate] [--sleep SECONDS] [--bench]

An init function and an eval function are jitted too and called once each (neither is a step).
--donate: train_step donates its params and optimizer state (donate_argnums=(0, 1)).
--sleep: host work between steps (time.sleep before each step).
--bench: no per-step prints; prints the mean wall time per step after 200 warm-up steps.
"""
import sys
import time

import jax
import jax.numpy as jnp
import optax


def main() -> None:
    steps = int(sys.argv[1])
    sleep = float(sys.argv[sys.argv.index("--sleep") + 1]) if "--sleep" in sys.argv else 0.0
    bench = "--bench" in sys.argv
    width = 32
    optimizer = optax.adam(1e-2)

    @jax.jit
    def init(key):
        k1, k2 = jax.random.split(key)
        return {"w1": jax.random.normal(k1, (16, width)) * 0.1, "b1": jnp.zeros(width),
                "w2": jax.random.normal(k2, (width, 4)) * 0.1, "b2": jnp.zeros(4)}

    def loss_fn(params, x, y):
        hidden = jax.nn.relu(x @ params["w1"] + params["b1"])
        return jnp.mean((hidden @ params["w2"] + params["b2"] - y) ** 2)

    def train_step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1) if "--donate" in sys.argv else ())
    evaluate = jax.jit(loss_fn)

    params = init(jax.random.PRNGKey(0))
    opt_state = optimizer.init(params)
    x = jax.random.normal(jax.random.PRNGKey(1), (8, 16))
    y = jax.random.normal(jax.random.PRNGKey(2), (8, 4))
    print("params", sum(v.size for v in jax.tree_util.tree_leaves(params)))
    started = 0.0
    for i in range(steps):
        if bench and i == 200:
            jax.block_until_ready(params)
            started = time.perf_counter()
        if sleep:
            time.sleep(sleep)
        params, opt_state, loss = train_step(params, opt_state, x, y)
        if not bench:
            print("step", i, repr(float(loss)))
    if bench:
        jax.block_until_ready(params)
        print("per_step_us", (time.perf_counter() - started) / (steps - 200) * 1e6)
    print("eval", repr(float(evaluate(params, x, y))))


if __name__ == "__main__":
    main()
