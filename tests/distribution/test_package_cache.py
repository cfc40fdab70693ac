"""The cache of packaged plugin buildpacks the lifecycle uses: a plugin is packaged once per
content, a changed plugin is packaged again, parallel fills are safe, failures are not kept."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cnbsdk.distribution.buildpack_dir import package_buildpack_dir
from cnbsdk.distribution.package_cache import packaged_plugin, stable_digest
from cnbsdk.errors import PackageError
from cnbsdk.oci.digest import tree_digest
from tests.distribution.test_buildpack_dir import make_plugin, run_detect


def entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir())


def test_a_plugin_is_packaged_once_and_copied_out_as_packaging_writes_it(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "src")
    cache = tmp_path / "cache"
    first = packaged_plugin(str(plugin), tmp_path / "one", cache_dir=cache)
    second = packaged_plugin(str(plugin), tmp_path / "two", cache_dir=cache)
    assert first is not None and second is not None
    assert first.key == second.key and entries(cache) == [first.key]
    direct = package_buildpack_dir(str(plugin), tmp_path / "direct")
    assert tree_digest(tmp_path / "two") == tree_digest(direct.path)
    assert second.packaged.vendored == direct.vendored
    assert run_detect(tmp_path / "two", tmp_path).returncode == 0
    # A build changing its copy does not reach the cache.
    (tmp_path / "two" / "lib" / "tiny_bp" / "__init__.py").write_text("broken")
    third = packaged_plugin(str(plugin), tmp_path / "three", cache_dir=cache)
    assert third is not None and tree_digest(tmp_path / "three") == tree_digest(direct.path)


def test_a_changed_plugin_is_packaged_again_even_within_the_same_second(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "src")
    cache = tmp_path / "cache"
    before = packaged_plugin(str(plugin), tmp_path / "before", cache_dir=cache)
    source = plugin / "__init__.py"
    # Same size, written at once: only the content tells it apart.
    source.write_text(source.read_text().replace("passed()", "fail('')"))
    after = packaged_plugin(str(plugin), tmp_path / "after", cache_dir=cache)
    assert before is not None and after is not None and before.key != after.key
    packaged = (tmp_path / "after" / "lib" / "tiny_bp" / "__init__.py").read_text()
    assert "DetectResult.fail('')" in packaged
    assert run_detect(tmp_path / "after", tmp_path).returncode == 100  # detect fails now


def test_parallel_builds_filling_the_same_entry_all_get_the_whole_tree(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "src")
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda n: packaged_plugin(str(plugin), tmp_path / f"out-{n}", cache_dir=cache),
                range(4),
            )
        )
    keys = {r.key for r in results if r is not None}
    assert len(keys) == 1 and entries(cache) == sorted(keys)  # no partial tree left over
    digests = {tree_digest(tmp_path / f"out-{n}") for n in range(4)}
    assert len(digests) == 1


def test_a_plugin_that_cannot_be_packaged_is_not_cached(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path / "src", extra_import="import not_installed_anywhere")
    cache = tmp_path / "cache"
    with pytest.raises(PackageError, match="not_installed_anywhere"):
        packaged_plugin(str(plugin), tmp_path / "out", cache_dir=cache)
    assert entries(cache) == [] and not (tmp_path / "out").exists()


def test_a_plain_buildpack_is_not_a_plugin(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "bin").mkdir(parents=True)
    (plain / "buildpack.toml").write_text(
        'api = "0.10"\n[buildpack]\nid = "tests/plain"\nversion = "1.0.0"\n'
    )
    for phase in ("detect", "build"):
        (plain / "bin" / phase).write_text("#!/bin/sh\nexit 0\n")
    assert packaged_plugin(str(plain), tmp_path / "out", cache_dir=tmp_path / "cache") is None


def test_a_remembered_digest_is_not_served_for_a_file_changed_behind_its_mtime(
    tmp_path: Path,
) -> None:
    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    source.write_text("A = 1\n")
    old = source.stat().st_mtime_ns - 3_600 * 10**9
    os.utime(source, ns=(old, old))  # old enough to be remembered
    first = stable_digest(source.parent)
    assert stable_digest(source.parent) == first
    source.write_text("A = 2\n")
    os.utime(source, ns=(old, old))  # same size and mtime: only the ctime moved
    assert stable_digest(source.parent) == tree_digest(source.parent) != first
