"""Putting a stack together: lock, download, one layer per source package, write both images.

Layering (bottom to top): a skeleton layer (merged-/usr symlinks, /tmp...), one layer per
Debian *source* package (the binaries a security update changes together), a config layer
(users, CA bundle) and the OS SBOM layer. An OS patch therefore rewrites only the layers
of the patched source packages plus the two small top layers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cnbsdk import __version__
from cnbsdk.cache_dir import cache_root
from cnbsdk.errors import SpecError, StackError
from cnbsdk.oci.created import resolve_created, rfc3339, source_date_epoch
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import Layer, TarEntry, write_layer_from_dir, write_layer_from_entries
from cnbsdk.oci.models import HistoryEntry, ImageConfig
from cnbsdk.oci.open import open_destination
from cnbsdk.oci.reference import parse_reference
from cnbsdk.progress import ProgressFactory, silent
from cnbsdk.stacks import deb, rootfs, sbom
from cnbsdk.stacks.apt import AptWorkspace
from cnbsdk.stacks.definition import ImageSpec, PathFilter, StackDefinition
from cnbsdk.stacks.lock import LOCK_LABEL, LockedPackage, StackLock

log = logging.getLogger(__name__)

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Bump when the bytes of a package layer would change for the same .deb files.
LAYER_FORMAT = "cnbsdk-stack-layer-1"
# Bump when the images would change for the same lock (generated files, labels): the
# default stack is remade when its images carry another format.
IMAGE_FORMAT = 2


@dataclass(frozen=True)
class StackLayer:
    """A layer of a stack image and what it holds."""

    name: str  # "skeleton", "deb:<source>", "config", "sbom"
    layer: Layer
    content_size: int  # bytes of the files in it (uncompressed)
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageResult:
    """One written image."""

    kind: str
    reference: str
    digest: str
    packages: tuple[LockedPackage, ...]
    layers: tuple[StackLayer, ...]

    @property
    def content_size(self) -> int:
        return sum(layer.content_size for layer in self.layers)

    @property
    def compressed_size(self) -> int:
        return sum(layer.layer.size for layer in self.layers)


@dataclass(frozen=True)
class StackResult:
    lock: StackLock
    lock_path: Path
    lock_written: bool
    images: tuple[ImageResult, ...]


def default_lock_path(stack_file: Path) -> Path:
    return stack_file.with_name("stack.lock")


def create_stack(
    stack_file: str | os.PathLike[str],
    *,
    build_image: str | None,
    run_image: str | None,
    lock_file: str | os.PathLike[str] | None = None,
    update: bool = False,
    offline: bool = False,
    progress: ProgressFactory = silent,
    cache_dir: Path | None = None,
    layer_cache: bool = True,
) -> StackResult:
    """Create the stack's images (either may be None to skip it) and return what was made.

    Without a lock file (or with ``update``) the newest versions are resolved and the lock
    is (re)written once the images are written; with one, exactly its versions are used:
    each ``.deb`` from the download cache, else the mirror (``offline``: the cache only).
    """
    definition, lock_path, cache, workspace = open_stack(
        stack_file, lock_file, cache_dir, build_image, run_image
    )
    source_date_epoch(os.environ)  # a bad value fails here, before anything is downloaded
    if update or not lock_path.exists():
        if offline:
            raise StackError(
                "--offline needs a lock to create the images from",
                file=str(lock_path),
                hint="run `cnbsdk stack update` once with network",
            )
        lock = resolve_lock(definition, workspace)
        old = _same_lock(lock, lock_path)
        lock_changed = old is None
        lock = old or lock
    else:
        lock = read_lock(lock_path, definition)
        lock_changed = False

    results = write_stack_images(
        definition,
        lock,
        workspace,
        build_image=build_image,
        run_image=run_image,
        lock_file=str(lock_path),
        offline=offline,
        progress=progress,
        cache_dir=cache,
        layer_cache=layer_cache,
    )
    if lock_changed:
        lock.write(lock_path)
    return StackResult(lock, lock_path, lock_changed, tuple(results))


def open_stack(
    stack_file: str | os.PathLike[str],
    lock_file: str | os.PathLike[str] | None,
    cache_dir: Path | None,
    *refs: str | None,
) -> tuple[StackDefinition, Path, Path, AptWorkspace]:
    """The stack file read, the lock's path, the cache and the apt workspace; the image
    references checked first, so that a mistyped one fails before any download."""
    stack_path = Path(stack_file)
    definition = StackDefinition.read(stack_path)
    check_references(*refs)
    lock_path = Path(lock_file) if lock_file else default_lock_path(stack_path)
    cache = cache_dir or cache_root()
    return definition, lock_path, cache, stack_workspace(definition, stack_path, cache)


def check_references(*refs: str | None) -> None:
    """A mistyped reference fails before any download."""
    for ref in refs:
        if ref is not None:
            parse_reference(ref)


def stack_workspace(definition: StackDefinition, stack_path: Path, cache: Path) -> AptWorkspace:
    """The private apt state for the stack file's sources and architecture."""
    return AptWorkspace(
        cache,
        architecture=definition.distribution.architecture,
        sources=definition.sources,
        stack_file=str(stack_path),
    )


