"""Patching the OS: ``cnbsdk stack update`` and the change report it leaves with the stack.

An update resolves the newest versions of the stack's packages; only when that changes the
pinned set does it write new images and the new lock. The report says what changed — each
package ``old → new`` with the CVE identifiers its Debian changelog entries mention, and per
image the layers (and compressed bytes) that differ — and is kept beside the lock
(``stack.update.json``), as data for whatever turns stack updates into rebases.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk.errors import CnbError, StackError
from cnbsdk.oci.open import read_manifest_and_config
from cnbsdk.progress import ProgressFactory, silent
from cnbsdk.spec.toml_file import write_atomic
from cnbsdk.stacks.apt import AptWorkspace
from cnbsdk.stacks.changelog import cves_of_update
from cnbsdk.stacks.create import (
    ImageResult,
    open_stack,
    resolve_lock,
    same_packages,
    write_stack_images,
)
from cnbsdk.stacks.lock import LockedPackage, StackLock

REPORT_VERSION = 1


@dataclass(frozen=True)
class PackageChange:
    """One package whose pinned version changed (``old`` None: added; ``new`` None: gone)."""

    name: str
    source: str
    old: str | None
    new: str | None
    cves: tuple[str, ...] = ()
    note: str = ""  # e.g. "added to the run image"

    def text(self) -> str:
        note = f" ({self.note})" if self.note else ""
        if self.old == self.new:
            return f"{self.name} {self.new}{note}"
        return f"{self.name} {self.old or '(new)'} → {self.new or '(removed)'}{note}"


@dataclass(frozen=True)
class LayerChange:
    """A layer of the new image that the old one does not have."""

    name: str  # "deb:<source>", "config", "sbom", ...
    digest: str
    size: int  # compressed bytes


@dataclass(frozen=True)
class ImageChange:
    kind: str
    reference: str
    old_digest: str | None  # None: there was no image at the reference
    new_digest: str
    layers: tuple[LayerChange, ...]
    layer_count: int

    @property
    def changed_bytes(self) -> int:
        return sum(layer.size for layer in self.layers)


@dataclass(frozen=True)
class StackUpdate:
    """What one ``stack update`` changed (nothing, when ``packages`` is empty)."""

    stack_id: str
    lock_file: str
    old_released: str | None
    new_released: str
    packages: tuple[PackageChange, ...]
    images: tuple[ImageChange, ...]

    @property
    def changed(self) -> bool:
        return bool(self.packages or self.images)

    @property
    def cves(self) -> tuple[str, ...]:
        found = {cve for change in self.packages for cve in change.cves}
        return tuple(sorted(found))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "stackId": self.stack_id,
            "lockFile": self.lock_file,
            "changed": self.changed,
            "oldReleased": self.old_released,
            "newReleased": self.new_released,
            "packages": [
                {
                    "name": c.name,
                    "source": c.source,
                    "old": c.old,
                    "new": c.new,
                    "cves": list(c.cves),
                    "note": c.note,
                }
                for c in self.packages
            ],
            "cves": list(self.cves),
            "images": [
                {
                    "kind": i.kind,
                    "reference": i.reference,
                    "oldDigest": i.old_digest,
                    "newDigest": i.new_digest,
                    "layerCount": i.layer_count,
                    "changedBytes": i.changed_bytes,
                    "changedLayers": [
                        {"name": x.name, "digest": x.digest, "size": x.size} for x in i.layers
                    ],
                }
                for i in self.images
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StackUpdate:
        return cls(
            stack_id=data["stackId"],
            lock_file=data["lockFile"],
            old_released=data["oldReleased"],
            new_released=data["newReleased"],
            packages=tuple(
                PackageChange(
                    p["name"], p["source"], p["old"], p["new"], tuple(p["cves"]), p.get("note", "")
                )
                for p in data["packages"]
            ),
            images=tuple(
                ImageChange(
                    i["kind"],
                    i["reference"],
                    i["oldDigest"],
                    i["newDigest"],
                    tuple(
                        LayerChange(x["name"], x["digest"], x["size"]) for x in i["changedLayers"]
                    ),
                    i["layerCount"],
                )
                for i in data["images"]
            ),
        )

    def write(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> StackUpdate:
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StackError(f"unreadable stack update report: {error}", file=str(path)) from None


def report_path(lock_path: Path) -> Path:
    """Where the last update's report is kept: beside the lock."""
    return lock_path.with_name(lock_path.stem + ".update.json")


def package_changes(old: StackLock | None, new: StackLock) -> list[PackageChange]:
    """Every package whose pin differs between two locks, or that joined or left an image,
    by name (without CVEs)."""
    before = old.by_name() if old else {}
    after = new.by_name()
    changes = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        either = b if b is not None else a
        assert either is not None
        same_pin = (
            a is not None and b is not None and (a.version, a.sha256) == (b.version, b.sha256)
        )
        moved = _membership(old, new, name)
        if same_pin and not moved:
            continue
        changes.append(
            PackageChange(
                name,
                either.source,
                a.version if a is not None else None,
                b.version if b is not None else None,
                note=moved,
            )
        )
    return changes


