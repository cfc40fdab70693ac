"""Builders: a build image plus the lifecycle, buildpacks and config, as pack and kpack use
them (cnb-spec-digest §5.2, pack's ``builder.toml`` §5.3).

``create_builder`` reads a ``builder.toml``, checks everything first (every buildpack found
and unique, the order complete, the build image usable, run images on the build image's
os/arch) and only then writes the image, so a bad input leaves nothing at the output. The
image is the build image with these layers on top, each reproducible, so packaging twice
gives the same digest:

1. pack's default directories: ``/workspace`` and ``/layers`` owned by the CNB uid:gid;
   ``/cnb``, ``/cnb/buildpacks``, ``/cnb/extensions``, ``/cnb/build-config``,
   ``/cnb/build-config/env``, ``/platform``, ``/platform/env`` owned by root; all 0755;
2. the lifecycle at ``/cnb/lifecycle/`` (cnbsdk's launcher, or the binaries of a reference
   lifecycle release tarball named by ``[lifecycle] uri``);
3. one layer per buildpack at ``/cnb/buildpacks/<escaped id>/<version>/`` (by id, version);
4. ``/cnb/order.toml``, ``/cnb/run.toml``, ``/cnb/stack.toml`` and the operator env
   ``/cnb/build-config/env/<NAME>[.<suffix>]`` (+ ``<NAME>.delim``), files 0644.

Labels: ``io.buildpacks.builder.metadata``, ``io.buildpacks.buildpack.order``,
``io.buildpacks.buildpack.layers`` and ``io.buildpacks.stack.id``; ``WorkingDir`` is
``/layers``; the build image's ``User`` and ``CNB_USER_ID``/``CNB_GROUP_ID`` are kept.

The lifecycle part is given by the caller (``LifecycleBundle``): the lifecycle room may not
be imported from here, so the CLI hands over cnbsdk's own launcher and API versions.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnbsdk import __version__
from cnbsdk.distribution.buildpack_layer import buildpack_layer, buildpack_layers_label_entry
from cnbsdk.distribution.buildpack_source import is_image_reference, is_plain_buildpack_dir
from cnbsdk.errors import CnbError, PackageError
from cnbsdk.oci.image import resolve_image
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import Layer, TarEntry, write_layer_from_entries
from cnbsdk.oci.models import HistoryEntry, ImageConfig
from cnbsdk.oci.open import open_destination, open_source, read_manifest_and_config
from cnbsdk.oci.reference import check_references
from cnbsdk.spec.builder_toml import BuilderModule, BuilderToml
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.ids import SUPPORTED_BUILDPACK_APIS, BuildpackVersion
from cnbsdk.spec.order import GroupEntry, OrderGroup
from cnbsdk.spec.platform_files import OrderToml, RunImage, RunToml, StackToml
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_file import parse_toml

Log = Callable[[str], None]

BUILDER_METADATA_LABEL = "io.buildpacks.builder.metadata"
BUILDPACK_ORDER_LABEL = "io.buildpacks.buildpack.order"
BUILDPACK_LAYERS_LABEL = "io.buildpacks.buildpack.layers"
STACK_ID_LABEL = "io.buildpacks.stack.id"
LIFECYCLE_VERSION_LABEL = "io.buildpacks.lifecycle.version"
LIFECYCLE_APIS_LABEL = "io.buildpacks.lifecycle.apis"

CREATED_BY = "cnbsdk"
LIFECYCLE_DIR = "/cnb/lifecycle"
# `uri = "cnbsdk:<id>"` in [[buildpacks]] names an installed plugin buildpack.
PLUGIN_SCHEME = "cnbsdk:"


@dataclass(frozen=True)
class LifecycleBundle:
    """What goes to ``/cnb/lifecycle``: executables by name, the version and the APIs."""

    binaries: Mapping[str, Path]
    version: str
    buildpack_apis: tuple[str, ...]
    platform_apis: tuple[str, ...]
    buildpack_deprecated: tuple[str, ...] = ()
    platform_deprecated: tuple[str, ...] = ()

    def apis_json(self) -> dict[str, Any]:
        """The ``apis`` object of the builder label and ``io.buildpacks.lifecycle.apis``."""
        return {
            "buildpack": {
                "deprecated": list(self.buildpack_deprecated),
                "supported": list(self.buildpack_apis),
            },
            "platform": {
                "deprecated": list(self.platform_deprecated),
                "supported": list(self.platform_apis),
            },
        }

    def metadata_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            # RFC 0011's single versions, still read by old platforms: the lowest supported.
            "api": {
                "buildpack": self.buildpack_apis[0] if self.buildpack_apis else "",
                "platform": self.platform_apis[0] if self.platform_apis else "",
            },
            "apis": self.apis_json(),
        }


def cnbsdk_lifecycle(launcher: Path, *, platform_api: str, version: str) -> LifecycleBundle:
    """cnbsdk's own lifecycle part: the launcher, Buildpack APIs cnbsdk runs, and the
    Platform APIs from 0.12 (run.toml) up to ``platform_api``."""
    major, minor = (int(part) for part in platform_api.split("."))
    platforms = tuple(f"{major}.{m}" for m in range(12, minor + 1)) or (platform_api,)
    return LifecycleBundle(
        binaries={"launcher": Path(launcher)},
        version=version,
        buildpack_apis=tuple(str(api) for api in SUPPORTED_BUILDPACK_APIS),
        platform_apis=platforms,
    )


def lifecycle_from_release(tarball: Path, work_dir: Path) -> LifecycleBundle:
    """A reference lifecycle release tarball (``lifecycle/<binaries>`` and a root-level
    ``lifecycle.toml``): the binaries are extracted into ``work_dir``; the file says the
    version and APIs. Only local files: nothing is downloaded."""
    where = str(tarball)
    try:
        archive = tarfile.open(tarball)  # noqa: SIM115 - closed by the with below
    except (OSError, tarfile.TarError) as error:
        raise PackageError(f"cannot read the lifecycle tarball: {error}", file=where) from None
    binaries: dict[str, Path] = {}
    descriptor: dict[str, Any] | None = None
    with archive:
        for member in archive:
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            if parts == ["lifecycle.toml"] and member.isfile():
                stream = archive.extractfile(member)
                assert stream is not None
                try:
                    text = stream.read().decode("utf-8")
                except UnicodeDecodeError as error:
                    raise PackageError(f"lifecycle.toml: {error}", file=where) from None
                descriptor = parse_toml(text, file=f"{where}: lifecycle.toml")
            elif len(parts) == 2 and parts[0] == "lifecycle" and member.isfile():
                stream = archive.extractfile(member)
                assert stream is not None
                target = work_dir / parts[1]
                work_dir.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    shutil.copyfileobj(stream, out)
                target.chmod(0o755)
                binaries[parts[1]] = target
    if descriptor is None:
        raise PackageError("has no lifecycle.toml at its root", file=where)
    if "launcher" not in binaries:
        raise PackageError("has no lifecycle/launcher", file=where)

    def apis(kind: str, key: str) -> tuple[str, ...]:
        value = descriptor.get("apis", {}).get(kind, {}).get(key, [])  # type: ignore[union-attr]
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    version = str(descriptor.get("lifecycle", {}).get("version", ""))
    if not version:
        raise PackageError("lifecycle.toml has no [lifecycle] version", file=where)
    return LifecycleBundle(
        binaries=binaries,
        version=version,
        buildpack_apis=apis("buildpack", "supported"),
        platform_apis=apis("platform", "supported"),
        buildpack_deprecated=apis("buildpack", "deprecated"),
        platform_deprecated=apis("platform", "deprecated"),
    )


# -- the buildpacks ------------------------------------------------------------------------


@dataclass(frozen=True)
class BuilderBuildpack:
    """A buildpack going into the builder: its descriptor, its files and its layer."""

    descriptor: BuildpackDescriptor
    directory: Path
    origin: str
    layer: Layer | None = None

    @property
    def key(self) -> tuple[str, str]:
        info = self.descriptor.buildpack
        return str(info.id), str(info.version)


def _read_buildpackage(location: str, staging: Path) -> list[tuple[BuildpackDescriptor, Path]]:
    """Every buildpack of a buildpackage (.cnb file or image), extracted safely."""
    from cnbsdk.distribution.buildpackage import read_buildpackage

    found = read_buildpackage(location, into=staging)
    return [(bp.descriptor, Path(bp.directory)) for bp in found]


def resolve_module(
    module: BuilderModule, base_dir: Path, staging: Path, origin: str
) -> list[tuple[BuildpackDescriptor, Path]]:
    """The buildpack(s) a ``[[buildpacks]]`` entry names (a buildpackage may hold several):

    * ``uri = "cnbsdk:<id>"``: an installed plugin buildpack, packaged as a directory;
    * a directory (relative to builder.toml, or ``file://``): a plain buildpack as it is, or
      a plugin package/project directory, packaged;
    * a ``.cnb`` file, ``image = REF`` or a ``docker://``/``oci:`` uri: a buildpackage.
    """
    from cnbsdk.distribution.buildpack_dir import package_buildpack_dir

    location = module.location
    if module.image:
        return _read_buildpackage(module.image, staging)
    if location.startswith(PLUGIN_SCHEME):
        plugin_id = location[len(PLUGIN_SCHEME) :]
        packaged = package_buildpack_dir(plugin_id, staging)
        return [(packaged.descriptor, packaged.path)]
    if location.startswith(("http://", "https://", "urn:cnb:")):
        raise PackageError(
            f"{location!r}: cnbsdk does not download buildpacks; give a directory, a .cnb "
            "file or an image reference",
            field=origin,
        )
    if is_image_reference(location):
        return _read_buildpackage(location, staging)
    path = Path(location.removeprefix("file://"))
    if not path.is_absolute():
        path = base_dir / path
    if path.is_file() and path.suffix == ".cnb":
        return _read_buildpackage(str(path), staging)
    if not path.is_dir():
        raise PackageError(f"{location!r}: no such directory or .cnb file", field=origin)
    if is_plain_buildpack_dir(path):
        return [(BuildpackDescriptor.read(path / "buildpack.toml"), path.resolve())]
    packaged = package_buildpack_dir(path, staging)
    return [(packaged.descriptor, packaged.path)]


def collect_buildpacks(
    builder: BuilderToml, base_dir: Path, work: Path, *, file: str, log: Log
) -> list[BuilderBuildpack]:
    """Resolve every ``[[buildpacks]]`` entry, write one layer per buildpack, and refuse two
    buildpacks with the same id and version but different content (same content: kept once,
    as pack does)."""
    found: dict[tuple[str, str], BuilderBuildpack] = {}
    for index, module in enumerate(builder.buildpacks):
        origin = f"buildpacks[{index}]"
        resolved = resolve_module(module, base_dir, work / "packaged" / str(index), origin)
        if module.id is not None and all(str(d.buildpack.id) != module.id for d, _ in resolved):
            found_ids = ", ".join(str(d.buildpack.id) for d, _ in resolved)
            raise PackageError(
                f"expected buildpack {module.id} but {module.location} holds {found_ids}",
                file=file,
                field=origin,
            )
        for descriptor, directory in resolved:
            layer = buildpack_layer(directory, descriptor, work / "layers")
            candidate = BuilderBuildpack(descriptor, directory, module.location, layer)
            key = candidate.key
            earlier = found.get(key)
            if earlier is None:
                found[key] = candidate
                log(f"Adding buildpack {key[0]}@{key[1]} (from {module.location})")
            elif earlier.layer and earlier.layer.diff_id != layer.diff_id:
                raise PackageError(
                    f"buildpack {key[0]}@{key[1]} is given twice with different content "
                    f"({earlier.origin} and {module.location})",
                    file=file,
                    field=origin,
                )
    return sorted(found.values(), key=lambda bp: bp.key)


def complete_order(
    order: Sequence[OrderGroup], buildpacks: Sequence[BuilderBuildpack], *, file: str
) -> tuple[OrderGroup, ...]:
    """The order with every version filled in (pack does this for entries without one);
    an entry naming a buildpack that is not in the builder is an error. The orders of
    composite buildpacks must be complete too."""
    versions: dict[str, list[str]] = {}
    for bp in buildpacks:
        versions.setdefault(bp.key[0], []).append(bp.key[1])

    def complete(entry: GroupEntry, where: str, in_file: str) -> GroupEntry:
        known = versions.get(str(entry.id), [])
        if entry.version is not None:
            if str(entry.version) not in known:
                have = f" (the builder has {', '.join(known)})" if known else ""
                raise PackageError(
                    f"names buildpack {entry.id}@{entry.version}, which is not in the "
                    f"builder{have}",
                    file=in_file,
                    field=where,
                )
            return entry
        if not known:
            raise PackageError(
                f"names buildpack {entry.id}, which is not in the builder",
                file=in_file,
                field=where,
            )
        if len(known) > 1:
            raise PackageError(
                f"names buildpack {entry.id}, of which the builder has several versions "
                f"({', '.join(known)}): give the version",
                file=in_file,
                field=where,
            )
        return replace(entry, version=BuildpackVersion(known[0]))

    completed = tuple(
        OrderGroup(
            tuple(
                complete(entry, f"order[{g}].group[{e}]", file)
                for e, entry in enumerate(group.group)
            )
        )
        for g, group in enumerate(order)
    )
    for bp in buildpacks:
        for g, group in enumerate(bp.descriptor.order):
            for e, entry in enumerate(group.group):
                complete(entry, f"order[{g}].group[{e}]", f"{bp.origin}: buildpack.toml")
    return completed


# -- images ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseImage:
    """The build image as read: manifest digest, config and the CNB user."""

    reference: str
    digest: str
    config: ImageConfig
    uid: int
    gid: int


def read_build_image(reference: str, *, file: str) -> BaseImage:
    try:
        resolved, config = read_manifest_and_config(reference)
    except CnbError as error:
        raise PackageError(
            f"cannot read the build image {reference}: {error}", file=file, field="build.image"
        ) from None
    env = config.env_dict()
    ids = []
    for name in ("CNB_USER_ID", "CNB_GROUP_ID"):
        value = env.get(name, "")
        if not (value.isascii() and value.isdigit() and len(value) <= 10) or int(value) > 2**32 - 2:
            raise PackageError(
                f"the build image {reference} does not set {name} to a uid/gid in its env",
                file=file,
                field="build.image",
            )
        ids.append(int(value))
    return BaseImage(reference, resolved.digest, config, ids[0], ids[1])


def check_run_images(
    run_images: Sequence[RunImage], build: BaseImage, *, file: str, log: Log
) -> None:
    """Every readable run image (and mirror) must be for the build image's os/arch/variant;
    one that cannot be read here is only a warning (it may live on a registry the builder's
    users reach)."""
    wanted = build.config.platform
    for index, run_image in enumerate(run_images):
        for candidate in run_image.candidates:
            try:
                _resolved, config = read_manifest_and_config(candidate, wanted)
            except CnbError as error:
                log(f"Warning: cannot read run image {candidate} to check its platform: {error}")
                continue
            got = config.platform
            if (got.os, got.architecture, got.variant) != (
                wanted.os,
                wanted.architecture,
                wanted.variant,
            ):
                raise PackageError(
                    f"run image {candidate} is for {got}, but the build image "
                    f"{build.reference} is for {wanted}",
                    file=file,
                    field=f"run.images[{index}]",
                )


def check_targets(builder: BuilderToml, build: BaseImage, *, file: str) -> None:
    """``[[targets]]``: the build image must be one of them (one platform per builder)."""
    if not builder.targets:
        return
    platform = build.config.platform
    for target in builder.targets:
        if (target.os or platform.os) == platform.os and (
            target.arch in ("", platform.architecture)
        ):
            return
    listed = ", ".join(f"{t.os}/{t.arch}" for t in builder.targets)
    raise PackageError(
        f"the build image {build.reference} is for {platform}, not one of the targets ({listed})",
        file=file,
        field="targets",
    )


# -- layers ------------------------------------------------------------------------------


def default_dirs_layer(uid: int, gid: int, out_dir: Path) -> Layer:
    """pack's default directories (digest §5.2)."""
    root_dirs = (
        "/cnb",
        "/cnb/buildpacks",
        "/cnb/extensions",
        "/cnb/build-config",
        "/cnb/build-config/env",
        "/platform",
        "/platform/env",
    )
    entries = [TarEntry.dir(path) for path in root_dirs]
    entries += [TarEntry.dir(path, uid=uid, gid=gid) for path in ("/layers", "/workspace")]
    return write_layer_from_entries(entries, out_dir)


def lifecycle_layer(lifecycle: LifecycleBundle, out_dir: Path) -> Layer:
    entries = [TarEntry.dir("/cnb"), TarEntry.dir(LIFECYCLE_DIR)]
    for name, path in sorted(lifecycle.binaries.items()):
        entries.append(TarEntry.file(f"{LIFECYCLE_DIR}/{name}", source=Path(path), mode=0o755))
    return write_layer_from_entries(entries, out_dir)


def config_layer(
    order: Sequence[OrderGroup],
    run_images: Sequence[RunImage],
    builder: BuilderToml,
    out_dir: Path,
) -> Layer:
    """order.toml, run.toml, stack.toml and the operator env files."""
    first = run_images[0] if run_images else None
    files = {
        "/cnb/order.toml": OrderToml(order=tuple(order)).to_toml(),
        "/cnb/run.toml": RunToml(images=tuple(run_images)).to_toml(),
        "/cnb/stack.toml": StackToml(run_image=first).to_toml(),
    }
    for env in builder.build_env:
        files[f"/cnb/build-config/env/{env.file_name}"] = env.value
        if env.delim:
            files[f"/cnb/build-config/env/{env.name}.delim"] = env.delim
    entries = [
        TarEntry.dir("/cnb"),
        TarEntry.dir("/cnb/build-config"),
        TarEntry.dir("/cnb/build-config/env"),
    ]
    entries += [TarEntry.file(path, text.encode("utf-8")) for path, text in files.items()]
    return write_layer_from_entries(entries, out_dir)


# -- labels ------------------------------------------------------------------------------


def builder_labels(
    builder: BuilderToml,
    buildpacks: Sequence[BuilderBuildpack],
    order: Sequence[OrderGroup],
    run_images: Sequence[RunImage],
    lifecycle: LifecycleBundle,
    stack_id: str,
) -> dict[str, str]:
    """The builder's labels in pack's JSON shapes, checked against the schemas."""
    described = []
    layers: dict[str, dict[str, Any]] = {}
    for bp in buildpacks:
        info = bp.descriptor.buildpack
        entry = {"id": str(info.id), "version": str(info.version)}
        if info.homepage:
            entry["homepage"] = info.homepage
        if info.name:
            entry["name"] = info.name
        described.append(entry)
        assert bp.layer is not None
        layers.setdefault(str(info.id), {})[str(info.version)] = buildpack_layers_label_entry(
            bp.descriptor, bp.layer.diff_id
        )
    first = run_images[0] if run_images else RunImage("")
    metadata: dict[str, Any] = {
        "description": builder.description,
        "buildpacks": described,
        "stack": {"runImage": _run_image_json(first)},
        "images": [_run_image_json(image) for image in run_images],
        "lifecycle": lifecycle.metadata_json(),
        "createdBy": {"name": CREATED_BY, "version": __version__},
    }
    order_json = [group.to_dict() for group in order]
    validate(metadata, "builder-metadata", file=BUILDER_METADATA_LABEL)
    validate(order_json, "buildpack-order", file=BUILDPACK_ORDER_LABEL)
    labels = {
        BUILDER_METADATA_LABEL: _json(metadata),
        BUILDPACK_ORDER_LABEL: _json(order_json),
        BUILDPACK_LAYERS_LABEL: _json(layers),
        LIFECYCLE_VERSION_LABEL: lifecycle.version,
        LIFECYCLE_APIS_LABEL: _json(lifecycle.apis_json()),
    }
    if stack_id:
        labels[STACK_ID_LABEL] = stack_id
    return labels


def _run_image_json(image: RunImage) -> dict[str, Any]:
    data: dict[str, Any] = {"image": image.image}
    if image.mirrors:
        data["mirrors"] = list(image.mirrors)
    return data


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


# -- putting it together -----------------------------------------------------------------


@dataclass(frozen=True)
class CreatedBuilder:
    """A written builder: where, its manifest digest and what it holds."""

    reference: str
    digest: str
    buildpacks: tuple[str, ...]
    order: tuple[OrderGroup, ...]
    run_images: tuple[RunImage, ...]
    layers: tuple[Layer, ...] = field(repr=False, default=())


def create_builder(
    builder_toml: Path,
    output: str,
    *,
    lifecycle: LifecycleBundle,
    log: Log = lambda line: None,
    extra_labels: Mapping[str, str] | None = None,
) -> CreatedBuilder:
    """Package the builder described by ``builder_toml`` into the image ``output``.

    ``lifecycle`` is what goes to ``/cnb/lifecycle`` unless ``[lifecycle] uri`` names a
    reference lifecycle release tarball (a local path or ``file://``), which then wins.
    Raises PackageError (one line, naming the file and field) before anything is written.
    """
    path = Path(builder_toml)
    builder = BuilderToml.read(path)
    check_references(builder.image_references(), file=str(path))
    return assemble_builder(
        builder,
        output,
        base_dir=path.resolve().parent,
        file=str(path),
        lifecycle=lifecycle,
        log=log,
        extra_labels=extra_labels,
    )


def assemble_builder(
    builder: BuilderToml,
    output: str,
    *,
    base_dir: Path,
    file: str,
    lifecycle: LifecycleBundle,
    log: Log = lambda line: None,
    extra_labels: Mapping[str, str] | None = None,
) -> CreatedBuilder:
    """``create_builder`` for a ``BuilderToml`` already in memory (the default builder)."""
    with _work_dir() as work:
        build = read_build_image(builder.build_image, file=file)
        check_targets(builder, build, file=file)
        run_images = builder.run_images
        check_run_images(run_images, build, file=file, log=log)
        lifecycle = _chosen_lifecycle(builder, lifecycle, base_dir, work, file)
        buildpacks = collect_buildpacks(builder, base_dir, work, file=file, log=log)
        order = complete_order(builder.order, buildpacks, file=file)
        if not order:
            log(f"Warning: {file} has no [[order]]: builds with this builder need --buildpack")
        stack_id = build.config.labels.get(STACK_ID_LABEL, "") or builder.stack_id
        labels = builder_labels(builder, buildpacks, order, run_images, lifecycle, stack_id)
        layers_dir = work / "layers"
        named: list[tuple[str, Layer]] = [
            ("default directories", default_dirs_layer(build.uid, build.gid, layers_dir)),
            (f"lifecycle {lifecycle.version}", lifecycle_layer(lifecycle, layers_dir)),
        ]
        for bp in buildpacks:
            assert bp.layer is not None
            named.append((f"buildpack {bp.key[0]}@{bp.key[1]}", bp.layer))
        named.append(
            ("order, run images, build env", config_layer(order, run_images, builder, layers_dir))
        )
        config = replace(
            build.config,
            working_dir="/layers",
            labels={**build.config.labels, **labels, **(extra_labels or {})},
            history=build.config.history
            + tuple(HistoryEntry(created_by=f"cnbsdk builder: {what}") for what, _ in named),
        )
        log(f"Writing builder {output}")
        digest = _write(output, config, [layer for _, layer in named], build.reference)
    return CreatedBuilder(
        reference=output,
        digest=digest,
        buildpacks=tuple(f"{bp.key[0]}@{bp.key[1]}" for bp in buildpacks),
        order=order,
        run_images=tuple(run_images),
    )


def _chosen_lifecycle(
    builder: BuilderToml, given: LifecycleBundle, base_dir: Path, work: Path, file: str
) -> LifecycleBundle:
    source = builder.lifecycle
    if source is None:
        return given
    if source.version:
        if source.version != given.version:
            raise PackageError(
                f"lifecycle {source.version} is not available here (cnbsdk brings "
                f"{given.version}); name a release tarball with [lifecycle] uri",
                file=file,
                field="lifecycle.version",
            )
        return given
    uri = source.uri
    if uri.startswith(("http://", "https://", "docker://")):
        raise PackageError(
            f"{uri!r}: cnbsdk does not download lifecycles; give a local release tarball",
            file=file,
            field="lifecycle.uri",
        )
    tarball = Path(uri.removeprefix("file://"))
    if not tarball.is_absolute():
        tarball = base_dir / tarball
    if not tarball.is_file():
        raise PackageError(f"{uri!r}: no such file", file=file, field="lifecycle.uri")
    return lifecycle_from_release(tarball, work / "lifecycle")


def _write(output: str, config: ImageConfig, layers: Sequence[Layer], base_ref: str) -> str:
    source = open_source(base_ref)
    try:
        base_manifest = resolve_image(source).manifest
        dest = open_destination(output)
        try:
            return write_image(dest, config, layers, base=(source, base_manifest))
        finally:
            dest.close()
    finally:
        source.close()


@contextmanager
def _work_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cnbsdk-builder-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def escaped_dir(root: Path, descriptor: BuildpackDescriptor) -> Path:
    """``<root>/<escaped id>/<version>``, the layout of ``/cnb/buildpacks``."""
    info = descriptor.buildpack
    return root / info.id.escaped / str(info.version)


__all__ = [
    "BUILDER_METADATA_LABEL",
    "BUILDPACK_LAYERS_LABEL",
    "BUILDPACK_ORDER_LABEL",
    "STACK_ID_LABEL",
    "CreatedBuilder",
    "LifecycleBundle",
    "assemble_builder",
    "cnbsdk_lifecycle",
    "create_builder",
    "lifecycle_from_release",
]
