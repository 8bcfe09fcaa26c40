"""`python -m profilers.executors.env_probe [--quick]`: `stepscope env`'s reports as JSON lines,
one per framework. What `env --on ssh://...` runs on the far side, so a remote machine is probed by
the same code (profilers.framework_check) as this one."""
from __future__ import annotations

import argparse
import json

from profilers.framework_check import probe_framework
from workloads.spec import FRAMEWORKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m profilers.executors.env_probe")
    parser.add_argument("--quick", action="store_true", help="only import each framework and list its devices")
    args = parser.parse_args(argv)
    for framework in FRAMEWORKS:
        print(json.dumps(probe_framework(framework, args.quick).to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
