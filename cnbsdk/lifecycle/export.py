"""The export phase: the app image, composed on the run image in the lifecycle's order.

On top of the run image's layers (cnb-spec-digest §4.5, checklist rule 25): each
buildpack's ``launch=true`` layers (group order, then layer-name order), the launch SBOM
layer, the app layers (one per slice, then the rest: ``app_slices``), the launcher layer,
the config layer and the process-types layer. Then the config and labels (``app_config``,
§4.6), ``report.toml``, and the ``cache=true`` layers handed to the cache writer
(``cache_staging``).

Every layer is a reproducible tar (``layer_tar``), so the same inputs give the same image
digest. Which layers are reused from the previous image or the cache, and which are gzipped
while tarred, is ``layer_reuse.ReusePolicy``; a layer is never tarred twice, and a tar
written for a ``launch`` and ``cache`` layer goes to both places. Elsewhere than a registry
(the local store, an OCI layout) layers stay plain tars whose digest is their diffID.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cnbsdk.errors import BuildError, CnbError
from cnbsdk.lifecycle import buildpack_files
from cnbsdk.lifecycle.analyze import PreviousImage
from cnbsdk.lifecycle.app_config import (
    LAUNCHER_PATH,
    PROCESS_DIR,
    app_image_config,
    entrypoint,
    run_image_reference,
    stack_run_image,
)
from cnbsdk.lifecycle.app_slices import slice_app
from cnbsdk.lifecycle.cache import CacheWriter, tar_name
from cnbsdk.lifecycle.cache_staging import CacheStaging
from cnbsdk.lifecycle.layer_fingerprint import (
    FingerprintIndex,
    fingerprint,
    layer_parents,
    workspace_index,
)
from cnbsdk.lifecycle.layer_reuse import ReusePolicy, Source
from cnbsdk.lifecycle.report import ImageReport, ReportToml
from cnbsdk.lifecycle.workspace import SANDBOX_PATHS, Workspace
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.blobs import transfer_blob
from cnbsdk.oci.compress import compress_layer
from cnbsdk.oci.created import resolve_created
from cnbsdk.oci.digest import Descriptor
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import (
    SYMLINK,
    Layer,
    ParentDir,
    TarEntry,
    write_layer_from_dir,
    write_layer_from_entries,
)
from cnbsdk.oci.models import ImageConfig, Manifest
from cnbsdk.oci.open import open_destination, open_image
from cnbsdk.oci.reference import DOCKER, as_reference
from cnbsdk.oci.transport import ImageDestination, ImageSource
from cnbsdk.progress import ProgressFactory, silent
from cnbsdk.spec.ids import BuildpackId
from cnbsdk.spec.labels import (
    BuildpackLayersMetadata,
    CacheMetadata,
    LayerMetadata,
    LifecycleMetadata,
    ProjectMetadata,
    RunImageMetadata,
)
from cnbsdk.spec.layer_toml import LayerContentMetadata
from cnbsdk.spec.metadata_toml import MetadataToml
from cnbsdk.spec.store_toml import StoreToml

Log = Callable[[str], None]

LIFECYCLE_LAYER = "buildpacksio/lifecycle"
# Files in <layers>/<bp>/ that are not layer metadata (buildpack.md §Layers).
_NOT_LAYERS = frozenset({"launch.toml", "build.toml", "store.toml"})
# lifecycle rejects these in process types (they become /cnb/process/<type> file names).
_BAD_PROCESS_CHARS = set('/><:|&\\"')


class BuildResult(Protocol):
    """What export needs from the build phase (``build.BuildOutcome`` fits)."""

    @property
    def metadata(self) -> MetadataToml: ...


@dataclass(frozen=True)
class ExportReport:
    """What export did: the image, which layers were added or reused, the report file, and
    the metadata to commit the cache with (None without a cache)."""

    digest: str
    image: str
    layers_added: tuple[str, ...]
    layers_reused: tuple[str, ...]
    app_layers_reused: int
    app_layers: int
    report_toml_path: Path
    manifest_size: int = 0
    cache_metadata: CacheMetadata | None = None
    lifecycle_metadata: LifecycleMetadata = field(default_factory=LifecycleMetadata)
    layers_compressed: int = 0  # new layers gzipped for the image (a registry's)


def export(
    workspace: Workspace,
    outcome: BuildResult,
    *,
    run_image: str,
    previous: PreviousImage | None,
    image: str,
    cache: CacheWriter | None,
    launcher: Path,
    uid: int,
    gid: int,
    creation_time: str | None = None,
    default_process: str | None = None,
    project_metadata: ProjectMetadata | None = None,
    run_image_mirrors: Sequence[str] = (),
    launcher_version: str | None = None,
    compress_layers: bool | None = None,
    log: Log = print,
    progress: ProgressFactory = silent,
) -> ExportReport:
    """Write the app image ``image`` on ``run_image`` from ``workspace``'s layers and app.

    ``previous`` is the ``analyze.PreviousImage`` to reuse layers from (None on a first
    build). ``cache`` receives every ``cache=true`` layer; it is not committed here: commit
    it with the returned ``cache_metadata`` once the image is written. New layers are
    gzipped when ``compress_layers`` says so; None means: when ``image`` is in a registry.
    Raises BuildError (naming the buildpack and file) for a layer that cannot be exported;
    nothing is written to ``image`` then.
    """
    exporter = _Exporter(
        workspace=workspace,
        metadata=outcome.metadata,
        previous=previous,
        cache=cache,
        uid=uid,
        gid=gid,
        log=log,
        compress=(
            as_reference(image).transport == DOCKER if compress_layers is None else compress_layers
        ),
    )
    try:
        return exporter.run(
            run_image=run_image,
            image=image,
            launcher=Path(launcher),
            created=resolve_created(creation_time, os.environ),
            default_process=default_process,
            project_metadata=project_metadata or ProjectMetadata(),
            run_image_mirrors=tuple(run_image_mirrors),
            launcher_version=launcher_version,
            progress=progress,
        )
    finally:
        exporter.close()


# -- the exporter -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ImageLayer:
    """A layer of the new image: the blob (or the previous image's) and its history line."""

    layer: Layer
    created_by: str
    reused_from: Descriptor | None = None  # a blob of the previous image


class _Exporter:
    def __init__(
        self,
        *,
        workspace: Workspace,
        metadata: MetadataToml,
        previous: PreviousImage | None,
        cache: CacheWriter | None,
        uid: int,
        gid: int,
        log: Log,
        compress: bool = False,
    ) -> None:
        self.workspace = workspace
        self.compress = compress
        self.policy = ReusePolicy(previous, compress)
        self.layers_compressed = 0
        self.metadata = metadata
        self.previous = previous
        self.previous_metadata = previous.metadata if previous is not None else None
        self.cache = cache
        self.tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=workspace.root))
        self.cache_staging = CacheStaging(cache, self.tmp, log) if cache is not None else None
        self.uid, self.gid = uid, gid
        self.log = log
        self.layers_dir = workspace.layers
        self.paths = SANDBOX_PATHS
        self.fingerprints: FingerprintIndex = workspace_index(workspace.root)
        self.image_layers: list[_ImageLayer] = []
        self.added: list[str] = []
        self.reused: list[str] = []
        self._previous_source: ImageSource | None = None
        self.cache_buildpacks: list[BuildpackLayersMetadata] = []
        self.cache_sbom: str | None = None

    def close(self) -> None:
        if self._previous_source is not None:
            self._previous_source.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the whole phase ---------------------------------------------------------------------
    def run(
        self,
        *,
        run_image: str,
        image: str,
        launcher: Path,
        created: str,
        default_process: str | None,
        project_metadata: ProjectMetadata,
        run_image_mirrors: tuple[str, ...],
        launcher_version: str | None,
        progress: ProgressFactory,
    ) -> ExportReport:
        image_entrypoint, process_message = entrypoint(self.metadata, default_process)
        with open_image(run_image) as run:
            run_source, resolved, run_config = run.source, run.resolved, run.config
            if not run_config.diff_ids:
                raise BuildError("the run image has no layers", field="run-image")
            buildpacks = self._buildpack_layers()
            sbom = self._sbom_layer()
            app, app_reused = self._app_layers()
            launcher_sha = self._launcher_layer(launcher)
            config_sha = self._config_layer()
            process_types = self._process_types_layer()
            self._cache_sbom()
            self.fingerprints.save()
            lifecycle = LifecycleMetadata(
                app=app,
                sbom=sbom,
                buildpacks=buildpacks,
                config=config_sha,
                launcher=launcher_sha,
                process_types=process_types,
                run_image=RunImageMetadata(
                    top_layer=run_config.diff_ids[-1],
                    reference=run_image_reference(run_image, resolved.digest),
                    image=run_image,
                    mirrors=run_image_mirrors,
                ),
                stack_run_image=stack_run_image(run_image, run_image_mirrors),
            )
            config = app_image_config(
                run_config,
                self.metadata,
                created=created,
                entrypoint=image_entrypoint,
                lifecycle=lifecycle,
                project=project_metadata,
                launcher_version=launcher_version,
                layers_created_by=[item.created_by for item in self.image_layers],
                log=self.log,
            )
            self.log(process_message)
            if self.layers_compressed:
                self.log(f"Compressed {self.layers_compressed} new layer(s) with gzip")
            self.log(f"Saving {image}...")
            digest, manifest_size = self._write(
                image, config, run_source, resolved.manifest, progress
            )
        self.log(f"*** Images ({digest}):")
        self.log(f"      {image}")
        self.log(f"*** Manifest Size: {manifest_size}")
        report_path = self.layers_dir / "report.toml"
        ReportToml(
            image=ImageReport(tags=(image,), digest=digest, manifest_size=manifest_size)
        ).write(report_path)
        return ExportReport(
            digest=digest,
            image=image,
            layers_added=tuple(self.added),
            layers_reused=tuple(self.reused),
            app_layers_reused=app_reused,
            app_layers=len(app),
            report_toml_path=report_path,
            manifest_size=manifest_size,
            cache_metadata=(
                CacheMetadata(sbom=self.cache_sbom, buildpacks=tuple(self.cache_buildpacks))
                if self.cache is not None
                else None
            ),
            lifecycle_metadata=lifecycle,
            layers_compressed=self.layers_compressed,
        )

    # -- the previous image ------------------------------------------------------------------
    def _previous_source_open(self) -> ImageSource:
        if self._previous_source is None:
            assert self.previous is not None  # only reused layers come from it
            self._previous_source = self.previous.open_source()
        return self._previous_source

    def _reuse(self, name: str, diff_id: str, created_by: str) -> bool:
        """Put the previous image's layer ``diff_id`` in the new image without its bytes
        passing through here; False when the previous image lacks it."""
        descriptor = self.policy.previous_blob(diff_id)
        if descriptor is None:
            return False
        layer = Layer(
            Path(os.devnull), descriptor.digest, descriptor.size, diff_id, descriptor.media_type
        )
        self.image_layers.append(_ImageLayer(layer, created_by, reused_from=descriptor))
        self.reused.append(name)
        self.log(f"Reusing layer '{name}'")
        return True

    def _add_or_reuse(
        self, name: str, layer: Layer, previous_sha: str | None, created_by: str
    ) -> None:
        """Add a freshly written layer, or reuse the previous image's when the diffID is equal."""
        if self.policy.reuses(layer.diff_id, previous_sha) and self._reuse(
            name, layer.diff_id, created_by
        ):
            return
        self.image_layers.append(_ImageLayer(self._for_image(layer), created_by))
        self.added.append(name)
        self.log(f"Adding layer '{name}'")

    # -- compression -------------------------------------------------------------------------
    def _for_image(self, layer: Layer) -> Layer:
        """The blob a new layer goes into the image as: gzipped for a registry (from the
        tar already written, which stays as it is for the cache), else the plain tar."""
        if not self.compress:
            return layer
        self.layers_compressed += 1
        return compress_layer(layer, self.tmp)  # as it is when gzipped while tarring

    # -- buildpack layers --------------------------------------------------------------------
    def _parents(self, *dirs: tuple[Path, str]) -> list[ParentDir]:
        """Parent directories (``/layers``, ``/layers/<bp>``) as the lifecycle's container
        has them (see ``layer_parents``)."""
        return layer_parents(*(image_path for _, image_path in dirs), uid=self.uid, gid=self.gid)

    def _buildpack_layers(self) -> tuple[BuildpackLayersMetadata, ...]:
        entries = []
        for buildpack in self.metadata.buildpacks:
            entries.append(self._one_buildpack(str(buildpack.id), str(buildpack.version)))
        return tuple(entries)

    def _one_buildpack(self, bp_id: str, version: str) -> BuildpackLayersMetadata:
        escaped = BuildpackId(bp_id).escaped
        bp_dir = self.layers_dir / escaped
        image_bp = f"{self.paths.layers}/{escaped}"
        launch_layers: dict[str, LayerMetadata] = {}
        cache_layers: dict[str, LayerMetadata] = {}
        for toml in _layer_tomls(bp_dir):
            name = toml.name[: -len(".toml")]
            content = _read_layer_toml(toml, bp_id)
            types = content.effective_types
            if not (types.launch or types.cache):
                continue
            layer_dir = bp_dir / name
            prefix = f"{image_bp}/{name}"
            label_name = f"{bp_id}:{name}"
            has_dir = layer_dir.is_dir()
            parents = (
                self._parents((self.layers_dir, self.paths.layers), (bp_dir, image_bp))
                if has_dir
                else []
            )
            sha = ""
            tar: Layer | None = None
            if types.launch:
                created_by = f"Layer: '{name}', Created by buildpack: {bp_id}@{version}"
                previous = (
                    self.previous_metadata.layer(bp_id, name) if self.previous_metadata else None
                )
                previous_sha = previous.sha if previous else None
                if has_dir:
                    sha, tar = self._launch_dir_layer(
                        label_name,
                        layer_dir,
                        prefix,
                        parents,
                        created_by,
                        previous_sha=previous_sha,
                        cache=types.cache,
                    )
                else:
                    sha = self._launch_toml_only(
                        label_name, toml, bp_id, name, types.cache, created_by
                    )
            if types.cache and has_dir and self.cache is not None:
                sha = self._cache_layer(label_name, layer_dir, prefix, parents, tar, sha)
            record = LayerMetadata(
                sha=sha,
                data=dict(content.metadata),
                build=types.build,
                launch=types.launch,
                cache=types.cache,
            )
            if types.launch:
                launch_layers[name] = record
            if types.cache and has_dir and sha:
                cache_layers[name] = record
        store = _read_store(bp_dir / "store.toml", bp_id)
        self.cache_buildpacks.append(BuildpackLayersMetadata(bp_id, version, cache_layers, store))
        return BuildpackLayersMetadata(bp_id, version, launch_layers, store)

    def _launch_dir_layer(
        self,
        name: str,
        layer_dir: Path,
        prefix: str,
        parents: list[ParentDir],
        created_by: str,
        *,
        previous_sha: str | None,
        cache: bool,
    ) -> tuple[str, Layer | None]:
        """A launch layer with contents: reused without tarring when its fingerprint says
        it is unchanged, else tarred (once) and added or reused by diffID."""
        known = self.fingerprints.lookup(
            layer_dir, prefix=prefix, uid=self.uid, gid=self.gid, parents=parents
        )
        source = self.policy.launch_layer_source(known, previous_sha, cache=cache)
        if known and source is Source.PREVIOUS_IMAGE and self._reuse(name, known, created_by):
            return known, None
        if (
            known
            and source is Source.CACHE
            and self.cache is not None
            and self.cache.reuse(known, name=name, quiet=True)
        ):
            # Restored from the cache and unchanged: the committed tar is the layer blob.
            staged = self.cache.staging / tar_name(known)
            layer = Layer(staged, known, staged.stat().st_size, known, mt.OCI_LAYER)
            self._add_or_reuse(name, layer, previous_sha, created_by)
            return known, layer
        gzip_now = self.policy.gzip_launch_tar(known, previous_sha, cache=cache)
        layer = self._tar_dir(layer_dir, prefix, parents, compress=gzip_now)
        self._add_or_reuse(name, layer, previous_sha, created_by)
        return layer.diff_id, layer

    def _tar_dir(
        self, layer_dir: Path, prefix: str, parents: list[ParentDir], *, compress: bool = False
    ) -> Layer:
        """Tar a layer dir (plain unless ``compress``) and remember its fingerprint (unless
        it changed while being read)."""
        before = fingerprint(layer_dir, prefix=prefix, uid=self.uid, gid=self.gid, parents=parents)
        layer = write_layer_from_dir(
            layer_dir,
            self.tmp,
            prefix=prefix,
            uid=self.uid,
            gid=self.gid,
            parents=parents,
            compress=compress,
        )
        if before is not None:
            self.fingerprints.remember(
                layer_dir,
                layer.diff_id,
                prefix=prefix,
                uid=self.uid,
                gid=self.gid,
                parents=parents,
                before=before,
            )
        return layer

    def _launch_toml_only(
        self, name: str, toml: Path, bp_id: str, layer: str, cache: bool, created_by: str
    ) -> str:
        """A launch layer with a toml but no directory reuses the previous image's layer
        (checklist rule 26)."""
        if cache:
            raise BuildError(
                f"layer '{name}' is cache=true but has no contents to export",
                file=str(toml),
                field="types.cache",
                hint="create the layer directory or set cache = false",
            )
        previous = self.previous_metadata.layer(bp_id, layer) if self.previous_metadata else None
        if previous is None or not previous.sha:
            raise BuildError(
                f"cannot reuse layer '{name}': the previous image has no layer by that name",
                file=str(toml),
                hint="create the layer directory",
            )
        if not self._reuse(name, previous.sha, created_by):
            raise BuildError(
                f"cannot reuse layer '{name}': the previous image lacks its diffID {previous.sha}",
                file=str(toml),
            )
        return previous.sha

    def _cache_layer(
        self,
        name: str,
        layer_dir: Path,
        prefix: str,
        parents: list[ParentDir],
        tar: Layer | None,
        sha: str,
    ) -> str:
        """Hand a ``cache=true`` layer to the cache (see ``cache_staging``)."""
        assert self.cache_staging is not None
        return self.cache_staging.layer(
            name,
            tar,
            known=lambda: (
                sha
                or self.fingerprints.lookup(
                    layer_dir, prefix=prefix, uid=self.uid, gid=self.gid, parents=parents
                )
            ),
            write_tar=lambda: self._tar_dir(layer_dir, prefix, parents),
        )

    # -- SBOM, app, launcher, config, process types ------------------------------------------
    def _sbom_layer(self) -> str | None:
        sbom_dir = self.layers_dir / "sbom" / "launch"
        if not sbom_dir.is_dir():
            return None
        image_sbom = f"{self.paths.layers}/sbom"
        parents = self._parents(
            (self.layers_dir, self.paths.layers), (self.layers_dir / "sbom", image_sbom)
        )
        previous = self.previous_metadata.sbom if self.previous_metadata else None
        sha, _ = self._launch_dir_layer(
            f"{LIFECYCLE_LAYER}:launch.sbom",
            sbom_dir,
            f"{image_sbom}/launch",
            parents,
            "Software Bill-of-Materials",
            previous_sha=previous,
            cache=False,
        )
        return sha

    def _cache_sbom(self) -> None:
        sbom_dir = self.layers_dir / "sbom" / "cache"
        if self.cache is None or not sbom_dir.is_dir():
            return
        image_sbom = f"{self.paths.layers}/sbom"
        parents = self._parents(
            (self.layers_dir, self.paths.layers), (self.layers_dir / "sbom", image_sbom)
        )
        self.cache_sbom = self._cache_layer(
            f"{LIFECYCLE_LAYER}:cache.sbom", sbom_dir, f"{image_sbom}/cache", parents, None, ""
        )

    def _app_layers(self) -> tuple[tuple[str, ...], int]:
        slices = [tuple(s.paths) for s in self.metadata.slices]
        groups = slice_app(
            self.workspace.app, slices, app_prefix=self.paths.app, uid=self.uid, gid=self.gid
        )
        previous_app = set(self.previous_metadata.app) if self.previous_metadata else set()
        gzip_now = self.policy.gzip_app_while_tarring(previous_app)
        shas: list[str] = []
        reused = 0
        for index, entries in enumerate(groups):
            layer = write_layer_from_entries(entries, self.tmp, compress=gzip_now, sort=False)
            created_by = "Application Layer" if not slices else f"Application Slice: {index + 1}"
            descriptor = self.policy.previous_blob(layer.diff_id)
            if layer.diff_id in previous_app and descriptor is not None:
                reused_layer = replace(
                    layer,
                    digest=descriptor.digest,
                    size=descriptor.size,
                    media_type=descriptor.media_type,
                )
                self.image_layers.append(
                    _ImageLayer(reused_layer, created_by, reused_from=descriptor)
                )
                reused += 1
            else:
                self.image_layers.append(_ImageLayer(self._for_image(layer), created_by))
            shas.append(layer.diff_id)
        total = len(groups)
        if reused:
            self.log(f"Reused {reused}/{total} app layer(s)")
        if total - reused:
            self.log(f"Added {total - reused}/{total} app layer(s)")
        return tuple(shas), reused

    def _launcher_layer(self, launcher: Path) -> str:
        if not launcher.is_file():
            raise BuildError("the launcher program is missing", file=str(launcher))
        entries = [
            TarEntry.dir("/cnb", mode=0o755),
            TarEntry.dir("/cnb/lifecycle", mode=0o755),
            TarEntry.file(LAUNCHER_PATH, source=launcher, mode=0o755),
        ]
        previous = self.previous_metadata.launcher if self.previous_metadata else None
        return self._entries_layer("launcher", entries, previous, "Buildpacks Application Launcher")

    def _config_layer(self) -> str:
        config_dir = self.layers_dir / "config"
        if not (config_dir / "metadata.toml").is_file():
            raise BuildError(
                "the build left no metadata.toml", file=str(config_dir / "metadata.toml")
            )
        parents = self._parents((self.layers_dir, self.paths.layers))
        previous = self.previous_metadata.config if self.previous_metadata else None
        layer = write_layer_from_dir(
            config_dir,
            self.tmp,
            prefix=f"{self.paths.layers}/config",
            uid=self.uid,
            gid=self.gid,
            parents=parents,
            compress=self.policy.gzip_while_tarring(previous),
        )
        self._add_or_reuse(
            f"{LIFECYCLE_LAYER}:config", layer, previous, "Buildpacks Launcher Config"
        )
        return layer.diff_id

    def _process_types_layer(self) -> str | None:
        types = [str(p.type) for p in self.metadata.processes]
        if not types:
            return None
        entries = [TarEntry.dir("/cnb", mode=0o755), TarEntry.dir(PROCESS_DIR, mode=0o755)]
        for process_type in types:
            if _BAD_PROCESS_CHARS & set(process_type):
                raise BuildError(f"invalid process type {process_type!r}", field="processes.type")
            entries.append(
                TarEntry(f"{PROCESS_DIR}/{process_type}", SYMLINK, 0o755, linkname=LAUNCHER_PATH)
            )
        previous = self.previous_metadata.process_types if self.previous_metadata else None
        return self._entries_layer("process-types", entries, previous, "Buildpacks Process Types")

    def _entries_layer(
        self, name: str, entries: list[TarEntry], previous_sha: str | None, created_by: str
    ) -> str:
        """Tar ``entries`` into the lifecycle layer ``name`` (the previous image's when it is
        equal); its diffID."""
        layer = write_layer_from_entries(
            entries, self.tmp, compress=self.policy.gzip_while_tarring(previous_sha)
        )
        self._add_or_reuse(f"{LIFECYCLE_LAYER}:{name}", layer, previous_sha, created_by)
        return layer.diff_id

    # -- config and writing ------------------------------------------------------------------
    def _write(
        self,
        image: str,
        config: ImageConfig,
        run_source: ImageSource,
        run_manifest: Manifest,
        progress: ProgressFactory,
    ) -> tuple[str, int]:
        layers = [item.layer for item in self.image_layers]
        total = sum(d.size for d in run_manifest.layers) + sum(layer.size for layer in layers)
        handle = progress("Exporting", total)
        ok = False
        dest = _SizeRecorder(open_destination(image))
        try:
            for item in self.image_layers:
                if item.reused_from is not None and not dest.has_blob(item.reused_from.digest):
                    transfer_blob(self._previous_source_open(), dest, item.reused_from)

            def advance(outcome: str, descriptor: Descriptor) -> None:
                handle.advance(descriptor.size)

            digest = write_image(
                dest, config, layers, base=(run_source, run_manifest), progress=advance
            )
            ok = True
        finally:
            handle.finish(ok)
            dest.close()
        return digest, dest.manifest_size


