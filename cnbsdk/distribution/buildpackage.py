"""Buildpackages: buildpacks as an OCI image or a ``.cnb`` file, written and read
(cnb-spec-digest §5.1, checklist 43).

A buildpackage holds one layer per buildpack (``/cnb/buildpacks/<escaped id>/<version>/``,
see ``buildpack_layer``) and two labels in the shapes pack writes:
``io.buildpacks.buildpackage.metadata`` (the entry buildpack) and
``io.buildpacks.buildpack.layers`` (every buildpack, with its ``layerDiffID``). A ``.cnb`` is
an uncompressed tar of an OCI image layout. Everything is reproducible: the same buildpacks
give the same digests, and nothing is left at the destination when writing fails.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk.distribution.buildpack_layer import (
    buildpack_layer,
    buildpack_layers_label_entry,
    buildpack_path,
)
from cnbsdk.distribution.staging import unwritable_output
from cnbsdk.errors import CnbError, ImageError, PackageError, SpecError
from cnbsdk.oci.extract import extract_image_layer, extract_layer
from cnbsdk.oci.image import read_image
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import NORMALIZED_MTIME, Layer
from cnbsdk.oci.layout import OciLayoutDestination, OciLayoutSource
from cnbsdk.oci.models import ImageConfig, running_platform
from cnbsdk.oci.open import open_destination, open_source
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.ids import BuildpackId, path_segment
from cnbsdk.spec.schema import validate

BUILDPACKAGE_METADATA_LABEL = "io.buildpacks.buildpackage.metadata"
BUILDPACK_LAYERS_LABEL = "io.buildpacks.buildpack.layers"
# pack writes the zero time into a buildpackage's config (cnb-spec-digest §5.1).
CREATED = "0001-01-01T00:00:00Z"
FORMATS = ("image", "cnb")


@dataclass(frozen=True)
class ExtractedBuildpack:
    """One buildpack read from a buildpackage: its descriptor, where its files now are, and
    the diffID of the layer it came from."""

    descriptor: BuildpackDescriptor
    directory: Path
    diff_id: str

    @property
    def key(self) -> str:
        return f"{self.descriptor.buildpack.id}@{self.descriptor.buildpack.version}"


def _key(descriptor: BuildpackDescriptor) -> str:
    return f"{descriptor.buildpack.id}@{descriptor.buildpack.version}"


def _dump(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


# -- writing ------------------------------------------------------------------------------


def check_order_satisfied(buildpacks: Sequence[BuildpackDescriptor]) -> None:
    """Every id@version a composite orders must be among ``buildpacks``."""
    present = {(str(d.buildpack.id), str(d.buildpack.version)) for d in buildpacks}
    ids = {str(d.buildpack.id) for d in buildpacks}
    for descriptor in buildpacks:
        for group in descriptor.order:
            for entry in group.group:
                found = (
                    (str(entry.id), str(entry.version)) in present
                    if entry.version is not None
                    else str(entry.id) in ids
                )
                if not found:
                    wanted = f"{entry.id}@{entry.version}" if entry.version else str(entry.id)
                    raise PackageError(
                        f"composite {_key(descriptor)} orders {wanted}, which is not included "
                        "(add it to [[dependencies]])",
                        field="order",
                    )


def buildpackage_metadata(
    main: BuildpackDescriptor, components: Sequence[BuildpackDescriptor]
) -> dict[str, Any]:
    """The ``io.buildpacks.buildpackage.metadata`` label: pack's ``buildpackage.Metadata``."""
    info = main.buildpack.to_dict()
    data: dict[str, Any] = {"id": info["id"], "version": info["version"]}
    for key in ("name", "homepage", "description", "keywords", "licenses", "exec-env"):
        if key in info:
            data[key] = info[key]
    stacks = _package_stacks(main, components)
    if stacks:
        data["stacks"] = stacks
    return data


