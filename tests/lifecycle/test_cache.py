"""The volume cache (cnbsdk.lifecycle.cache): layout, verification, atomic commit, recovery.

The crash test starts real processes that commit in a loop and SIGKILLs them at random
points, then opens the cache the way the next build would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.cache import (
    COMMITTED,
    GENERATIONS,
    METADATA_FILE,
    STAGING,
    VolumeCache,
)
from cnbsdk.oci.digest import file_sha256
from cnbsdk.oci.layer_tar import ParentDir, write_layer_from_dir
from cnbsdk.spec.labels import BuildpackLayersMetadata, CacheMetadata, LayerMetadata

BP = "example/layers"
ESCAPED = "example_layers"
PARENTS = (ParentDir("/layers"), ParentDir(f"/layers/{ESCAPED}"))


def layer_dir(root: Path, name: str, content: str) -> Path:
    directory = root / name
    (directory / "bin").mkdir(parents=True)
    (directory / "bin" / "tool").write_text(content)
    return directory


def metadata_of(layers: dict[str, LayerMetadata], **store: object) -> CacheMetadata:
    entry = BuildpackLayersMetadata(
        BP, "1.0.0", layers, {"metadata": dict(store)} if store else None
    )
    return CacheMetadata(buildpacks=(entry,))


def cached(sha: str, **data: object) -> LayerMetadata:
    return LayerMetadata(sha=sha, data=dict(data), cache=True)


def add(writer, root: Path, name: str, content: str) -> str:  # type: ignore[no-untyped-def]
    return writer.add_layer(
        layer_dir(root, name, content),
        prefix=f"/layers/{ESCAPED}/{name}",
        uid=1000,
        gid=1001,
        parents=PARENTS,
    )


def generations(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in (cache_dir / GENERATIONS).iterdir())


@pytest.fixture
def warnings() -> list[str]:
    return []


def test_an_empty_cache_has_empty_metadata_and_no_layers(tmp_path: Path, warnings: list[str]):
    with VolumeCache(tmp_path / "cache", warn=warnings.append) as cache:
        assert cache.metadata() == CacheMetadata()
        assert cache.layer_tar("sha256:" + "0" * 64) is None
    assert warnings == ["Skipping cache layer sha256:" + "0" * 64 + ": its tar is not in the cache"]


def test_committed_layers_use_the_lifecycle_layout(tmp_path: Path, warnings: list[str]):
    cache_dir = tmp_path / "cache"
    with VolumeCache(cache_dir, warn=warnings.append) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        written = writer.commit(metadata_of({"deps": cached(sha, version="1.2")}))

    # committed/<diffID>.tar plus the metadata file, readable by a plain path as lifecycle does
    tar_path = cache_dir / COMMITTED / f"{sha}.tar"
    assert file_sha256(tar_path) == sha
    meta = CacheMetadata.from_json((cache_dir / COMMITTED / METADATA_FILE).read_text())
    assert meta == written
    assert meta.layer(BP, "deps") == cached(sha, version="1.2")
    with tarfile.open(tar_path) as tar:  # uncompressed, absolute names, CNB uid/gid
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == [
        "/layers",
        f"/layers/{ESCAPED}",
        f"/layers/{ESCAPED}/deps",
        f"/layers/{ESCAPED}/deps/bin",
        f"/layers/{ESCAPED}/deps/bin/tool",
    ]
    tool = members[f"/layers/{ESCAPED}/deps/bin/tool"]
    assert (tool.uid, tool.gid) == (1000, 1001)
    assert not (cache_dir / STAGING).exists()
    assert warnings == []


def test_metadata_round_trips_through_a_reopen(tmp_path: Path):
    cache_dir = tmp_path / "cache"
    with VolumeCache(cache_dir) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        sbom = writer.add_layer(
            layer_dir(tmp_path / "sbom", "cache", "{}"), prefix="/layers/sbom/cache", uid=0, gid=0
        )
        meta = CacheMetadata(
            sbom=sbom,
            buildpacks=metadata_of({"deps": cached(sha, nested={"a": [1, 2]})}, k="v").buildpacks,
        )
        writer.commit(meta)
    with VolumeCache(cache_dir) as cache:
        assert cache.metadata() == meta
        tar_path = cache.layer_tar(sha)
        assert tar_path is not None and tar_path.samefile(cache_dir / COMMITTED / f"{sha}.tar")
        assert cache.layer_tar(sbom) is not None


def test_a_reused_tar_is_hard_linked_into_the_new_generation(tmp_path: Path):
    cache_dir = tmp_path / "cache"
    with VolumeCache(cache_dir) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        writer.commit(metadata_of({"deps": cached(sha)}))
    first_inode = (cache_dir / COMMITTED / f"{sha}.tar").stat().st_ino
    first_generation = generations(cache_dir)

    with VolumeCache(cache_dir) as cache:
        writer = cache.begin()
        assert writer.reuse(sha)
        other = add(writer, tmp_path / "src2", "other", "v2")
        writer.commit(metadata_of({"deps": cached(sha), "other": cached(other)}))

    reused = cache_dir / COMMITTED / f"{sha}.tar"
    assert reused.stat().st_ino == first_inode  # the same file, not a copy
    assert reused.stat().st_nlink == 1  # the old generation is gone
    assert generations(cache_dir) != first_generation
    assert len(generations(cache_dir)) == 1


def test_a_known_diff_id_is_not_tarred_again(tmp_path: Path):
    cache_dir = tmp_path / "cache"
    with VolumeCache(cache_dir) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        writer.commit(metadata_of({"deps": cached(sha)}))
    inode = (cache_dir / COMMITTED / f"{sha}.tar").stat().st_ino
    with VolumeCache(cache_dir) as cache:
        writer = cache.begin()
        # the directory no longer exists: tarring it would fail
        again = writer.add_layer(
            tmp_path / "gone", prefix=f"/layers/{ESCAPED}/deps", uid=0, gid=0, known_diff_id=sha
        )
        writer.commit(metadata_of({"deps": cached(again)}))
    assert again == sha
    assert (cache_dir / COMMITTED / f"{sha}.tar").stat().st_ino == inode


def test_a_corrupted_tar_is_skipped_with_a_warning(tmp_path: Path, warnings: list[str]):
    cache_dir = tmp_path / "cache"
    with VolumeCache(cache_dir) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        writer.commit(metadata_of({"deps": cached(sha)}))
    tar_path = cache_dir / COMMITTED / f"{sha}.tar"
    data = bytearray(tar_path.read_bytes())
    data[1536] ^= 0xFF  # inside the file content
    tar_path.write_bytes(bytes(data))

    with VolumeCache(cache_dir, warn=warnings.append) as cache:
        assert cache.layer_tar(sha, name=f"{BP}:deps") is None
        writer = cache.begin()
        assert not writer.reuse(sha, name=f"{BP}:deps")  # the exporter re-adds it instead
        fresh = add(writer, tmp_path / "src2", "deps", "v1")
        writer.commit(metadata_of({"deps": cached(fresh)}))
    assert warnings == [f"Skipping corrupted cache layer {BP}:deps (sha mismatch)"] * 2
    with VolumeCache(cache_dir) as cache:
        assert fresh == sha
        assert cache.layer_tar(sha) is not None  # healed by the next build


def test_commit_drops_layers_whose_tar_was_not_staged(tmp_path: Path, warnings: list[str]):
    cache_dir = tmp_path / "cache"
    missing = "sha256:" + "1" * 64
    with VolumeCache(cache_dir, warn=warnings.append) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        stray = add(writer, tmp_path / "src", "stray", "not recorded")
        written = writer.commit(metadata_of({"deps": cached(sha), "lost": cached(missing)}))
    assert set(written.buildpacks[0].layers) == {"deps"}
    assert warnings == [f"Not caching {BP}:lost: its layer tar was not added"]
    with VolumeCache(cache_dir) as cache:
        assert set(cache.metadata().buildpacks[0].layers) == {"deps"}
        assert cache.diff_ids() == {sha}  # the unrecorded tar is not kept either
        assert stray not in cache.diff_ids()


def test_abort_leaves_the_committed_cache_as_it_was(tmp_path: Path):
    cache_dir = tmp_path / "cache"
    with VolumeCache(cache_dir) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        old = writer.commit(metadata_of({"deps": cached(sha)}))
    with VolumeCache(cache_dir) as cache, cache.begin() as writer:
        add(writer, tmp_path / "src2", "deps", "v2")
        # leaving the block without commit aborts, as a failed build does
    with VolumeCache(cache_dir) as cache:
        assert cache.metadata() == old
        assert cache.diff_ids() == {sha}
    assert not (cache_dir / STAGING).exists()


def test_staging_left_by_a_killed_build_is_discarded_on_open(tmp_path: Path):
    cache_dir = tmp_path / "cache"
    with VolumeCache(cache_dir) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        old = writer.commit(metadata_of({"deps": cached(sha)}))
    # what a SIGKILL during export leaves: a staging dir with tars and no commit,
    # and a generation renamed from staging that the symlink never pointed at
    (cache_dir / STAGING).mkdir()
    (cache_dir / STAGING / ("sha256:" + "2" * 64 + ".tar")).write_bytes(b"partial")
    orphan = cache_dir / GENERATIONS / "g1-1"
    orphan.mkdir()
    (orphan / METADATA_FILE).write_text('{"buildpacks":[]}')

    with VolumeCache(cache_dir) as cache:
        assert cache.metadata() == old
        assert not (cache_dir / STAGING).exists()
        assert not orphan.exists()
        assert len(generations(cache_dir)) == 1


def test_clear_empties_the_cache(tmp_path: Path):
    cache_dir = tmp_path / "cache"
    with VolumeCache(cache_dir) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        writer.commit(metadata_of({"deps": cached(sha)}))
    with VolumeCache(cache_dir) as cache:
        cache.clear()
        assert cache.metadata() == CacheMetadata()
        assert cache.layer_tar(sha) is None
        # and the build writes a new cache afterwards
        writer = cache.begin()
        fresh = add(writer, tmp_path / "src2", "deps", "v2")
        writer.commit(metadata_of({"deps": cached(fresh)}))
    assert generations(cache_dir) and not (cache_dir / COMMITTED / f"{sha}.tar").exists()
    with VolumeCache(cache_dir) as cache:
        assert cache.diff_ids() == {fresh}


def test_unreadable_metadata_gives_an_empty_cache_and_a_warning(
    tmp_path: Path, warnings: list[str]
):
    cache_dir = tmp_path / "cache"
    with VolumeCache(cache_dir) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        writer.commit(metadata_of({"deps": cached(sha)}))
    (cache_dir / COMMITTED / METADATA_FILE).write_text('{"buildpacks": [{"layers": 3}]')
    with VolumeCache(cache_dir, warn=warnings.append) as cache:
        assert cache.metadata() == CacheMetadata()
    assert len(warnings) == 1
    assert warnings[0].startswith("Ignoring unreadable cache metadata: ")
    assert METADATA_FILE in warnings[0] and "\n" not in warnings[0]


def test_a_cache_written_by_the_lifecycle_is_adopted(tmp_path: Path):
    """The reference lifecycle's committed/ is a plain directory; it is read as it is."""
    source = tmp_path / "first"
    with VolumeCache(source) as cache:
        writer = cache.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        meta = writer.commit(metadata_of({"deps": cached(sha)}))
    lifecycle_dir = tmp_path / "lifecycle-cache"
    (lifecycle_dir / COMMITTED).mkdir(parents=True)
    for path in (source / COMMITTED).iterdir():
        (lifecycle_dir / COMMITTED / path.name).write_bytes(path.read_bytes())

    with VolumeCache(lifecycle_dir) as cache:
        assert cache.metadata() == meta
        assert cache.layer_tar(sha) is not None
    assert (lifecycle_dir / COMMITTED).is_symlink()


