"""Build the optional compiled modules in place, with the venv's Python: `scripts/setup.sh` runs
it when their sources changed. Each is built on its own, so one that fails (a missing library)
leaves the others; nothing at run time needs any of them:
- `traces/chunk_scan.pyx`, the Chrome stream's per-chunk step (without it msgspec decodes every chunk);
- `traces/gzip_into.pyx`, gzip inflated by ISA-L (Debian's libisal-dev) straight into the
  stream's buffer (without it `bounded_read.gunzip_pieces` inflates in pieces and copies them).
Exit status: 0 when all built, 1 when some did not (their errors on stderr)."""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = {"traces/chunk_scan.pyx": [], "traces/gzip_into.pyx": ["isal"]}  # source -> libraries it links


def build(source: str, libraries: list[str]) -> None:
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension  # type: ignore[import-untyped]  # no stubs installed
    from setuptools.command.build_ext import build_ext  # type: ignore[import-untyped]

    extension = Extension(source[:-4].replace("/", "."), [source], libraries=libraries)
    dist = Distribution({"ext_modules": cythonize([extension], language_level=3, quiet=True)})  # type: ignore[no-untyped-call]
    cmd = build_ext(dist)
    cmd.inplace = True
    cmd.build_temp = str(ROOT / "build" / "temp")
    cmd.ensure_finalized()
    cmd.run()


def main(sources: list[str]) -> int:
    failed = []
    for source in sources or list(MODULES):
        try:
            build(source, MODULES[source])
        except (Exception, SystemExit):  # distutils reports a compiler error as SystemExit
            traceback.print_exc()
            failed.append(source)
            for stale in ROOT.glob(source[:-4] + ".*.so"):  # an older build of changed sources: not used
                stale.unlink()
    for source in failed:
        print(f"build_ext: {source} did not build", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    import os

    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