class _SizeRecorder:
    """An ImageDestination that remembers the size of the manifest written through it."""

    def __init__(self, inner: ImageDestination) -> None:
        self.inner = inner
        self.manifest_size = 0

    def has_blob(self, digest: str) -> bool:
        return self.inner.has_blob(digest)

    def put_blob(self, digest: str, size: int, stream: BinaryIO) -> None:
        self.inner.put_blob(digest, size, stream)

    def link_blob(self, source: Any, digest: str, size: int) -> bool:
        link = getattr(self.inner, "link_blob", None)
        return bool(link(source, digest, size)) if link is not None else False

    def try_mount(self, digest: str, source_repository: str) -> bool:
        return self.inner.try_mount(digest, source_repository)

    def put_manifest(self, raw: bytes, media_type: str) -> str:
        self.manifest_size = len(raw)
        return self.inner.put_manifest(raw, media_type)

    def commit(self) -> None:
        self.inner.commit()

    def close(self) -> None:
        self.inner.close()

    @property
    def ref(self) -> Any:
        return getattr(self.inner, "ref", None)


def _layer_tomls(bp_dir: Path) -> Iterator[Path]:
    """``<layers>/<bp>/<layer>.toml`` files in layer-name order."""
    if not bp_dir.is_dir():
        return iter(())
    tomls = [
        p
        for p in bp_dir.iterdir()
        if p.name.endswith(".toml") and p.name not in _NOT_LAYERS and p.is_file()
    ]
    return iter(sorted(tomls, key=lambda p: os.fsencode(p.name[: -len(".toml")])))


def _read_layer_toml(path: Path, bp_id: str) -> LayerContentMetadata:
    try:
        return buildpack_files.read_model(LayerContentMetadata, path, root=path.parent)
    except CnbError as error:
        raise BuildError(
            f"buildpack {bp_id}: {error.message}", file=str(path), field=error.field
        ) from None


def _read_store(path: Path, bp_id: str) -> dict[str, Any] | None:
    if not path.is_file() and not path.is_symlink():
        return None
    try:
        store = buildpack_files.read_model(StoreToml, path, root=path.parent)
    except CnbError as error:
        raise BuildError(
            f"buildpack {bp_id}: {error.message}", file=str(path), field=error.field
        ) from None
    data = store.to_dict()
    return data or None