def test_an_invalid_diff_id_is_refused(tmp_path: Path):
    with (
        VolumeCache(tmp_path / "cache") as cache,
        pytest.raises(BuildError, match="invalid layer diffID"),
    ):
        cache.layer_tar("sha256:../../../etc/passwd")


def test_a_file_as_cache_dir_is_a_one_line_error(tmp_path: Path):
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(BuildError) as raised:
        VolumeCache(path)
    assert str(raised.value) == f"{path}: the cache directory is not a directory"


_HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from cnbsdk.lifecycle.cache import VolumeCache
    cache = VolumeCache(sys.argv[1])
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_a_second_build_waits_for_the_lock(tmp_path: Path, warnings: list[str]):
    cache_dir = tmp_path / "cache"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(cache_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(BuildError) as raised:
            VolumeCache(cache_dir, warn=warnings.append, lock_timeout=0.3)
        assert str(raised.value).startswith(f"{cache_dir / 'lock'}: another build has held")
        assert warnings == [f"Waiting for the cache at {cache_dir}: another build is using it"]
    finally:
        holder.kill()
        holder.wait()
    with VolumeCache(cache_dir, lock_timeout=5):  # free once the holder is gone
        pass


def test_opening_one_cache_twice_in_a_process_does_not_deadlock(tmp_path: Path):
    with VolumeCache(tmp_path / "cache", lock_timeout=1) as first:
        writer = first.begin()
        sha = add(writer, tmp_path / "src", "deps", "v1")
        with VolumeCache(tmp_path / "cache", lock_timeout=1) as second:
            assert second.metadata() == CacheMetadata()
        # the second open did not discard the first one's staged layers
        writer.commit(metadata_of({"deps": cached(sha)}))
    with VolumeCache(tmp_path / "cache", lock_timeout=1) as cache:
        assert cache.diff_ids() == {sha}


def _commit_forever(cache_dir: Path, sources: Path, counter: int, out: int) -> None:
    """What the killed build does: commit new generations in a loop, each reusing the
    "stable" layer by hard link and adding a new "changing" one; report each commit."""
    while True:
        counter += 1
        with VolumeCache(cache_dir) as cache:
            old = cache.metadata()
            writer = cache.begin()
            layers = {}
            stable = old.layer(BP, "stable")
            if stable is not None and writer.reuse(stable.sha):
                layers["stable"] = stable
            else:
                directory = sources / "stable"
                directory.mkdir(parents=True, exist_ok=True)
                (directory / "data").write_bytes(b"s" * 200_000)
                sha = writer.add_layer(
                    directory, prefix=f"/layers/{ESCAPED}/stable", uid=1000, gid=1000
                )
                layers["stable"] = LayerMetadata(sha=sha, cache=True)
            directory = sources / f"c{counter}"
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "data").write_bytes(str(counter).encode() * 50_000)
            sha = writer.add_layer(
                directory, prefix=f"/layers/{ESCAPED}/changing", uid=1000, gid=1000
            )
            layers["changing"] = LayerMetadata(sha=sha, data={"n": counter}, cache=True)
            writer.commit(metadata_of(layers, n=counter))
        os.write(out, f"committed {counter}\n".encode())