def _package_stacks(
    main: BuildpackDescriptor, components: Sequence[BuildpackDescriptor]
) -> list[dict[str, Any]]:
    """A component's stacks; for a composite, the stack ids every stack-declaring component
    supports (with the union of their mixins), as pack computes them."""
    if not main.is_composite:
        return [stack.to_dict() for stack in main.stacks]
    declaring = [d for d in components if not d.is_composite and d.stacks]
    if not declaring:
        return []
    common = set.intersection(*({s.id for s in d.stacks} for d in declaring))
    stacks = []
    for stack_id in sorted(common):
        mixins = sorted(
            {m for d in declaring for s in d.stacks if s.id == stack_id for m in s.mixins}
        )
        stacks.append({"id": stack_id, "mixins": mixins} if mixins else {"id": stack_id})
    return stacks


def _platform(buildpacks: Sequence[BuildpackDescriptor]) -> tuple[str, str]:
    """os/architecture of the image: the one arch all targets agree on, else this machine's."""
    oses = {t.os for d in buildpacks for t in d.targets if t.os}
    arches = {t.arch for d in buildpacks for t in d.targets if t.arch}
    os_name = oses.pop() if len(oses) == 1 else "linux"
    arch = arches.pop() if len(arches) == 1 else running_platform().architecture
    return os_name, arch


def _layers(
    buildpacks: Sequence[tuple[BuildpackDescriptor, Path]], work: Path
) -> list[tuple[BuildpackDescriptor, Layer]]:
    """One layer per distinct buildpack; the same id@version twice must be the same bytes."""
    seen: dict[str, Layer] = {}
    out: list[tuple[BuildpackDescriptor, Layer]] = []
    for descriptor, directory in buildpacks:
        layer = buildpack_layer(Path(directory), descriptor, work)
        key = _key(descriptor)
        if key in seen:
            if seen[key].diff_id != layer.diff_id:
                raise PackageError(
                    f"buildpack {key} is included twice with different content "
                    f"({seen[key].diff_id[:19]} and {layer.diff_id[:19]})",
                    file=str(directory),
                )
            continue
        seen[key] = layer
        out.append((descriptor, layer))
    return out


def buildpackage_config(
    main: BuildpackDescriptor, layers: Sequence[tuple[BuildpackDescriptor, Layer]]
) -> ImageConfig:
    """The image config: labels, os/architecture, the fixed creation time."""
    descriptors = [d for d, _ in layers]
    layers_label: dict[str, dict[str, Any]] = {}
    for descriptor, layer in layers:
        by_version = layers_label.setdefault(str(descriptor.buildpack.id), {})
        by_version[str(descriptor.buildpack.version)] = buildpack_layers_label_entry(
            descriptor, layer.diff_id
        )
    metadata = buildpackage_metadata(main, descriptors)
    validate(metadata, "buildpackage-metadata", file=BUILDPACKAGE_METADATA_LABEL)
    validate(layers_label, "buildpack-layers", file=BUILDPACK_LAYERS_LABEL)
    os_name, arch = _platform(descriptors)
    return ImageConfig(
        os=os_name,
        architecture=arch,
        created=CREATED,
        labels={
            BUILDPACKAGE_METADATA_LABEL: _dump(metadata),
            BUILDPACK_LAYERS_LABEL: _dump(layers_label),
        },
    )


def write_buildpackage(
    buildpacks: Sequence[tuple[BuildpackDescriptor, Path]],
    main: BuildpackDescriptor,
    dest: str,
    *,
    format: str = "image",
    force: bool = False,
) -> str:
    """Write ``buildpacks`` (each a descriptor and its directory; ``main`` among them) as an
    image at the reference ``dest`` or as a ``.cnb`` file at the path ``dest``; return the
    manifest digest. Validation (order, duplicates) happens before anything is written."""
    if format not in FORMATS:
        raise PackageError(f"unknown buildpackage format {format!r}: expected image or cnb")
    if _key(main) not in {_key(d) for d, _ in buildpacks}:
        raise PackageError(f"the entry buildpack {_key(main)} is not among the buildpacks given")
    check_order_satisfied([d for d, _ in buildpacks])
    if format == "cnb":
        _check_cnb_output(Path(dest), force=force)
    with tempfile.TemporaryDirectory(prefix="cnbsdk-buildpackage-") as tmp:
        work = Path(tmp)
        layers = _layers(buildpacks, work / "layers")
        # the entry buildpack's layer comes first, like pack's
        layers.sort(key=lambda item: _key(item[0]) != _key(main))
        config = buildpackage_config(main, layers)
        if format == "image":
            destination = open_destination(dest)
            try:
                return write_image(destination, config, [layer for _, layer in layers])
            finally:
                destination.close()
        layout = work / "layout"
        destination = OciLayoutDestination(layout)
        try:
            digest = write_image(destination, config, [layer for _, layer in layers])
        finally:
            destination.close()
        _write_cnb(layout, Path(dest))
        return digest