def read_lock(path: Path, definition: StackDefinition) -> StackLock:
    """The lock at ``path``, checked against the stack file it is used with."""
    lock = StackLock.read(path)
    _check_lock_matches(lock, definition, path)
    return lock


def write_stack_images(
    definition: StackDefinition,
    lock: StackLock,
    workspace: AptWorkspace,
    *,
    build_image: str | None,
    run_image: str | None,
    lock_file: str,
    offline: bool = False,
    progress: ProgressFactory = silent,
    cache_dir: Path | None = None,
    layer_cache: bool = True,
) -> list[ImageResult]:
    """Write the images of exactly ``lock``'s packages (the run image first)."""
    started = time.monotonic()
    workspace.download(lock.packages, lock_file=lock_file, progress=progress, offline=offline)
    log.debug("downloads ready in %.1fs", time.monotonic() - started)

    wanted = [
        (kind, ref) for kind, ref in (("run", run_image), ("build", build_image)) if ref is not None
    ]
    layer_dir = (cache_dir or cache_root()) / "layers"
    with tempfile.TemporaryDirectory(prefix="cnbsdk-stack-") as tmp:
        work = Path(tmp)
        if not layer_cache:
            layer_dir = work / "layers"
        built: list[tuple[str, str, ImageConfig, list[StackLayer]]] = []
        for kind, ref in wanted:
            spec = definition.image(kind)
            layers = _image_layers(definition, lock, spec, workspace, layer_dir, work, progress)
            config = _image_config(definition, lock, spec, layers)
            built.append((kind, ref, config, layers))
        return [_write(kind, ref, config, layers, lock) for kind, ref, config, layers in built]


# -- lock -----------------------------------------------------------------------------


def resolve_lock(definition: StackDefinition, workspace: AptWorkspace) -> StackLock:
    """Resolve the newest versions of both images' package closures."""
    members: dict[str, list[str]] = {}
    pins: dict[str, str] = {}
    for kind in ("build", "run"):
        spec = definition.image(kind)
        overlap = sorted(set(spec.packages) & set(spec.exclude))
        if overlap:
            raise StackError(
                f"{overlap[0]!r} is both wanted and excluded",
                file=workspace.stack_file,
                field=f"{kind}.exclude",
            )
        resolved = workspace.resolve(spec.packages, spec.exclude, field=f"{kind}.packages")
        members[kind] = [name for name, _ in resolved]
        pins.update(resolved)
    packages = workspace.describe(sorted(pins.items()))
    return StackLock(
        stack_id=definition.id,
        distribution=definition.distribution.name,
        version=definition.distribution.version,
        architecture=definition.distribution.architecture,
        released=_now(),
        requirements=definition.requirements_digest(),
        packages=tuple(sorted(packages, key=lambda p: p.name)),
        build=tuple(members["build"]),
        run=tuple(members["run"]),
    )


def _now() -> str:
    return resolve_created(None, os.environ, default=rfc3339(datetime.now(tz=timezone.utc)))


def _same_lock(lock: StackLock, path: Path) -> StackLock | None:
    """The lock at ``path`` when a re-resolution changed nothing but the timestamp: it is
    kept (with its ``released``), so an unchanged OS keeps its image digests."""
    if not path.exists():
        return None
    try:
        old = StackLock.read(path)
    except (StackError, SpecError):
        return None
    return old if same_packages(old, lock) else None


def same_packages(a: StackLock, b: StackLock) -> bool:
    """Whether two locks pin the same packages for the same requirements (whatever their
    ``released`` times)."""
    return (a.packages, a.build, a.run, a.requirements) == (
        b.packages,
        b.build,
        b.run,
        b.requirements,
    )


def _check_lock_matches(lock: StackLock, definition: StackDefinition, path: Path) -> None:
    if lock.requirements != definition.requirements_digest():
        raise StackError(
            "was made for other packages, sources or distribution than the stack file names",
            file=str(path),
            field="lock.requirements",
            hint="run `cnbsdk stack update` to resolve it again",
        )
    if lock.architecture != definition.distribution.architecture:
        raise StackError("architecture differs from the stack file", file=str(path))