def _run_and_kill(cache_dir: Path, sources: Path, counter: int, delay: float) -> list[int]:
    """Fork a process running ``_commit_forever``, SIGKILL it after ``delay`` seconds and
    return the commits it reported. (A fork starts at once, with everything imported.)"""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            os.close(read_end)
            _commit_forever(cache_dir, sources, counter, write_end)
        finally:
            os._exit(1)
    os.close(write_end)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as stream:
        lines = stream.read().decode().splitlines()
    return [int(line.split()[1]) for line in lines]


def test_a_commit_killed_at_any_point_leaves_the_old_or_the_new_cache(tmp_path: Path):
    cache_dir = tmp_path / "cache"
    rng = random.Random(1234)
    last = 0
    seen_generations: set[int] = set()
    interrupted = 0  # kills that left a staging dir or an extra generation behind
    for iteration in range(20):
        reported = _run_and_kill(cache_dir, tmp_path / "src", last, rng.uniform(0.01, 0.15))
        if reported:
            last = reported[-1]
        leftovers = (cache_dir / STAGING).exists() or len(generations(cache_dir)) > 1
        interrupted += leftovers

        with VolumeCache(cache_dir, lock_timeout=5) as cache:
            meta = cache.metadata()
            if last == 0 and not meta.buildpacks:
                continue  # killed before the very first commit: an empty cache
            entry = meta.buildpack(BP)
            assert entry is not None and entry.store is not None
            committed = entry.store["metadata"]["n"]
            # the one the child last reported, or the one it committed just before dying
            assert last <= committed <= last + 1, (iteration, last, committed)
            assert entry.layers["changing"].data == {"n": committed}
            for layer in entry.layers.values():
                assert cache.layer_tar(layer.sha) is not None, (iteration, layer)
            assert not (cache_dir / STAGING).exists()
            assert len(generations(cache_dir)) == 1
            last = committed
            seen_generations.add(committed)
    # the kills landed after a varying number of commits, not always at the same place
    assert last > 20 and len(seen_generations) >= 10
    assert interrupted >= 10  # most kills hit a build in the middle of writing the cache


def test_add_tar_hard_links_a_tar_written_elsewhere(tmp_path: Path):
    written = write_layer_from_dir(
        layer_dir(tmp_path / "src", "deps", "v1"), tmp_path / "out", compress=False
    )
    with VolumeCache(tmp_path / "cache") as cache:
        writer = cache.begin()
        with pytest.raises(BuildError, match="does not match its diffID"):
            writer.add_tar(written.path, "sha256:" + "3" * 64, verify=True)
        assert not writer.has("sha256:" + "3" * 64)
        writer.add_tar(written.path, written.diff_id)
        writer.commit(metadata_of({"deps": cached(written.diff_id)}))
        tar_path = cache.layer_tar(written.diff_id)
    assert tar_path is not None
    assert tar_path.stat().st_ino == written.path.stat().st_ino
