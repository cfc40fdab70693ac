"""Stack creation: image sizes, and creation time cold (empty cache) and warm.

Creates both images of the shipped bookworm stack three times (the first resolves today's
versions and writes the lock the others use), each into a fresh OCI layout:

- cold:          an empty cache dir (apt-get update, every .deb downloaded, every layer written)
- warm-debs:     the .deb files cached, every layer written again (what a changed filter costs)
- warm:          downloads and layers cached (what a second `stack create` costs)

then pins one package of the run image to another version the archive still has and prints
how many compressed bytes that changes. Needs the host's apt sources to reach a mirror.

Usage: .venv/bin/python bench/stacks.py [--keep-cache DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

from cnbsdk.stacks import shipped_stack
from cnbsdk.stacks.apt import AptWorkspace
from cnbsdk.stacks.create import StackResult, changed_bytes, create_stack
from cnbsdk.stacks.lock import StackLock


def _create(
    work: Path, name: str, cache: Path, *, layer_cache: bool, lock: Path | None = None
) -> tuple[StackResult, float]:
    started = time.monotonic()
    result = create_stack(
        work / "stack-definition.toml",
        build_image=f"oci:{work}/{name}:build",
        run_image=f"oci:{work}/{name}:run",
        lock_file=lock,
        cache_dir=cache,
        layer_cache=layer_cache,
    )
    return result, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-cache", type=Path, help="use (and keep) this cache dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cnbsdk-bench-stacks-") as tmp:
        work = Path(tmp)
        shutil.copy(shipped_stack(), work / "stack-definition.toml")
        # No lock copied: the first creation resolves what Debian serves today (the shipped
        # lock may have gone stale) and writes the lock the later runs reuse.
        cache = args.keep_cache or work / "cache"
        if args.keep_cache is None or not cache.exists():
            shutil.rmtree(cache, ignore_errors=True)

        cold, cold_s = _create(work, "cold", cache, layer_cache=True)
        shutil.rmtree(cache / "layers")
        _, debs_s = _create(work, "debs", cache, layer_cache=True)
        warm, warm_s = _create(work, "warm", cache, layer_cache=True)
        assert [i.digest for i in cold.images] == [i.digest for i in warm.images]

        print(f"{'image':<6} {'packages':>8} {'layers':>6} {'uncompressed':>13} {'compressed':>11}")
        for image in cold.images:
            print(
                f"{image.kind:<6} {len(image.packages):>8} {len(image.layers):>6}"
                f" {image.content_size / 1e6:>10.1f} MB {image.compressed_size / 1e6:>8.1f} MB"
            )
        print(f"cold (empty cache dir):        {cold_s:6.1f} s")
        print(f"warm downloads, layers again:  {debs_s:6.1f} s")
        print(f"warm (downloads and layers):   {warm_s:6.1f} s")
        print(f"same digests cold and warm:    {cold.images[0].digest[:19]}... (run)")

        lock = StackLock.read(work / "stack.lock")
        workspace = AptWorkspace(cache, architecture=lock.architecture)
        for name in ("libexpat1", "liblzma5", "libsqlite3-0", "libssl3"):
            others = [
                v for v in workspace.available_versions(name) if v != lock.by_name()[name].version
            ]
            if others:
                break
        else:
            print("no package with a second version in the archive: patch measurement skipped")
            return
        [pinned] = workspace.describe([(name, others[0])])
        patched = dataclasses.replace(
            lock, packages=tuple(pinned if p.name == name else p for p in lock.packages)
        )
        patched.write(work / "patched.lock")
        result, _ = _create(work, "patched", cache, layer_cache=True, lock=work / "patched.lock")
        for old, new in zip(cold.images, result.images, strict=True):
            size, layers = changed_bytes(old, new)
            print(
                f"{name} -> {others[0]} in the {new.kind} image: {len(layers)} of"
                f" {len(new.layers)} layers, {size / 1e6:.2f} of {new.compressed_size / 1e6:.1f} MB"
                f" compressed change ({[layer.name for layer in layers]})"
            )


if __name__ == "__main__":
    main()
