"""Data-parallel JAX on several processes of one machine: `jax.distributed.initialize`, one CPU
device per process, a global mesh, and a jitted train step whose batch is sharded across the
processes (XLA all-reduces the gradients).

Run without `--process-id`, it is its own launcher: it starts `--processes` copies of itself (each
with its `--process-id`) and waits for them, as a cluster's launcher would. A small MLP on seeded
noise; prints `step 10 loss ...` every 10 steps from process 0, then `done: N steps, X.XX ms/step`.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time


def launch(args: argparse.Namespace) -> int:
    """Start one child per process on a free coordinator port; the first failure's code is ours."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    children = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--process-id", str(i),
                                  "--processes", str(args.processes), "--port", str(port), "--steps", str(args.steps),
                                  "--batch-size", str(args.batch_size)]) for i in range(args.processes)]
    codes = [child.wait() for child in children]
    return next((code for code in codes if code), 0)


def train(args: argparse.Namespace) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{args.port}", num_processes=args.processes,
                               process_id=args.process_id)
    mesh = Mesh(np.array(jax.devices()), ("data",))
    batch_sharding = NamedSharding(mesh, PartitionSpec("data"))
    replicated = NamedSharding(mesh, PartitionSpec())
    rng = np.random.default_rng(args.process_id)
    w1 = np.random.default_rng(0).normal(size=(64, 128)).astype(np.float32) * 0.1
    w2 = np.random.default_rng(1).normal(size=(128, 10)).astype(np.float32) * 0.1
    params = jax.device_put((w1, w2), replicated)

    def loss_fn(params, x, y):
        h = jnp.tanh(x @ params[0])
        logits = h @ params[1]
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * jax.nn.one_hot(y, 10), axis=-1))

    @jax.jit
    def train_step(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return jax.tree.map(lambda p, g: p - 0.05 * g, params, grads), loss

    times = []
    for step in range(args.steps):
        start = time.perf_counter()
        x_local = rng.normal(size=(args.batch_size, 64)).astype(np.float32)
        y_local = rng.integers(0, 10, size=(args.batch_size,))
        x = jax.make_array_from_process_local_data(batch_sharding, x_local)
        y = jax.make_array_from_process_local_data(batch_sharding, y_local)
        params, loss = train_step(params, x, y)
        loss.block_until_ready()
        times.append(time.perf_counter() - start)
        if args.process_id == 0 and (step + 1) % 10 == 0:
            print(f"step {step + 1} loss {float(loss):.4f}", flush=True)
    if args.process_id == 0:
        own = statistics.median(times[2:]) * 1000 if len(times) > 2 else float("nan")
        print(f"done: {args.steps} steps, {own:.2f} ms/step (own timing)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--process-id", type=int, default=None)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.process_id is None:
        return launch(args)
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
