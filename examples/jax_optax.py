"""Train a small MLP classifier with JAX and optax.

Parameters are a plain pytree of arrays; a jitted train_step is called once per batch from a Python
loop, and a separate jitted evaluate runs once at the end.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import optax


def init_mlp(key, sizes):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):  # noqa: B905 (no strict= on Python 3.9)
        key, w_key = jax.random.split(key)
        params.append(
            {
                "w": jax.random.normal(w_key, (fan_in, fan_out)) * jnp.sqrt(2.0 / fan_in),
                "b": jnp.zeros(fan_out),
            }
        )
    return params


def forward(params, x):
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    last = params[-1]
    return x @ last["w"] + last["b"]


def loss_fn(params, x, y):
    logits = forward(params, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


optimizer = optax.adam(1e-3)


@jax.jit
def train_step(params, opt_state, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, opt_state, loss


@jax.jit
def evaluate(params, x, y):
    logits = forward(params, x)
    accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == y)
    return loss_fn(params, x, y), accuracy


def make_data(key, num_samples, num_features=64, num_classes=10):
    """Fake 8x8 'images' whose class is set by a random linear teacher."""
    x_key, teacher_key = jax.random.split(key)
    x = jax.random.normal(x_key, (num_samples, num_features))
    teacher = jax.random.normal(teacher_key, (num_features, num_classes))
    y = jnp.argmax(x @ teacher, axis=-1)
    return x, y


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40, help="number of training steps")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    key = jax.random.PRNGKey(0)
    data_key, init_key = jax.random.split(key)
    num_batches = 64
    x, y = make_data(data_key, num_batches * args.batch_size)
    x_batches = x.reshape(num_batches, args.batch_size, -1)
    y_batches = y.reshape(num_batches, args.batch_size)

    params = init_mlp(init_key, [64, 128, 128, 10])
    opt_state = optimizer.init(params)

    step_times = []
    last = time.perf_counter()
    for step in range(1, args.steps + 1):
        i = (step - 1) % num_batches
        params, opt_state, loss = train_step(params, opt_state, x_batches[i], y_batches[i])
        loss.block_until_ready()

        now = time.perf_counter()
        step_times.append(now - last)
        last = now
        if step % 10 == 0:
            print(f"step {step} loss {float(loss):.4f}")

    eval_loss, accuracy = evaluate(params, x, y)
    print(f"eval loss {float(eval_loss):.4f} accuracy {float(accuracy):.3f}")

    timed = step_times[2:] or step_times
    ms_per_step = statistics.median(timed) * 1000 if timed else float("nan")
    print(f"done: {args.steps} steps, {ms_per_step:.2f} ms/step (own timing)")


if __name__ == "__main__":
    main()
