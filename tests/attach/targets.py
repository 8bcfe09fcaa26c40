"""Programs to attach to, each a real subprocess that prints "ready" once it listens or works:
a JAX or TensorFlow loop serving its profiler, a JAX program that serves and idles, a gRPC
server without the profiler service, an HTTP server, and a busy plain-Python function."""
from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

JAX_LOOP = """
import sys, time
import jax, jax.numpy as jnp
jax.profiler.start_server(int(sys.argv[1]))
@jax.jit
def train_step(x):
    return jnp.tanh(x @ x) * 0.5
x = jnp.ones((32, 32))
train_step(x).block_until_ready()
print("ready", flush=True)
i = 0
while True:
    with jax.profiler.StepTraceAnnotation("train", step_num=i):
        x = train_step(x).block_until_ready()
    i += 1
    time.sleep(0.005)
"""

JAX_IDLE = """
import sys, time
import jax
jax.profiler.start_server(int(sys.argv[1]))
print("ready", flush=True)
time.sleep(600)
"""

TF_LOOP = """
import sys, time
import tensorflow as tf
tf.profiler.experimental.server.start(int(sys.argv[1]))
@tf.function
def train_step(x):
    return tf.tanh(tf.matmul(x, x)) * 0.5
x = tf.ones((32, 32))
train_step(x)
print("ready", flush=True)
i = 0
while True:
    with tf.profiler.experimental.Trace("train", step_num=i, _r=1):
        x = train_step(x)
    i += 1
    time.sleep(0.005)
"""

GRPC_BARE = """
import sys, time
from concurrent import futures
import grpc
server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
server.add_insecure_port(f"localhost:{sys.argv[1]}")
server.start()
print("ready", flush=True)
time.sleep(600)
"""

HTTP_SERVER = """
import sys, http.server
server = http.server.HTTPServer(("localhost", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
print("ready", flush=True)
server.serve_forever()
"""

BUSY_PYTHON = """
def crunch_known_numbers(n):
    total = 0
    for i in range(n):
        total += i * i
    return total
print("ready", flush=True)
while True:
    crunch_known_numbers(200_000)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(source: str, port: int | None = None, own_tmp: bool = False) -> Iterator[subprocess.Popen[str]]:
    """The program running until the block ends; it has printed "ready" when the block starts.
    `own_tmp`: it sees a /tmp of its own (a private mount namespace, root only), as a program on
    another machine sees its own disk."""
    argv = [sys.executable, "-c", source] + ([str(port)] if port is not None else [])
    if own_tmp:
        argv = ["unshare", "--mount", "sh", "-c", 'mount -t tmpfs none /tmp && exec "$@"', "sh", *argv]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the suite's timeout ends a program that never gets ready
        if "ready" not in line:
            raise RuntimeError(f"the target program did not start (exit code {process.poll()})")
        yield process
    finally:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def attach(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "main.py", "attach", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
