"""What goes into a buildpackage: SRC resolved to buildpack directories.

SRC is an installed plugin id, a buildpack directory (plugin or plain) or pack's
``package.toml``, whose ``[buildpack] uri`` and ``[[dependencies]] uri|image`` name
directories (relative to the file), ``.cnb`` files or image references (``docker://``,
``oci:``, a registry name). Python plugins are packaged to a directory first
(``package_buildpack_dir``); buildpackages are extracted safely. With ``offline`` every
buildpack's ``[[metadata.dependencies]]`` are downloaded (verified) into its
``dependencies/`` — on a copy, never in the source tree.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.deps import bundle_dependencies
from cnbsdk.distribution.buildpack_dir import package_buildpack_dir
from cnbsdk.distribution.buildpack_source import resolve_source
from cnbsdk.distribution.buildpackage import read_buildpackage, write_buildpackage
from cnbsdk.distribution.staging import staged_dir
from cnbsdk.errors import PackageError
from cnbsdk.oci.reference import check_references
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor, Dependency
from cnbsdk.spec.package_toml import PackageToml

DownloadFn = Callable[[Dependency, str], None]


@dataclass(frozen=True)
class CollectedBuildpacks:
    """The entry buildpack and every buildpack (entry included) with its directory."""

    main: BuildpackDescriptor
    buildpacks: tuple[tuple[BuildpackDescriptor, Path], ...]


def is_package_toml(source: str) -> bool:
    path = Path(source)
    return path.suffix == ".toml" and path.is_file()


class _Collector:
    def __init__(self, work: Path, vendor: Sequence[str], offline: bool) -> None:
        self.work = work
        self.vendor = tuple(vendor)
        self.offline = offline
        self.count = 0

    def _slot(self, name: str) -> Path:
        self.count += 1
        return self.work / f"{self.count:03d}-{name}"

    def buildpack(self, source: str) -> tuple[BuildpackDescriptor, Path]:
        """A plugin id or a directory: packaged (plugins) or taken as it is (plain)."""
        resolved = resolve_source(source)
        if resolved.is_plugin:
            packaged = package_buildpack_dir(source, self._slot("plugin"), vendor=self.vendor)
            return packaged.descriptor, packaged.path
        assert resolved.plain_root is not None
        directory = resolved.plain_root
        if self.offline and resolved.descriptor.metadata.dependencies:
            copy = self._slot("dir")
            shutil.copytree(directory, copy, symlinks=True)
            directory = copy
        return resolved.descriptor, directory

    def location(
        self, location: str, base: Path, what: str
    ) -> list[tuple[BuildpackDescriptor, Path]]:
        """A ``uri`` or ``image`` of package.toml: a directory, a .cnb file or an image."""
        text = location.removeprefix("file://")
        if text.startswith(("http://", "https://")):
            raise PackageError(
                "downloading buildpacks over HTTP is not supported: download the .cnb and "
                "name the file",
                field=what,
            )
        if not text.startswith(("docker://", "oci:", "docker-archive:")):
            path = (base / text).resolve() if not Path(text).is_absolute() else Path(text)
            if path.is_dir():
                return [self.buildpack(str(path))]
            if path.is_file():
                return self._package(str(path))
            if text.startswith((".", "/")) or ("/" not in text and ":" not in text):
                raise PackageError(f"no such directory or .cnb file: {path}", field=what)
        return self._package(text)

    def _package(self, ref: str) -> list[tuple[BuildpackDescriptor, Path]]:
        extracted = read_buildpackage(ref, into=self._slot("package"))
        return [(bp.descriptor, bp.directory) for bp in extracted]


def _root(found: Sequence[tuple[BuildpackDescriptor, Path]]) -> BuildpackDescriptor:
    """The buildpack no other one orders: the entry buildpack of an extracted package."""
    ordered = {(str(e.id), str(e.version)) for d, _ in found for g in d.order for e in g.group}
    roots = [d for d, _ in found if (str(d.buildpack.id), str(d.buildpack.version)) not in ordered]
    return roots[0] if len(roots) == 1 else found[0][0]


def collect_buildpacks(
    source: str,
    work: Path,
    *,
    vendor: Sequence[str] = (),
    offline: bool = False,
    on_download: DownloadFn | None = None,
) -> CollectedBuildpacks:
    """Resolve SRC into buildpack directories under ``work`` (which the caller removes)."""
    collector = _Collector(Path(work), vendor, offline)
    if is_package_toml(source):
        path = Path(source).resolve()
        package = PackageToml.read(path)
        check_references(package.image_references(), file=str(path))
        if package.is_extension:
            raise PackageError(
                "packaging image extensions is not supported", file=str(path), field="extension"
            )
        main_found = collector.location(package.buildpack_uri, path.parent, "buildpack.uri")
        main = _root(main_found)
        found = list(main_found)
        for index, dependency in enumerate(package.dependencies):
            key = "uri" if dependency.uri else "image"
            where = f"dependencies[{index}].{key}"
            try:
                found += collector.location(dependency.location, path.parent, where)
            except PackageError as error:
                if error.file or error.field != where:
                    raise
                raise PackageError(error.message, file=str(path), field=where) from None
    else:
        found = [collector.buildpack(source)]
        main = found[0][0]
    if offline:
        for descriptor, directory in found:
            if descriptor.metadata.dependencies:
                bundle_dependencies(
                    descriptor.metadata.dependencies,
                    directory,
                    user_agent="cnbsdk",
                    on_download=on_download,
                    file=str(directory / "buildpack.toml"),
                )
    return CollectedBuildpacks(main=main, buildpacks=tuple(found))


@dataclass(frozen=True)
class PackagedBuildpackage:
    """What ``cnbsdk package buildpack`` wrote."""

    output: str
    format: str
    main: BuildpackDescriptor
    buildpacks: tuple[BuildpackDescriptor, ...]
    digest: str = ""


def package_buildpackage(
    source: str,
    output: str,
    *,
    format: str,
    offline: bool = False,
    force: bool = False,
    vendor: Sequence[str] = (),
    on_download: DownloadFn | None = None,
) -> PackagedBuildpackage:
    """Package SRC as a directory (``dir``), a ``.cnb`` file or an image; with ``offline``
    its dependencies travel inside. Nothing is left at ``output`` when this raises."""
    if format == "dir":
        if is_package_toml(source):
            raise PackageError(
                "a package.toml describes a buildpackage: use --format cnb or --format image",
                file=source,
            )
        with staged_dir(Path(output), force=force) as stage:
            packaged = package_buildpack_dir(source, stage, force=True, vendor=vendor)
            if offline and packaged.descriptor.metadata.dependencies:
                bundle_dependencies(
                    packaged.descriptor.metadata.dependencies,
                    stage,
                    on_download=on_download,
                    file=str(stage / "buildpack.toml"),
                )
        return PackagedBuildpackage(output, format, packaged.descriptor, (packaged.descriptor,))
    with tempfile.TemporaryDirectory(prefix="cnbsdk-package-") as work:
        collected = collect_buildpacks(
            source, Path(work), vendor=vendor, offline=offline, on_download=on_download
        )
        digest = write_buildpackage(
            collected.buildpacks, collected.main, output, format=format, force=force
        )
    return PackagedBuildpackage(
        output, format, collected.main, tuple(d for d, _ in collected.buildpacks), digest
    )