# -- layers ---------------------------------------------------------------------------


def _groups(packages: Sequence[LockedPackage]) -> list[tuple[str, list[LockedPackage]]]:
    """Packages grouped by source package, groups sorted by source name."""
    groups: dict[str, list[LockedPackage]] = {}
    for package in packages:
        groups.setdefault(package.source, []).append(package)
    return [(source, sorted(groups[source], key=lambda p: p.name)) for source in sorted(groups)]


def _image_layers(
    definition: StackDefinition,
    lock: StackLock,
    spec: ImageSpec,
    workspace: AptWorkspace,
    layer_dir: Path,
    work: Path,
    progress: ProgressFactory,
) -> list[StackLayer]:
    packages = lock.image_packages(spec.kind)
    groups = _groups(packages)
    bar = progress(f"Writing {spec.kind} image layers", len(groups) + 3)
    skeleton = write_layer_from_entries(rootfs.skeleton_entries(), layer_dir)
    layers = [StackLayer("skeleton", skeleton, 0)]
    bar.advance(1)
    for source, group in groups:
        layers.append(_package_layer(source, group, workspace, definition.filter, layer_dir, work))
        bar.advance(1)

    names = {p.name for p in packages}
    bundle = b""
    if "ca-certificates" in names:
        ca = lock.by_name()["ca-certificates"]
        ca_dir = work / f"ca-{spec.kind}"
        ca_dir.mkdir()
        deb.unpack(workspace.deb_path(ca), ca_dir, PathFilter())
        bundle = rootfs.ca_bundle([ca_dir])
    entries = rootfs.config_entries(
        spec, bundle=bundle, has_tzdata="tzdata" in names, packages=names
    )
    config_layer = write_layer_from_entries(entries, layer_dir)
    layers.append(StackLayer("config", config_layer, _entries_size(entries)))
    bar.advance(1)

    document = sbom.os_sbom(
        packages,
        distro=lock.distribution,
        distro_version=lock.version,
        stack_id=lock.stack_id,
        image_kind=spec.kind,
        timestamp=lock.released,
    )
    data = sbom.dump(document)
    sbom_entries = [
        TarEntry.dir("/cnb"),
        TarEntry.dir("/cnb/sbom"),
        TarEntry.file(sbom.SBOM_PATH, data),
    ]
    layers.append(StackLayer("sbom", write_layer_from_entries(sbom_entries, layer_dir), len(data)))
    bar.advance(1)
    bar.finish()
    return layers


def _entries_size(entries: Sequence[TarEntry]) -> int:
    return sum(len(e.data) for e in entries if e.data is not None)


