"""What programs do with jax.jit, for the agent's tests: .lower, methods, static and donated
arguments, jax.jit as a decorator with arguments, `from jax import jit`, jit of a jitted function,
grad/vmap of a jitted function. Prints results only (the same with or without Stepscope).

    python jax_api.py          # the API checks
    python jax_api.py rejit    # jit(train_step)(...) anew each of 4 steps (JAX's cache makes that work), with the
                               # `jit` of `from jax import jit`
"""
import functools
import inspect
import sys

import jax
import jax.numpy as jnp
from jax import jit


@functools.partial(jax.jit, static_argnames=("power",))
def powered(x, power):
    return x ** power


@jit
def double(x):
    """Twice x."""
    return 2 * x


class Model:
    def __init__(self, scale):
        self.scale = scale

    @functools.partial(jax.jit, static_argnums=0)
    def apply(self, x):
        return x * self.scale

    def __hash__(self):
        return hash(self.scale)

    def __eq__(self, other):
        return isinstance(other, Model) and other.scale == self.scale


def train_step(w):
    return w * 0.5, jnp.sum(w)


def main() -> None:
    if sys.argv[1:] == ["rejit"]:
        w = jnp.ones(3)
        for _ in range(4):
            w, loss = jit(train_step)(w)
            print("loss", repr(float(loss)))
        return
    x = jnp.arange(4.0)
    print("lower", "module" in double.lower(x).as_text())
    print("compiled", double.lower(x).compile()(x).tolist())
    print("trace", type(double.trace(x).jaxpr).__name__)
    print("eval_shape", double.eval_shape(x).shape)
    print("name", double.__name__, double.__doc__, str(inspect.signature(double)))
    print("wrapped", double.__wrapped__(x).tolist())
    print("powered", powered(x, power=3).tolist())
    try:
        no_fun = jax.jit(static_argnums=1)
    except TypeError:
        no_fun = functools.partial(jax.jit, static_argnums=1)
    scaled = no_fun(lambda a, k: a * k)
    print("no_fun", scaled(x, 3).tolist())
    donating = jax.jit(lambda a: a + 1, donate_argnums=0)
    print("donated", donating(jnp.ones(3)).tolist())
    outer = jax.jit(lambda a: double(a) + 1)
    print("outer", outer(x).tolist())
    print("jit_of_jit", jax.jit(double)(x).tolist())
    print("grad", jax.grad(lambda a: double(a).sum())(x).tolist())
    print("vmap", jax.vmap(double)(jnp.ones((2, 3))).tolist())
    model = Model(3.0)
    for _ in range(5):
        y = model.apply(x)
    print("method", y.tolist())
    double.clear_cache()
    print("after_clear", double(x).tolist())


if __name__ == "__main__":
    main()
