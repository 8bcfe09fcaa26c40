"""Build the optional compiled modules in place (`traces/chunk_scan.pyx`: the Chrome stream's
per-chunk step), with the venv's Python: `scripts/setup.sh` runs it when the .pyx changed.
Nothing at run time needs it: without the module the reader decodes every chunk with msgspec."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["traces/chunk_scan.pyx"]


def main() -> None:
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension  # type: ignore[import-untyped]  # no stubs installed
    from setuptools.command.build_ext import build_ext  # type: ignore[import-untyped]

    extensions = [Extension(src[:-4].replace("/", "."), [src]) for src in SOURCES]
    dist = Distribution({"ext_modules": cythonize(extensions, language_level=3, quiet=True)})  # type: ignore[no-untyped-call]
    cmd = build_ext(dist)
    cmd.inplace = True
    cmd.build_temp = str(ROOT / "build" / "temp")
    cmd.ensure_finalized()
    cmd.run()


if __name__ == "__main__":
    import os

    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    main()
