"""Measures what the agent adds to a tiny jitted CPU training step, inside one program run under the
agent: blocks of steps through the hooked `jax.jit` function (the step function, so every call is a
step with its completion wait and `step` event) alternate with blocks through JAX's own jitted
function of the same Python function (no hooks), and the medians compare. Each block ends by
waiting for its last step, then pauses so the agent's completion thread is idle before the next.

    python jax_overhead.py  ->  step_us (wall, without the hooks), agent_us_per_step (wall),
                                 thread_cpu_us_per_step (the program's thread), process_cpu_us_per_step (all threads)
"""
import statistics
import time

import jax
import jax.numpy as jnp
import optax

optimizer = optax.adam(1e-2)


def loss_fn(params, x, y):
    hidden = jax.nn.relu(x @ params["w1"] + params["b1"])
    return jnp.mean((hidden @ params["w2"] + params["b2"] - y) ** 2)


def train_step(params, opt_state, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


hooked = jax.jit(train_step)
plain = getattr(jax.jit, "__wrapped__", jax.jit)(train_step)  # JAX's own jit (ours keeps it as __wrapped__)
k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(0), 4)
params = {"w1": jax.random.normal(k1, (16, 32)) * 0.1, "b1": jnp.zeros(32),
          "w2": jax.random.normal(k2, (32, 4)) * 0.1, "b2": jnp.zeros(4)}
state = optimizer.init(params)
x, y = jax.random.normal(k3, (8, 16)), jax.random.normal(k4, (8, 4))


def block(step, n):
    global params, state
    wall, thread, process = time.perf_counter(), time.thread_time(), time.process_time()
    for _ in range(n):
        params, state, loss = step(params, state, x, y)
    jax.block_until_ready(loss)
    done = (time.perf_counter() - wall, time.thread_time() - thread, time.process_time() - process)
    time.sleep(0.05)  # the completion thread catches up outside the timed blocks
    return [d / n * 1e6 for d in done]


for _ in range(3):
    block(hooked, 50)
    block(plain, 50)
with_hooks, without = [], []
for _ in range(12):
    without.append(block(plain, 200))
    with_hooks.append(block(hooked, 200))
for i, name in enumerate(("agent_us_per_step", "thread_cpu_us_per_step", "process_cpu_us_per_step")):
    base = statistics.median(b[i] for b in without)
    added = statistics.median(h[i] for h in with_hooks) - base
    if i == 0:
        print(f"step_us {base:.1f}")
        print(f"agent_percent {added / base * 100:.2f}")
    print(f"{name} {added:.2f}")
