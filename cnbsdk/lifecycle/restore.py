"""The restore step: what a rebuild finds in ``<layers>/<bp>/`` before ``bin/build`` runs.

The table of cnb-spec-digest §3.4 (buildpack.md §Layer Types, lifecycle
``metadata_restorer.go`` / ``restorer.go``; the flags' rule is ``layer_restore.restored``),
for each buildpack of the group:

============================  =======================================  =====================
flags in the label            ``<layer>.toml`` (never with ``[types]``)  contents
============================  =======================================  =====================
launch, not build/cache       from the previous image's label           no (export reuses it)
launch + build, no cache      no                                        no
launch + cache (any build)    from the previous image's label           from the cache, only
                              (from the cache when the image lacks it)  when the shas agree
cache, not launch (any build) from the cache                            from the cache
build only / none             no                                        no
============================  =======================================  =====================

``store.toml`` always comes from the previous image's ``buildpacks[].store``. Per-layer SBOM
files come from the cache's SBOM layer for the layers restored from the cache;
``launch.sbom.*``/``build.sbom.*`` never come back. A cached tar that is missing, corrupted
or disagrees with the image is skipped with a line saying why, and its metadata removed, so
the buildpack simply builds the layer again. Skips that are the table at work (``launch=false``,
``cache=false``, a stale sha) are plain lines, as the lifecycle logs them; skips that point at a
damaged cache or label carry pack's ``Warning: `` prefix. The "Restoring metadata" line of a
layer with cached contents is printed only once those contents are in place, so the log never
claims a layer the buildpack will not find.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk.errors import CnbError, ImageError
from cnbsdk.lifecycle.cache import VolumeCache
from cnbsdk.lifecycle.cache_trees import image_paths
from cnbsdk.lifecycle.layer_fingerprint import (
    FingerprintIndex,
    layer_parents,
    remember_extracted,
)
from cnbsdk.lifecycle.layer_restore import Restored, restored
from cnbsdk.lifecycle.order import GroupElement
from cnbsdk.oci.digest import HashingReader
from cnbsdk.oci.extract import extract_layer
from cnbsdk.spec.ids import LayerName
from cnbsdk.spec.labels import CacheMetadata, LayerMetadata, LifecycleMetadata
from cnbsdk.spec.layer_toml import LayerContentMetadata
from cnbsdk.spec.sbom import SBOM_FORMATS
from cnbsdk.spec.store_toml import StoreToml
from cnbsdk.spec.toml_file import write_toml

Log = Callable[[str], None]
APP_IMAGE = "app image"
CACHE = "cache"


@dataclass(frozen=True)
class SkippedLayer:
    """A layer the labels mention that was not (fully) restored, and why."""

    identifier: str
    reason: str


@dataclass(frozen=True)
class RestoreReport:
    """What restore put in ``<layers>``; identifiers are ``<bp id>:<layer>``."""

    metadata: Mapping[str, str]  # identifier -> where its toml came from (APP_IMAGE or CACHE)
    data: tuple[str, ...]  # layers whose contents came from the cache
    skipped: tuple[SkippedLayer, ...]
    stores: tuple[str, ...]  # buildpack ids whose store.toml was restored
    sboms: tuple[str, ...]  # SBOM files restored, relative to <layers>


@dataclass
class _Plan:
    """One layer to restore: its metadata source and, when cached, the tar to extract."""

    buildpack: str
    escaped: str
    name: str
    metadata: LayerMetadata
    source: str
    cache_sha: str | None  # extract this cached tar; None: metadata only

    @property
    def identifier(self) -> str:
        return f"{self.buildpack}:{self.name}"


class _Restorer:
    def __init__(
        self,
        layers_dir: Path,
        cache: VolumeCache | None,
        uid: int,
        gid: int,
        log: Log,
        fingerprints: FingerprintIndex | None = None,
        image_ids: tuple[int, int] | None = None,
    ) -> None:
        self.layers_dir = layers_dir
        self.cache = cache
        self.uid, self.gid = uid, gid
        self.log = log
        self.fingerprints = fingerprints
        self.image_ids = image_ids
        self.metadata: dict[str, str] = {}
        self.data: list[str] = []
        self.skipped: list[SkippedLayer] = []
        self.stores: list[str] = []
        self.sboms: list[str] = []
        self.chown = os.geteuid() == 0

    # -- helpers ------------------------------------------------------------------------
    def skip(self, identifier: str, reason: str, line: str) -> None:
        """A layer left out as the restoration table says (a normal line)."""
        self.skipped.append(SkippedLayer(identifier, reason))
        self.log(line)

    def warn(self, line: str) -> None:
        """Something wrong with the cache or the label (pack's warning prefix)."""
        self.log(f"Warning: {line}")

    def own(self, path: Path) -> None:
        if self.chown:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def buildpack_dir(self, escaped: str) -> Path:
        directory = self.layers_dir / escaped
        if not directory.is_dir():
            directory.mkdir(parents=True)
            self.own(directory)
        return directory

    # -- metadata (pass 1) --------------------------------------------------------------
    def plan_buildpack(
        self, element: GroupElement, image: LifecycleMetadata | None, cached: CacheMetadata
    ) -> list[_Plan]:
        bp = str(element.id)
        escaped = element.id.escaped
        image_entry = image.buildpack(bp) if image else None
        image_layers = dict(image_entry.layers) if image_entry else {}
        cache_entry = cached.buildpack(bp)
        cache_layers = dict(cache_entry.layers) if cache_entry else {}
        plans: list[_Plan] = []
        for name in sorted(set(image_layers) | set(cache_layers)):
            identifier = f"{bp}:{name}"
            try:
                LayerName(name)
            except CnbError:
                self.skipped.append(SkippedLayer(identifier, "invalid layer name"))
                self.warn(f'Not restoring "{identifier}": {name!r} is not a valid layer name')
                continue
            plan = self.plan_layer(
                identifier, image_layers.get(name), cache_layers.get(name), self.cache is not None
            )
            if plan is not None:
                source, metadata, cache_sha = plan
                plans.append(_Plan(bp, escaped, name, metadata, source, cache_sha))
        return plans

    def plan_layer(
        self,
        identifier: str,
        image: LayerMetadata | None,
        cached: LayerMetadata | None,
        have_cache: bool,
    ) -> tuple[str, LayerMetadata, str | None] | None:
        """(metadata source, metadata, cached sha to extract) for one layer, or None."""
        if image is not None and image.launch:
            rule = restored(launch=True, build=image.build, cache=image.cache)
            if rule is Restored.NOTHING:
                # build=true means the buildpack recreates it; a toml alone would mislead it
                self.skip(
                    identifier,
                    "build=true, cache=false",
                    f'Not restoring metadata for "{identifier}", marked as build=true, cache=false',
                )
                return None
            if rule is Restored.METADATA:
                return APP_IMAGE, image, None
            if cached is None or not cached.cache:
                why = "not in cache" if have_cache else "no cache"
                self.skip(identifier, why, f'Removing "{identifier}", {why}')
                return None
            if cached.sha != image.sha:
                # digest §7.13: the lifecycle checks the image sha against the cache sha
                self.skip(identifier, "wrong sha", f'Removing "{identifier}", wrong sha')
                return None
            return APP_IMAGE, image, cached.sha
        if cached is None:
            assert image is not None
            self.skip(
                identifier,
                "launch=false",
                f'Not restoring metadata for "{identifier}", marked as launch=false',
            )
            return None
        if restored(launch=False, build=cached.build, cache=cached.cache) is Restored.NOTHING:
            self.skip(
                identifier,
                "cache=false",
                f'Not restoring "{identifier}" from cache, marked as cache=false',
            )
            return None
        # cache=true and not launch, or launch+cache missing from the app image (the
        # Platform 0.14 rule: its metadata then comes from the cache).
        if not cached.sha:
            self.skipped.append(SkippedLayer(identifier, "no contents"))
            self.warn(f'Not restoring "{identifier}" from cache: no layer contents were cached')
            return None
        return CACHE, cached, cached.sha

    def write_metadata(self, plan: _Plan) -> None:
        directory = self.buildpack_dir(plan.escaped)
        toml = directory / f"{plan.name}.toml"
        # buildpack.md §Layer Types: restored tomls never carry [types]
        content = LayerContentMetadata(types=None, metadata=dict(plan.metadata.data))
        write_toml(toml, content.to_dict(include_types=False))
        self.own(toml)
        self.metadata[plan.identifier] = plan.source
        if plan.cache_sha is None:
            self.log_metadata(plan)
        # else: logged by restore_data once the contents are really restored

    def log_metadata(self, plan: _Plan) -> None:
        self.log(f'Restoring metadata for "{plan.identifier}" from {plan.source}')

    def remove_metadata(self, plan: _Plan) -> None:
        (self.layers_dir / plan.escaped / f"{plan.name}.toml").unlink(missing_ok=True)
        self.metadata.pop(plan.identifier, None)

    def restore_store(self, element: GroupElement, image: LifecycleMetadata | None) -> None:
        entry = image.buildpack(str(element.id)) if image else None
        if entry is None or not entry.store:
            return
        store: Mapping[str, Any] = entry.store
        metadata = store.get("metadata")
        if not isinstance(metadata, dict) or not metadata:
            return
        path = self.buildpack_dir(element.id.escaped) / "store.toml"
        StoreToml(metadata=dict(metadata)).write(path)
        self.own(path)
        self.stores.append(str(element.id))

    # -- contents (pass 2) ----------------------------------------------------------------
    def restore_data(self, plan: _Plan) -> None:
        assert self.cache is not None and plan.cache_sha is not None
        tar = self.cache.layer_tar(
            plan.cache_sha, name=plan.identifier, warn=self.warn, verify=False
        )
        if tar is None:
            self.remove_metadata(plan)
            self.skipped.append(SkippedLayer(plan.identifier, "corrupted or missing in cache"))
            return
        target = self.layers_dir / plan.escaped / plan.name
        if self.take_tree(plan, target):
            self.data.append(plan.identifier)
            self.log_metadata(plan)
            self.log(f'Restoring data for "{plan.identifier}" from cache')
            return
        try:
            with self.extracted(tar, plan.cache_sha) as root:
                source = _find_subtree(root, (plan.escaped, plan.name))
                if source is None:
                    raise ImageError(f"the cached tar holds no {plan.escaped}/{plan.name}")
                _remove_tree(target)
                os.rename(source, target)
            self.remember(plan, target, tar)
        except _CorruptTar:
            self.remove_metadata(plan)
            self.skipped.append(SkippedLayer(plan.identifier, "corrupted or missing in cache"))
            self.warn(f"Skipping corrupted cache layer {plan.identifier} (sha mismatch)")
            return
        except (ImageError, OSError) as error:
            self.remove_metadata(plan)
            reason = str(error) if isinstance(error, ImageError) else error.strerror
            self.skipped.append(SkippedLayer(plan.identifier, "unreadable in cache"))
            self.warn(f"Skipping cache layer {plan.identifier}: {reason}")
            return
        self.data.append(plan.identifier)
        self.log_metadata(plan)
        self.log(f'Restoring data for "{plan.identifier}" from cache')

    def take_tree(self, plan: _Plan, target: Path) -> bool:
        """Move the layer's unpacked tree from the cache into place, when the cache kept
        one that still matches (``cache_trees``), and record it for export as unchanged."""
        if self.cache is None or self.fingerprints is None or self.image_ids is None:
            return False
        assert plan.cache_sha is not None
        uid, gid = self.image_ids
        prefix, parents = image_paths(plan.escaped, plan.name, uid=uid, gid=gid)
        _remove_tree(target)
        if not self.cache.trees.take(
            plan.cache_sha, target, prefix=prefix, uid=uid, gid=gid, parents=parents
        ):
            return False
        self.fingerprints.remember(
            target, plan.cache_sha, prefix=prefix, uid=uid, gid=gid, parents=parents
        )
        return True

    def remember(self, plan: _Plan, target: Path, tar: Path) -> None:
        """Record what the restored layer's tree looks like, so that export finds it
        unchanged by its fingerprint and reuses the cache tar instead of tarring it."""
        if self.fingerprints is None or self.image_ids is None or plan.cache_sha is None:
            return
        uid, gid = self.image_ids
        bp_path = f"/layers/{plan.escaped}"
        remember_extracted(
            self.fingerprints,
            target,
            tar,
            plan.cache_sha,
            prefix=f"{bp_path}/{plan.name}",
            uid=uid,
            gid=gid,
            parents=layer_parents("/layers", bp_path, uid=uid, gid=gid),
        )

    def extracted(self, tar: Path, diff_id: str) -> _TempTree:
        """``tar`` extracted into a temporary tree, hashed as it is read: it must be
        ``diff_id`` (else ``_CorruptTar``), and the cache then knows it is sound."""
        owner = (self.uid, self.gid) if self.chown else None
        assert self.cache is not None
        return _TempTree(self.layers_dir, tar, owner, diff_id, self.cache)

    # -- SBOMs (pass 3) -------------------------------------------------------------------
    def restore_sboms(self, sbom_sha: str, plans: Sequence[_Plan]) -> None:
        """Copy ``sbom/cache/<bp>/<layer>/sbom.<ext>`` to ``<bp>/<layer>.sbom.<ext>`` for
        the layers restored from the cache (the lifecycle's RestoreToBuildpackLayers)."""
        assert self.cache is not None
        restored = [p for p in plans if p.cache_sha and p.identifier in self.data]
        if not restored:
            return
        tar = self.cache.layer_tar(sbom_sha, name="SBOM layer", warn=self.warn, verify=False)
        if tar is None:
            return
        try:
            with self.extracted(tar, sbom_sha) as root:
                sbom_root = _find_subtree(root, ("sbom", "cache"))
                if sbom_root is None:
                    return
                for plan in restored:
                    self.copy_sboms(sbom_root / plan.escaped / plan.name, plan)
        except _CorruptTar:
            self.warn("Skipping corrupted cache layer SBOM layer (sha mismatch)")
        except ImageError as error:
            self.warn(f"Skipping the cached SBOM layer: {error}")

    def copy_sboms(self, directory: Path, plan: _Plan) -> None:
        if not directory.is_dir():
            return
        for extension in SBOM_FORMATS.values():
            source = directory / f"sbom.{extension}"
            if not source.is_file() or source.is_symlink():
                continue
            target = self.layers_dir / plan.escaped / f"{plan.name}.sbom.{extension}"
            shutil.copyfile(source, target)
            self.own(target)
            self.sboms.append(str(target.relative_to(self.layers_dir)))


class _CorruptTar(Exception):
    """A cached tar whose content did not hash to its diffID."""


class _TempTree:
    """A layer tar extracted into a hidden temporary dir under ``<layers>`` (same
    filesystem, so restored layers are moved in with one rename), removed on exit. The tar
    is hashed while it is extracted, so it is read once."""

    def __init__(
        self,
        layers_dir: Path,
        tar: Path,
        owner: tuple[int, int] | None,
        diff_id: str,
        cache: VolumeCache,
    ) -> None:
        self.layers_dir = layers_dir
        self.tar = tar
        self.owner = owner
        self.diff_id = diff_id
        self.cache = cache
        self.root: Path | None = None

    def __enter__(self) -> Path:
        self.root = Path(tempfile.mkdtemp(prefix=".restore-", dir=self.layers_dir))
        try:
            with open(self.tar, "rb") as stream:
                hashing = HashingReader(stream)
                # The restored files belong to the user buildpacks run as (``uid``/``gid``),
                # not to the ids recorded in the tar: under a user namespace those differ.
                extract_layer(hashing, self.root, whiteouts=False, same_owner=False)  # type: ignore[arg-type]
                while hashing.read(1 << 20):  # the tar may end before the file does
                    pass
            if hashing.digest != self.diff_id:
                raise _CorruptTar(self.diff_id)
            self.cache.record_verified(self.tar, self.diff_id)
            if self.owner is not None and self.owner != (os.geteuid(), os.getegid()):
                _chown_tree(self.root, *self.owner)
        except BaseException:
            _remove_tree(self.root)
            raise
        return self.root

    def __exit__(self, *exc: object) -> None:
        if self.root is not None:
            _remove_tree(self.root)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.chown(os.path.join(directory, name), uid, gid, follow_symlinks=False)
    os.chown(root, uid, gid)


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _find_subtree(root: Path, tail: tuple[str, ...], max_depth: int = 3) -> Path | None:
    """The directory ``root/<prefix>/<tail...>`` with a prefix of at most ``max_depth``
    components. Cache tars hold absolute names (``/layers/<bp>/<layer>/...``); looking for
    the tail keeps restore independent of where the layers dir was when it was tarred."""
    level = [root]
    for _ in range(max_depth + 1):
        for directory in level:
            candidate = directory.joinpath(*tail)
            if candidate.is_dir() and not candidate.is_symlink():
                return candidate
        level = [
            child
            for directory in level
            for child in sorted(directory.iterdir())
            if child.is_dir() and not child.is_symlink()
        ]
    return None


def restore(
    group: Sequence[GroupElement],
    layers_dir: Path,
    *,
    previous: LifecycleMetadata | None,
    cache: VolumeCache | None,
    uid: int,
    gid: int,
    log: Log,
    fingerprints: FingerprintIndex | None = None,
    image_ids: tuple[int, int] | None = None,
) -> RestoreReport:
    """Restore layer metadata, cached layer contents, SBOMs and ``store.toml`` of each
    buildpack in ``group`` into ``layers_dir`` (the host's ``<layers>``), logging each
    restored or skipped layer the way the lifecycle does.

    With ``fingerprints`` and ``image_ids`` (the CNB uid and gid export writes), every
    layer extracted from the cache is recorded so export can reuse it untouched."""
    layers_dir = Path(layers_dir)
    restorer = _Restorer(layers_dir, cache, uid, gid, log, fingerprints, image_ids)
    cached = cache.metadata() if cache is not None else CacheMetadata()
    plans: list[_Plan] = []
    for element in group:
        buildpack_plans = restorer.plan_buildpack(element, previous, cached)
        for plan in buildpack_plans:
            restorer.write_metadata(plan)
        restorer.restore_store(element, previous)
        plans.extend(buildpack_plans)
    for plan in plans:
        if plan.cache_sha is not None:
            restorer.restore_data(plan)
    if cache is not None and cached.sbom:
        restorer.restore_sboms(cached.sbom, plans)
    if fingerprints is not None:
        fingerprints.save()
    return RestoreReport(
        metadata=dict(restorer.metadata),
        data=tuple(restorer.data),
        skipped=tuple(restorer.skipped),
        stores=tuple(restorer.stores),
        sboms=tuple(restorer.sboms),
    )
