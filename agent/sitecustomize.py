"""Stepscope's way into the user's program: this folder is put first on the program's PYTHONPATH,
so Python runs this file at start-up (the standard `sitecustomize` hook), in the program's own
interpreter and in every Python subprocess it starts.

It must load in any Python >= 3.9 whatever the user installed, so it uses the standard library
only, and it does nothing unless the controller left a live event channel
(docs/programs.md): then it watches for a framework import, and nothing more happens until one
comes. The sitecustomize this file shadows (a distribution's or a virtualenv's) still runs.
"""
import os
import sys


def _chain_to_shadowed_sitecustomize() -> None:
    """Run the next `sitecustomize` on sys.path, the one Python would have run without us."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    others = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None or spec.origin == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def _start() -> None:
    if os.environ.get("STEPSCOPE_CHANNEL"):
        try:
            import stepscope_agent

            stepscope_agent.boot()
        except Exception as exc:  # never the user's problem: say so on stderr and run the program as is
            sys.stderr.write(f"stepscope: the agent could not start ({type(exc).__name__}: {exc}); the program runs unprofiled\n")
    try:
        _chain_to_shadowed_sitecustomize()
    except Exception as exc:
        sys.stderr.write(f"stepscope: the environment's own sitecustomize failed ({type(exc).__name__}: {exc})\n")


_start()
