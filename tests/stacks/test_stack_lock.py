"""Pinned versions: the same lock gives the same digests; one changed package rewrites only
its own layer (and the SBOM). Starts: apt-get (isolated)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from conftest import StackImages, cnbsdk

from cnbsdk.cache_dir import cache_root
from cnbsdk.stacks.apt import AptWorkspace
from cnbsdk.stacks.create import changed_bytes, create_stack
from cnbsdk.stacks.lock import StackLock


def test_same_lock_gives_the_same_digests(stack_images: StackImages, tmp_path: Path) -> None:
    before = stack_images.lock_file.read_bytes()
    # Every layer written again from the .deb files (warm download cache, no layer cache).
    again = create_stack(
        stack_images.stack_file,
        build_image=None,
        run_image=f"oci:{tmp_path}/layout:run",
        layer_cache=False,
    )
    assert again.images[0].digest == stack_images.image("run").digest
    # And through the command line, both images.
    result = cnbsdk(
        "stack", "create", str(stack_images.stack_file),
        "--build-image", f"oci:{tmp_path}/cli:build",
        "--run-image", f"oci:{tmp_path}/cli:run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for kind in ("build", "run"):
        assert f"@{stack_images.image(kind).digest}:" in result.stdout
    assert "unchanged" in result.stdout
    assert stack_images.lock_file.read_bytes() == before


def test_lock_pins_every_package_with_its_checksum(stack_images: StackImages) -> None:
    lock = StackLock.read(stack_images.lock_file)
    for package in lock.packages:
        assert package.filename.startswith("pool/") and package.filename.endswith(".deb")
        assert "://" not in package.filename
        assert len(package.sha256) == 64 and package.size > 0
    names = set(lock.run)
    assert {"libc6", "libssl3", "tzdata", "ca-certificates", "bash", "dash"} <= names
    assert not {"debconf", "dpkg", "perl-base"} & names  # excluded: maintainer-script tools


def _older_version(lock: StackLock) -> tuple[str, str]:
    """A run-image package (alone in its source group) for which the archive still has
    another version, and that version."""
    workspace = AptWorkspace(cache_root(), architecture=lock.architecture)
    for name in ("libexpat1", "liblzma5", "libsqlite3-0", "libpcre2-8-0", "libssl3"):
        current = lock.by_name()[name].version
        others = [v for v in workspace.available_versions(name) if v != current]
        if others:
            return name, others[0]
    raise AssertionError("no package in the archive has a second version to pin")


def test_one_changed_package_rewrites_only_its_layers(
    stack_images: StackImages, tmp_path: Path
) -> None:
    lock = StackLock.read(stack_images.lock_file)
    name, version = _older_version(lock)
    workspace = AptWorkspace(cache_root(), architecture=lock.architecture)
    [pinned] = workspace.describe([(name, version)])
    packages = tuple(pinned if p.name == name else p for p in lock.packages)
    dataclasses.replace(lock, packages=packages).write(tmp_path / "patched.lock")

    patched = create_stack(
        stack_images.stack_file,
        build_image=None,
        run_image=f"oci:{tmp_path}/layout:run",
        lock_file=tmp_path / "patched.lock",
    )
    old, new = stack_images.image("run"), patched.images[0]
    changed_size, changed = changed_bytes(old, new)
    total = new.compressed_size
    print(
        f"{name} {lock.by_name()[name].version} -> {version}: {len(changed)} of"
        f" {len(new.layers)} layers changed, {changed_size} of {total} compressed bytes"
        f" ({100 * changed_size / total:.1f}%): {[layer.name for layer in changed]}"
    )
    assert new.digest != old.digest
    assert {layer.name for layer in changed} == {f"deb:{pinned.source}", "sbom"}
    assert changed_size < total / 5