def _layer_key(group: Sequence[LockedPackage], rules: PathFilter) -> str:
    key = json.dumps(
        [
            LAYER_FORMAT,
            __version__,
            [[p.name, p.sha256] for p in group],
            rules.exclude,
            rules.include,
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()


def _package_layer(
    source: str,
    group: Sequence[LockedPackage],
    workspace: AptWorkspace,
    rules: PathFilter,
    layer_dir: Path,
    work: Path,
) -> StackLayer:
    """The layer holding one source package's binaries (reused from the layer cache when
    the same .deb files were unpacked before with the same filters)."""
    key = _layer_key(group, rules)
    index = layer_dir / "index" / f"{key}.json"
    names = tuple(p.name for p in group)
    cached = _cached_layer(index)
    if cached is not None:
        return StackLayer(f"deb:{source}", cached[0], cached[1], names)
    staging = work / f"deb-{key[:16]}"
    staging.mkdir()
    status_dir = staging / "var/lib/dpkg/status.d"
    for package in group:
        deb.unpack(workspace.deb_path(package), staging, rules)
        # A per-package dpkg status record (the distroless layout), which trivy, syft and
        # grype read: scanners see the packages without a full /var/lib/dpkg/status.
        for sub in ("var", "var/lib", "var/lib/dpkg", "var/lib/dpkg/status.d"):
            path = staging / sub
            if not path.is_dir():
                path.mkdir()
                os.chmod(path, 0o755)
        record = deb.control_record(workspace.deb_path(package)).rstrip("\n")
        lines = record.split("\n")
        lines.insert(1, "Status: install ok installed")
        status_file = status_dir / package.name
        status_file.write_text("\n".join(lines) + "\n")
        os.chmod(status_file, 0o644)
    content_size = _tree_size(staging)
    layer = write_layer_from_dir(staging, layer_dir, normalize_modes=False)
    shutil.rmtree(staging)
    index.parent.mkdir(parents=True, exist_ok=True)
    record_json = {
        "path": layer.path.name,
        "digest": layer.digest,
        "size": layer.size,
        "diff_id": layer.diff_id,
        "media_type": layer.media_type,
        "content_size": content_size,
    }
    tmp = index.with_suffix(".tmp")
    tmp.write_text(json.dumps(record_json))
    os.replace(tmp, index)
    return StackLayer(f"deb:{source}", layer, content_size, names)


def _cached_layer(index: Path) -> tuple[Layer, int] | None:
    try:
        data = json.loads(index.read_text())
        path = index.parent.parent / data["path"]
        if path.stat().st_size != data["size"]:
            return None
        layer = Layer(path, data["digest"], data["size"], data["diff_id"], data["media_type"])
        return layer, int(data["content_size"])
    except (OSError, ValueError, KeyError):
        return None


def _tree_size(root: Path) -> int:
    total = 0
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                total += os.lstat(path).st_size
    return total


# -- config and writing ---------------------------------------------------------------


def _created(lock: StackLock) -> str:
    return resolve_created(None, os.environ, default=lock.released)


def _image_config(
    definition: StackDefinition, lock: StackLock, spec: ImageSpec, layers: Sequence[StackLayer]
) -> ImageConfig:
    created = _created(lock)
    labels = {
        "io.buildpacks.base.distro.name": definition.distribution.name,
        "io.buildpacks.base.distro.version": definition.distribution.version,
        "io.buildpacks.base.released": lock.released,
        "io.buildpacks.base.id": definition.id,
        "io.buildpacks.stack.id": definition.id,
        LOCK_LABEL: json.dumps(
            {
                "digest": lock.digest(),
                "released": lock.released,
                "packages": len(lock.packages),
                "format": IMAGE_FORMAT,
            },
            sort_keys=True,
        ),
        sbom.SBOM_LABEL: json.dumps(
            {
                "diffID": layers[-1].layer.diff_id,
                "path": sbom.SBOM_PATH,
                "mediaType": sbom.SBOM_MEDIA_TYPE,
            },
            sort_keys=True,
        ),
    }
    for key, value in (
        ("io.buildpacks.base.maintainer", definition.maintainer),
        ("io.buildpacks.base.homepage", definition.homepage),
        ("io.buildpacks.base.description", definition.description),
    ):
        if value:
            labels[key] = value
    env = {"PATH": PATH}
    if spec.kind == "run":
        labels["io.buildpacks.rebasable"] = "true"
    else:
        env["CNB_USER_ID"] = str(spec.uid)
        env["CNB_GROUP_ID"] = str(spec.gid)
        env["CNB_STACK_ID"] = definition.id
    env.update(dict(spec.env))
    history = []
    for stack_layer in layers:
        if stack_layer.packages:
            versions = {p.name: p.version for p in lock.packages}
            what = ", ".join(f"{n} {versions[n]}" for n in stack_layer.packages)
            created_by = f"cnbsdk stack: {stack_layer.name[4:]} ({what})"
        else:
            created_by = f"cnbsdk stack: {stack_layer.name}"
        history.append(HistoryEntry(created=created, created_by=created_by))
    return ImageConfig(
        os="linux",
        architecture=definition.distribution.architecture,
        env=tuple(f"{k}={v}" for k, v in env.items()),
        user=f"{spec.uid}:{spec.gid}",
        labels=labels,
        created=created,
        history=tuple(history),
    )


def _write(
    kind: str, ref: str, config: ImageConfig, layers: Sequence[StackLayer], lock: StackLock
) -> ImageResult:
    """Write one image; the destination shows it only once its manifest is committed."""
    dest = open_destination(ref)
    try:
        digest = write_image(dest, config, [stack_layer.layer for stack_layer in layers])
    finally:
        dest.close()
    return ImageResult(
        kind=kind,
        reference=ref,
        digest=digest,
        packages=tuple(lock.image_packages(kind)),
        layers=tuple(layers),
    )


def changed_bytes(old: ImageResult, new: ImageResult) -> tuple[int, list[StackLayer]]:
    """The compressed bytes (and layers) of ``new`` that ``old`` does not have: what a
    registry receives and a puller downloads when the image is updated."""
    have = {layer.layer.digest for layer in old.layers}
    changed = [layer for layer in new.layers if layer.layer.digest not in have]
    return sum(layer.layer.size for layer in changed), changed