def _check_cnb_output(output: Path, *, force: bool) -> None:
    if output.is_dir():
        raise PackageError("is a directory: a .cnb output is a file", file=str(output))
    if output.exists() and not force:
        raise PackageError("already exists", file=str(output), hint="use --force to replace it")


def _cnb_entries(layout: Path) -> Iterator[tuple[str, Path]]:
    """Every directory and file of the layout, sorted by path."""
    found: list[tuple[str, Path]] = []
    for directory, _dirs, files in os.walk(layout):
        relative = os.path.relpath(directory, layout)
        if relative != ".":
            found.append(("/" + relative, Path(directory)))
        for name in files:
            path = Path(directory, name)
            found.append(("/" + os.path.relpath(path, layout), path))
    return iter(sorted(found, key=lambda item: item[0].split("/")))


def _write_cnb(layout: Path, output: Path) -> None:
    """Tar the layout as pack does: names with a leading ``/``, 0755, root, mtime 1980."""
    output = Path(os.path.abspath(output))
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
    except OSError as error:
        raise unwritable_output(output, error) from None
    try:
        with (
            os.fdopen(fd, "wb") as stream,
            tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name, path in _cnb_entries(layout):
                info = tarfile.TarInfo(name)
                info.mode = 0o755
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = NORMALIZED_MTIME
                if path.is_dir():
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                    continue
                info.size = path.stat().st_size
                with open(path, "rb") as content:
                    tar.addfile(info, content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- reading ------------------------------------------------------------------------------


def is_cnb_file(ref: str) -> bool:
    """Whether ``ref`` names a ``.cnb`` (or any tar) file rather than an image reference."""
    path = Path(ref.removeprefix("file://"))
    return path.is_file()


@dataclass(frozen=True)
class ExtractedBuildpackage:
    """A buildpackage read back: its entry buildpack (named by
    ``io.buildpacks.buildpackage.metadata``) and every buildpack it holds, the entry included."""

    entry: ExtractedBuildpack
    buildpacks: tuple[ExtractedBuildpack, ...]


def read_buildpackage(ref: str, into: Path | None = None) -> list[ExtractedBuildpack]:
    """Extract every buildpack of the buildpackage at ``ref`` (a ``.cnb`` file or an image
    in any transport) safely under ``into`` (default: a new temporary directory, which the
    caller removes) as ``<into>/cnb/buildpacks/<escaped id>/<version>``.

    A tar entry that would land outside ``into`` is refused with a one-line error.
    """
    return list(extract_buildpackage(ref, into).buildpacks)


def extract_buildpackage(ref: str, into: Path | None = None) -> ExtractedBuildpackage:
    """As ``read_buildpackage``, also telling which buildpack is the entry one."""
    into = Path(into) if into is not None else Path(tempfile.mkdtemp(prefix="cnbsdk-bp-"))
    into.mkdir(parents=True, exist_ok=True)
    where = ref
    try:
        if is_cnb_file(ref):
            layout = Path(tempfile.mkdtemp(prefix=".cnb-", dir=into))
            try:
                extract_layer(
                    Path(ref.removeprefix("file://")), layout, same_owner=False, whiteouts=False
                )
                with OciLayoutSource(layout) as source:
                    return _extract_buildpacks(source, into)
            finally:
                shutil.rmtree(layout, ignore_errors=True)
        source = open_source(ref)
        try:
            return _extract_buildpacks(source, into)
        finally:
            source.close()
    except CnbError as error:
        if error.file:
            raise
        raise type(error)(error.message, file=where, field=error.field, hint=error.hint) from None


def _extract_buildpacks(source: Any, into: Path) -> ExtractedBuildpackage:
    manifest, config = read_image(source)
    layers_label = _label_json(config, BUILDPACK_LAYERS_LABEL)
    entry_id, entry_version = entry_buildpack(config)
    by_diff_id = dict(zip(config.diff_ids, manifest.as_oci().layers, strict=False))
    found: list[ExtractedBuildpack] = []
    done: set[str] = set()
    for bp_id, versions in sorted(layers_label.items()):
        if not isinstance(versions, dict):
            raise ImageError(
                f"{bp_id}: expected an object of versions", field=BUILDPACK_LAYERS_LABEL
            )
        try:  # both become directory names below
            BuildpackId(bp_id)
            for version in versions:
                path_segment(version, what="buildpack version")
        except SpecError as error:
            raise ImageError(error.message, field=BUILDPACK_LAYERS_LABEL) from None
        for version, entry in sorted(versions.items()):
            diff_id = entry.get("layerDiffID", "") if isinstance(entry, dict) else ""
            descriptor_blob = by_diff_id.get(diff_id)
            if descriptor_blob is None:
                raise ImageError(
                    f"{bp_id}@{version}: layerDiffID {diff_id or '(none)'} is not a layer "
                    "of the image",
                    field=BUILDPACK_LAYERS_LABEL,
                )
            if diff_id not in done:
                extract_image_layer(
                    source, descriptor_blob, diff_id, into, same_owner=False, whiteouts=False
                )
                done.add(diff_id)
            directory = into / "cnb" / "buildpacks" / bp_id.replace("/", "_") / version
            descriptor_file = directory / "buildpack.toml"
            if not descriptor_file.is_file():
                raise ImageError(
                    f"{bp_id}@{version}: its layer holds no "
                    f"{buildpack_path_text(bp_id, version)}/buildpack.toml",
                    field=BUILDPACK_LAYERS_LABEL,
                )
            descriptor = BuildpackDescriptor.read(descriptor_file)
            if (str(descriptor.buildpack.id), str(descriptor.buildpack.version)) != (
                bp_id,
                version,
            ):
                raise ImageError(
                    f"{bp_id}@{version}: its buildpack.toml says {_key(descriptor)}",
                    field=BUILDPACK_LAYERS_LABEL,
                )
            found.append(ExtractedBuildpack(descriptor, directory, diff_id))
    entry = next((bp for bp in found if bp.key == f"{entry_id}@{entry_version}"), None)
    if entry is None:
        raise ImageError(
            f"the entry buildpack {entry_id}@{entry_version} is not among the buildpacks of "
            f"{BUILDPACK_LAYERS_LABEL}",
            field=BUILDPACKAGE_METADATA_LABEL,
        )
    return ExtractedBuildpackage(entry, tuple(found))


def buildpack_path_text(bp_id: str, version: str) -> str:
    return f"/cnb/buildpacks/{bp_id.replace('/', '_')}/{version}"


def _label_json(config: ImageConfig, label: str) -> dict[str, Any]:
    raw = config.labels.get(label)
    if raw is None:
        raise ImageError(f"not a buildpackage: the image has no {label} label")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise ImageError(f"label is not valid JSON: {error}", field=label) from None
    if not isinstance(data, dict):
        raise ImageError("label must be a JSON object", field=label)
    return data


def entry_buildpack(ref_or_config: ImageConfig) -> tuple[str, str]:
    """(id, version) of the buildpackage's entry buildpack, from its metadata label."""
    data = _label_json(ref_or_config, BUILDPACKAGE_METADATA_LABEL)
    return str(data.get("id", "")), str(data.get("version", ""))


__all__ = [
    "BUILDPACKAGE_METADATA_LABEL",
    "BUILDPACK_LAYERS_LABEL",
    "ExtractedBuildpack",
    "ExtractedBuildpackage",
    "buildpack_path",
    "extract_buildpackage",
    "read_buildpackage",
    "write_buildpackage",
]
