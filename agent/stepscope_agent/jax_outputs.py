"""A jitted call's outputs, read on the agent's completion thread: waiting for them and finding the loss.

Why a module of its own: JAX dispatches asynchronously, so a step's honest end is when its outputs
are ready, not when the call returns (docs/programs.md, "Honest step times"). Both JAX step
sources (the hot jitted function, and an annotation block that called it) hand the clock a
`ready` built here. The outputs of one call are one execution's and become ready together, so
reading the loss is the wait; without a loss every array leaf is waited for, leaves already
donated to the next step skipped. The loss is the scalar float output whose path names a loss,
else the first scalar float element of a returned tuple, else the first scalar float leaf.

Cost: this runs once per step beside the program (sharing its GIL, and on a small machine its
CPU), so the loss is searched for once per output structure and its key path kept: later steps
follow the path (`out[2]`, `out["loss"]`, `out.loss`, well under a microsecond) instead of
flattening the whole output (params and optimizer state: several microseconds a step). The
search runs again only when the path no longer leads to a scalar (the outputs changed shape).

Nothing here imports JAX: the `jax` and `numpy` modules are handed over by jax_agent.install.
"""
from __future__ import annotations

import weakref
from typing import Any, Optional

from .clock import Ready

# One key of a key path, as `follow` takes it: (True, attribute name) or (False, index or key).
PathKey = tuple[bool, Any]
# Where a function's loss sits in its outputs, for one output tree structure: (treedef, index among the
# leaves or None, the key path to it or None where a key is of a kind we cannot follow).
LossAt = tuple[Any, Optional[int], Optional[tuple[PathKey, ...]]]
# What a hot function's first call leaves for a retroactive step 0: (start, the loss leaf, weakrefs to the outputs).
FirstCall = tuple[float, Any, list[Any]]


def _is_scalar_float(leaf: Any, jnp: Any) -> bool:
    try:
        return getattr(leaf, "ndim", None) == 0 and bool(jnp.issubdtype(leaf.dtype, jnp.floating))
    except Exception:
        return False


def loss_position(out: Any, jax: Any) -> tuple[int | None, tuple[PathKey, ...] | None]:
    """Index (among `tree_leaves(out)`) of the loss and the key path to it, or (None, None): a scalar
    float leaf whose path says "loss", else the first scalar float element of a returned
    tuple/list, else the first scalar float leaf."""
    jnp, tree_util = jax.numpy, jax.tree_util
    with_path, _ = tree_util.tree_flatten_with_path(out)
    scalars = [i for i, (_, leaf) in enumerate(with_path) if _is_scalar_float(leaf, jnp)]
    if not scalars:
        return None, None
    found = scalars[0]
    named = [i for i in scalars if "loss" in tree_util.keystr(with_path[i][0]).lower()]
    if named:
        found = named[0]
    elif isinstance(out, (tuple, list)):
        offset = 0
        for element in out:
            count = len(tree_util.tree_leaves(element))
            if count == 1 and offset in scalars and _is_scalar_float(element, jnp):
                found = offset
                break
            offset += count
    return found, _path(with_path[found][0], tree_util)


def _path(path: Any, tree_util: Any) -> tuple[PathKey, ...] | None:
    """A key path as `follow` takes it, or None if a key is of another kind (a custom node's)."""
    kinds = ((getattr(tree_util, "SequenceKey", None), "idx", False), (getattr(tree_util, "DictKey", None), "key", False),
             (getattr(tree_util, "GetAttrKey", None), "name", True))
    keys: list[PathKey] = []
    for key in path:
        for kind, field, attribute in kinds:
            if kind is not None and type(key) is kind:
                keys.append((attribute, getattr(key, field)))
                break
        else:
            return None
    return tuple(keys)


def follow(out: Any, path: tuple[PathKey, ...]) -> Any:
    """The output the path leads to (raises if the output no longer has that shape)."""
    node = out
    for attribute, key in path:
        node = getattr(node, key) if attribute else node[key]
    return node


def loss_index(out: Any, known: LossAt | None, jax: Any) -> tuple[list[Any], LossAt]:
    """The output's leaves and where its loss is; `known` (the last answer for this function) is
    reused while the tree structure stays the same, so the search runs once per structure."""
    leaves, treedef = jax.tree_util.tree_flatten(out)
    if known is None or known[0] != treedef:
        known = (treedef, *loss_position(out, jax))
    return leaves, known


def quick_loss(out: Any, known: LossAt | None, np: Any) -> float | None:
    """The loss by its known key path (which is also the wait: one execution's outputs are ready
    together), or None where there is no known path or it does not lead to a scalar now."""
    if known is None or known[2] is None:
        return None
    try:
        leaf = follow(out, known[2])
    except Exception:  # the output has another shape this time
        return None
    if getattr(leaf, "ndim", None) != 0:
        return None
    return as_float(leaf, np)


def as_float(leaf: Any, np: Any) -> float | None:
    """The loss as a Python float; waits for it (through numpy: a fifth of `float(array)`'s cost)."""
    try:
        return float(np.asarray(leaf))
    except Exception:  # deleted (donated), or not readable: no loss rather than a failure
        return None


def block(leaves: list[Any], jax: Any) -> None:
    """Wait for every array leaf; leaves deleted by donation (the next step consumed them) are skipped."""
    try:
        jax.block_until_ready(leaves)
        return
    except (RuntimeError, ValueError):
        pass
    for leaf in leaves:
        try:
            leaf.block_until_ready()
        except (RuntimeError, ValueError, AttributeError):
            pass


def first_call(start: float, leaves: list[Any], at: int | None) -> FirstCall:
    """What a first call leaves for a retroactive step 0: the loss (a scalar, held) and weak
    references to the other outputs (never kept alive by us)."""
    refs: list[Any] = []
    for leaf in leaves:
        try:
            refs.append(weakref.ref(leaf))
        except TypeError:
            pass
    return start, (None if at is None else leaves[at]), refs


def first_ready(first: FirstCall, jax: Any, np: Any) -> Ready:
    """Step 0's `ready`: the first call's outputs that are still alive, then its loss."""
    _, loss_leaf, refs = first

    def ready() -> float | None:
        alive = [leaf for leaf in (ref() for ref in refs) if leaf is not None]
        block(alive, jax)
        return None if loss_leaf is None else as_float(loss_leaf, np)
    return ready