def _membership(old: StackLock | None, new: StackLock, name: str) -> str:
    """``added to the run image``, ``removed from the build image``... or ``""``."""
    notes = []
    for kind in ("run", "build"):
        was = old is not None and name in (old.run if kind == "run" else old.build)
        now = name in (new.run if kind == "run" else new.build)
        if now and not was:
            notes.append(f"added to the {kind} image")
        elif was and not now:
            notes.append(f"removed from the {kind} image")
    return ", ".join(notes)


def with_cves(
    changes: Sequence[PackageChange], new: StackLock, workspace: AptWorkspace
) -> list[PackageChange]:
    """The changes with the CVEs each package's changelog names between its two versions
    (read from the new ``.deb``s, which must be in the download cache)."""
    by_name = new.by_name()
    by_source: dict[str, list[LockedPackage]] = {}
    for package in new.packages:
        by_source.setdefault(package.source, []).append(package)
    result = []
    for change in changes:
        if change.new is None or change.new == change.old:
            result.append(change)
            continue
        package = by_name[change.name]
        siblings = [package] + [p for p in by_source[package.source] if p is not package]
        debs = [workspace.deb_path(p) for p in siblings if p.version == package.version]
        cves = cves_of_update(debs, change.old, change.new)
        result.append(dataclasses.replace(change, cves=cves))
    return result


def _current_layers(ref: str) -> tuple[str, set[str]] | None:
    """The digest and layer digests of the image at ``ref`` now, or None when there is none."""
    try:
        resolved, _config = read_manifest_and_config(ref)
    except CnbError:
        return None
    return resolved.digest, {layer.digest for layer in resolved.manifest.layers}


def _image_change(image: ImageResult, before: tuple[str, set[str]] | None) -> ImageChange:
    have = before[1] if before else set()
    changed = tuple(
        LayerChange(layer.name, layer.layer.digest, layer.layer.size)
        for layer in image.layers
        if layer.layer.digest not in have
    )
    return ImageChange(
        image.kind,
        image.reference,
        before[0] if before else None,
        image.digest,
        changed,
        len(image.layers),
    )


def update_stack(
    stack_file: str | os.PathLike[str],
    *,
    build_image: str | None,
    run_image: str | None,
    lock_file: str | os.PathLike[str] | None = None,
    progress: ProgressFactory = silent,
    cache_dir: Path | None = None,
) -> StackUpdate:
    """Resolve the newest versions; when they differ from the lock, write the images (either
    reference may be None) and the new lock, and keep the report beside the lock. When
    nothing changed nothing is written and the images keep their digests."""
    definition, lock_path, cache, workspace = open_stack(
        stack_file, lock_file, cache_dir, build_image, run_image
    )
    # The old lock may have been made for other package lists: that is what an update fixes.
    old = StackLock.read(lock_path) if lock_path.exists() else None

    newest = resolve_lock(definition, workspace)
    if old is not None and same_packages(old, newest):
        return StackUpdate(definition.id, str(lock_path), old.released, old.released, (), ())

    changes = package_changes(old, newest)
    before = {
        kind: _current_layers(ref)
        for kind, ref in (("run", run_image), ("build", build_image))
        if ref is not None
    }
    images = write_stack_images(  # downloads the new .debs, whose changelogs follow
        definition,
        newest,
        workspace,
        build_image=build_image,
        run_image=run_image,
        lock_file=str(lock_path),
        progress=progress,
        cache_dir=cache,
    )
    report = StackUpdate(
        stack_id=definition.id,
        lock_file=str(lock_path),
        old_released=old.released if old else None,
        new_released=newest.released,
        packages=tuple(with_cves(changes, newest, workspace)),
        images=tuple(_image_change(image, before.get(image.kind)) for image in images),
    )
    newest.write(lock_path)
    report.write(report_path(lock_path))
    return report


def render_update(report: StackUpdate, *, limit: int = 0) -> list[str]:
    """The change report as text lines (``limit``: packages shown, 0 for all)."""
    if not report.changed:
        return [f"{report.stack_id}: nothing to update (the lock pins the newest versions)"]
    lines = [f"{report.stack_id}: {len(report.packages)} package(s) changed"]
    shown = report.packages if not limit else report.packages[:limit]
    for change in shown:
        cves = f"  fixes {', '.join(change.cves)}" if change.cves else ""
        lines.append(f"  {change.text()}{cves}")
    if len(shown) < len(report.packages):
        lines.append(f"  ... and {len(report.packages) - len(shown)} more")
    for image in report.images:
        names = ", ".join(layer.name for layer in image.layers) or "none"
        was = f" (was {image.old_digest})" if image.old_digest else " (new)"
        lines.append(
            f"{image.kind} image {image.reference}@{image.new_digest}{was}:"
            f" {len(image.layers)} of {image.layer_count} layers changed,"
            f" {image.changed_bytes / 1e6:.2f} MB compressed: {names}"
        )
    lines.append(
        f"CVEs fixed: {', '.join(report.cves)}" if report.cves else "CVEs fixed: none named"
    )
    return lines
