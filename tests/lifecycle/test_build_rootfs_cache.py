"""The build images' unpacked trees are pruned like the run images': each stack update makes
a new ~400 MB tree, and without pruning the cache grew without bound (50 GB on a CI machine
in a day). A tree a build process holds is never removed."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from cnbsdk.lifecycle.run_cache import BUILD_KEEP, prune


def _tree(base: Path, index: int, age: float) -> Path:
    tree = base / f"{index:064x}"
    (tree / "usr").mkdir(parents=True)
    (base / f"{tree.name}.compiled").touch()
    in_use = base / f"{tree.name}.in-use"
    in_use.touch()
    when = time.time() - age
    os.utime(in_use, (when, when))
    return tree


def test_only_the_most_recently_used_build_trees_are_kept(tmp_path: Path) -> None:
    base = tmp_path / "rootfs"
    base.mkdir()
    trees = [_tree(base, i, age=float(100 * i)) for i in range(BUILD_KEEP + 3)]
    oldest = trees[-1]
    held = os.open(base / f"{oldest.name}.in-use", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_SH)  # a build of another process still uses the oldest
    try:
        removed = prune(base, keep=BUILD_KEEP)
    finally:
        os.close(held)
    assert sorted(removed) == sorted(t.name for t in trees[BUILD_KEEP:-1])
    kept = sorted(p.name for p in base.iterdir() if p.is_dir())
    assert kept == sorted(t.name for t in [*trees[:BUILD_KEEP], oldest])
    for tree in trees[BUILD_KEEP:-1]:
        assert not (base / f"{tree.name}.compiled").exists(), "unpacked again, compiled again"
