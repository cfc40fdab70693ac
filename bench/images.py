"""Issue 3's image benchmark in one run: layer creation, registry push and its peak memory.

Runs ``bench/layers.py`` (a 1 GiB tree of mixed files: cnbsdk's layer writer against
``tar -cf - DIR | sha256sum``) and then ``bench/push.py`` (a 1 GiB image pushed to a local
docker-registry by ``cnbsdk copy`` against ``skopeo copy``, and the peak RSS of the cnbsdk
push), and prints their figures one after the other.

    .venv/bin/python bench/images.py [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="tree and image size in MiB")
    args = parser.parse_args()
    steps = [
        ("layer creation", [BENCH / "layers.py", "--size-mb", str(args.size_mb)]),
        ("push to a local registry", [BENCH / "push.py", "--size-mib", str(args.size_mb)]),
    ]
    for title, command in steps:
        print(f"== {title}", flush=True)
        completed = subprocess.run([sys.executable, *map(str, command)], check=False)
        if completed.returncode != 0:
            raise SystemExit(f"{command[0].name} failed with exit code {completed.returncode}")


if __name__ == "__main__":
    main()
