"""Build the optional compiled modules in place, with the venv's Python: `scripts/setup.sh` runs
it when their sources changed. Each is built on its own, so one that fails (a missing library)
leaves the others; nothing at run time needs any of them:
- `traces/chunk_scan.pyx`, the Chrome stream's per-chunk step (without it msgspec decodes every chunk);
- `traces/gzip_into.pyx`, gzip inflated by ISA-L (Debian's libisal-dev) straight into the
  stream's buffer (without it `bounded_read.gunzip_pieces` inflates in pieces and copies them).

The chunk step is a byte scanner bound by its branches, so it is built profile-guided with GCC:
an instrumented build into a temporary folder reads `scripts/scan_training.py`'s traces, and the
module is built again with what that read recorded (~14 % less CPU per event, bench/README.md;
a compile that finds no profile fails, so a profile that went astray is never silently unused).
Where that fails (another compiler, the training read failing) it is built plainly, with the
reason in the log; `STEPSCOPE_PGO=0` builds it plainly (for measuring the difference).
Exit status: 0 when all built, 1 when some did not (their errors on stderr)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = {"traces/chunk_scan.pyx": [], "traces/gzip_into.pyx": ["isal"]}  # source -> libraries it links
PROFILED = {"traces/chunk_scan.pyx"}  # built profile-guided where GCC is the compiler
PGO_ENV = "STEPSCOPE_PGO"


def build(source: str, libraries: list[str], *, compile_args: tuple[str, ...] = (), link_args: tuple[str, ...] = (),
          into: Path | None = None) -> None:
    """Build `source` (in place, or into the folder `into`), forced: a flag change must rebuild."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension  # type: ignore[import-untyped]  # no stubs installed
    from setuptools.command.build_ext import build_ext  # type: ignore[import-untyped]

    name = source[:-4].replace("/", ".")
    # the C file only: cythonize hands back the flags of its previous call too (kept in the C file)
    c_source = cythonize([Extension(name, [source])], language_level=3, quiet=True)[0].sources  # type: ignore[no-untyped-call]
    extension = Extension(name, c_source, libraries=libraries, extra_compile_args=list(compile_args),
                          extra_link_args=list(link_args))
    dist = Distribution({"ext_modules": [extension]})
    cmd = build_ext(dist)
    cmd.inplace = into is None
    if into is not None:
        cmd.build_lib = str(into)
    cmd.build_temp = str(ROOT / "build" / "temp")
    cmd.force = True
    cmd.ensure_finalized()
    cmd.run()


def build_profiled(source: str, libraries: list[str]) -> None:
    """`source` built with GCC's profile of the training read, or plainly (saying why)."""
    if os.environ.get(PGO_ENV, "1") == "0":
        print(f"build_ext: {source}: {PGO_ENV}=0, built without a profile", file=sys.stderr)
        build(source, libraries)
        return
    profile = ROOT / "build" / "pgo"
    shutil.rmtree(profile, ignore_errors=True)  # counts of an older build must not add to this one's
    try:
        with tempfile.TemporaryDirectory(prefix="stepscope-pgo-") as tmp:
            build(source, libraries, compile_args=("-fprofile-generate", f"-fprofile-dir={profile}"),
                  link_args=("-fprofile-generate",), into=Path(tmp))
            training = subprocess.run([sys.executable, str(ROOT / "scripts" / "scan_training.py"), tmp],
                                      cwd=ROOT, capture_output=True, text=True, timeout=600)
            if training.returncode != 0:
                raise RuntimeError(f"the training read failed: {training.stderr.strip()[-2000:]}")
        if not any(profile.rglob("*.gcda")):
            raise RuntimeError(f"the training read left no profile in {profile}")
        build(source, libraries, compile_args=("-fprofile-use", f"-fprofile-dir={profile}", "-Werror=missing-profile"))
    except (Exception, SystemExit):  # distutils reports a compiler error as SystemExit
        traceback.print_exc()
        print(f"build_ext: {source}: the profile-guided build failed (above); building it without a profile",
              file=sys.stderr)
        build(source, libraries)


def main(sources: list[str]) -> int:
    failed = []
    for source in sources or list(MODULES):
        try:
            if source in PROFILED:
                build_profiled(source, MODULES[source])
            else:
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
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
