"""Layer creation throughput: cnbsdk against ``tar | sha256sum`` on the same tree.

Generates a tree of mixed files under a temp dir (many small text files, some medium
ones, a few large random and compressible files), then times, warm cache:

- ``tar -cf - DIR | sha256sum``           vs cnbsdk uncompressed (goal: ratio >= 0.8)
- ``tar -cf - DIR | gzip -N | sha256sum`` vs cnbsdk gzip at the default level N
- cnbsdk at gzip levels 1, 3 and 6 (time and size), to justify the default.

Usage: .venv/bin/python bench/layers.py [--size-mb 1024] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from cnbsdk.oci.layer_tar import DEFAULT_GZIP_LEVEL, write_layer_from_dir

WORDS = [
    "layer",
    "buildpack",
    "image",
    "config",
    "manifest",
    "digest",
    "registry",
    "launcher",
    "process",
    "export",
    "restore",
    "cache",
    "detect",
    "build",
    "platform",
    "stack",
    "builder",
    "tar",
    "gzip",
    "sha256",
    "blob",
    "index",
]


def generate(root: Path, size_mb: int, seed: int = 7) -> tuple[int, int]:
    """Fill ``root`` with about ``size_mb`` MiB; return (files, bytes)."""
    rng = random.Random(seed)
    budget = size_mb << 20
    files = written = 0

    def text(n: int) -> bytes:
        line = " ".join(rng.choice(WORDS) for _ in range(12)).encode() + b"\n"
        return (line * (n // len(line) + 1))[:n]

    # ~15%: many small text files (1-16 KiB), like node_modules or site-packages
    small_budget = budget * 15 // 100
    d = 0
    while written < small_budget:
        directory = root / "small" / f"pkg{d // 50:04d}" / f"mod{d % 50:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        for i in range(20):
            n = rng.randint(1 << 10, 16 << 10)
            (directory / f"file{i}.js").write_bytes(text(n))
            files += 1
            written += n
        d += 1
    # ~25%: medium files (256 KiB - 2 MiB), half text, half random
    medium_budget = written + budget * 25 // 100
    m = 0
    (root / "medium").mkdir()
    while written < medium_budget:
        n = rng.randint(256 << 10, 2 << 20)
        data = text(n) if m % 2 else os.urandom(n)
        (root / "medium" / f"blob{m:04d}.bin").write_bytes(data)
        files += 1
        written += n
        m += 1
    # the rest: a few large files, random (already compressed) and compressible
    (root / "large").mkdir()
    big = 0
    while written < budget:
        n = min(128 << 20, budget - written)
        with open(root / "large" / f"large{big}.dat", "wb") as out:
            left = n
            while left:
                chunk = min(left, 4 << 20)
                out.write(os.urandom(chunk) if big % 2 == 0 else text(chunk))
                left -= chunk
        files += 1
        written += n
        big += 1
    return files, written


def timed_shell(command: str) -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def timed_layer(tree: Path, out: Path, *, compress: bool, level: int) -> tuple[float, int]:
    start = time.perf_counter()
    layer = write_layer_from_dir(
        tree, out, prefix="/layers/bench/tree", compress=compress, level=level
    )
    elapsed = time.perf_counter() - start
    size = layer.size
    layer.path.unlink()
    return elapsed, size


def best(times: list[float]) -> float:
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="tree size in MiB (1024)")
    parser.add_argument("--runs", type=int, default=2, help="runs per measurement; best is kept")
    parser.add_argument("--keep", type=Path, help="generate the tree here and keep it")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="cnbsdk-bench-"))
    tree = args.keep or base / "tree"
    try:
        if not tree.exists():
            tree.mkdir(parents=True)
            files, total = generate(tree, args.size_mb)
        else:
            files = sum(1 for p in tree.rglob("*") if p.is_file())
            total = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
        mib = total / (1 << 20)
        print(f"tree: {files} files, {mib:.0f} MiB ({tree})")
        out = base / "out"
        timed_shell(f"tar -cf - -C {tree} . | sha256sum")  # warm the page cache

        tar_plain = best(
            [timed_shell(f"tar -cf - -C {tree} . | sha256sum") for _ in range(args.runs)]
        )
        ours_plain = best(
            [timed_layer(tree, out, compress=False, level=0)[0] for _ in range(args.runs)]
        )
        level = DEFAULT_GZIP_LEVEL
        tar_gz = best(
            [
                timed_shell(f"tar -cf - -C {tree} . | gzip -{level} | sha256sum")
                for _ in range(args.runs)
            ]
        )
        ours_gz = best(
            [timed_layer(tree, out, compress=True, level=level)[0] for _ in range(args.runs)]
        )
        print()
        print(f"{'':34} {'seconds':>8} {'MiB/s':>8}")
        print(f"{'tar -cf - | sha256sum':34} {tar_plain:8.2f} {mib / tar_plain:8.0f}")
        print(f"{'cnbsdk layer, uncompressed':34} {ours_plain:8.2f} {mib / ours_plain:8.0f}")
        print(f"{f'tar -cf - | gzip -{level} | sha256sum':34} {tar_gz:8.2f} {mib / tar_gz:8.0f}")
        print(f"{f'cnbsdk layer, gzip -{level} (default)':34} {ours_gz:8.2f} {mib / ours_gz:8.0f}")
        print()
        print(f"ratio uncompressed (cnbsdk / tar, goal >= 0.8): {tar_plain / ours_plain:.2f}")
        print(f"ratio gzip -{level} (cnbsdk / tar | gzip):       {tar_gz / ours_gz:.2f}")
        print()
        print("gzip levels (cnbsdk, one run each):")
        for candidate in (1, 3, 6):
            seconds, size = timed_layer(tree, out, compress=True, level=candidate)
            print(
                f"  level {candidate}: {seconds:6.2f} s  {mib / seconds:6.0f} MiB/s  "
                f"layer {size / (1 << 20):7.1f} MiB ({size / total:.1%} of the tree)"
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
