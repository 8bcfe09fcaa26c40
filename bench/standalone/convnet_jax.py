"""The convnet as a user would write it in plain JAX + optax (jit), timed the plain way; written as
the app's JAX backend writes it (README: "How the built-in models are written, and why"): one-hot
cross-entropy, params and optimiser state donated, NHWC, max-pool by lax.reduce_window."""
import argparse
import functools
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=200)
p.add_argument("--warmup", type=int, default=20)
p.add_argument("--batch-size", type=int, default=64)
a = p.parse_args()
k = jax.random.split(jax.random.PRNGKey(0), 3)
g = jax.nn.initializers.glorot_uniform()
params = {"conv_w": g(k[0], (3, 3, 1, 32)), "conv_b": jnp.zeros(32), "w1": g(k[1], (6272, 128)), "b1": jnp.zeros(128),
          "w2": g(k[2], (128, 10)), "b2": jnp.zeros(10)}


def forward(p, x):
    h = jax.lax.conv_general_dilated(x, p["conv_w"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + p["conv_b"]
    h = jax.nn.relu(h)
    h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    h = jax.nn.relu(h.reshape(h.shape[0], -1) @ p["w1"] + p["b1"])
    return h @ p["w2"] + p["b2"]


opt = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-8)
state = opt.init(params)


@functools.partial(jax.jit, donate_argnums=(0, 1))  # update params/state in place, as the app's JAX backend does
def train_step(params, state, x, y):
    loss, grads = jax.value_and_grad(lambda p: optax.softmax_cross_entropy(forward(p, x), jax.nn.one_hot(y, 10)).mean())(params)
    updates, state = opt.update(grads, state, params)
    return optax.apply_updates(params, updates), state, loss


rng = np.random.default_rng(0)
batches = [(jnp.asarray(rng.random((a.batch_size, 28, 28, 1), dtype=np.float32)),
            jnp.asarray(rng.integers(0, 10, a.batch_size).astype(np.int32))) for _ in range(4)]
times = []
for i in range(a.warmup + a.steps):
    x, y = batches[i % 4]
    t0 = time.perf_counter()
    params, state, loss = train_step(params, state, x, y)
    float(loss)
    if i >= a.warmup:
        times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"step_ms_median": float(np.median(times))}))
