"""What a buildpack source is, decided in one place for ``cnbsdk package buildpack SRC``,
``cnbsdk build --buildpack``, project.toml and builder.toml ``[[buildpacks]]``.

A source is one of:
  * a plain buildpack directory (``buildpack.toml`` and ``bin/``, or a composite's
    ``[[order]]``), used as it is (``is_plain_buildpack_dir``);
  * a directory holding a plugin package (``buildpack.toml`` beside ``__init__.py``);
  * a plugin distribution's project directory (``pyproject.toml`` declaring a
    ``[project.entry-points.cnbsdk]`` entry, its package in the directory or under ``src/``);
  * the id (or entry-point name) of an installed plugin buildpack;
  * a buildpackage: a ``.cnb`` file or an image (``buildpackage_reference``).

``resolve_source`` resolves the first four to their files; plugins are then packaged.

Which ``--buildpack`` (or project.toml ``uri``) names a buildpackage, first match wins
(docs/commands.md, ``--buildpack``):

1. an existing directory: a buildpack directory or a plugin package/project (not ours);
2. an existing file (``file://`` allowed): a ``.cnb`` buildpackage;
3. ``oci:PATH[:TAG]``, ``docker-archive:PATH``, ``docker://HOST/REPO[:TAG|@DIGEST]``;
4. a name whose first part is a registry host (holds ``.`` or ``:``, or is ``localhost``),
   e.g. ``127.0.0.1:5000/bps/x:1``: that registry;
5. a name with a ``:TAG`` or ``@sha256:`` (which no buildpack id has): the local store;
6. anything else is an installed plugin id (or ``ID@VERSION`` of a builder's buildpack).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.buildpack.plugin import BuildpackPlugin, find_installed
from cnbsdk.errors import BuildError, CnbError, PackageError
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.ids import author_buildpack_api
from cnbsdk.spec.toml_file import read_toml

DESCRIPTOR = "buildpack.toml"
IMAGE_TRANSPORTS = ("oci:", "docker-archive:", "docker://")


def is_image_reference(text: str) -> bool:
    """Whether ``text`` names an image by its transport (``oci:``, ``docker://``...)."""
    return text.startswith(IMAGE_TRANSPORTS)


def is_plain_buildpack_dir(path: Path) -> bool:
    """A directory laid out as the spec says (``buildpack.toml`` and ``bin/``, or a
    composite), rather than a plugin package or project that has to be packaged first."""
    descriptor_path = path / DESCRIPTOR
    if not descriptor_path.is_file() or (path / "__init__.py").exists():
        return False
    if (path / "bin").is_dir():
        return True
    try:
        return BuildpackDescriptor.read(descriptor_path).is_composite
    except CnbError:
        return False


def buildpackage_reference(source: str, *, base: Path | None = None) -> str | None:
    """The buildpackage ``source`` names (an absolute ``.cnb`` path or an image reference),
    or None when it is a directory or a plugin id. Relative paths are taken from ``base``
    (default: the working directory)."""
    text = source.removeprefix("file://")
    path = Path(text) if base is None or Path(text).is_absolute() else base / text
    if path.is_dir():
        return None
    if path.is_file():
        return str(path.resolve())
    if source.startswith(("file://", ".", "/", "~")):
        if path.suffix == ".cnb":
            raise BuildError("no such .cnb file", file=str(path))
        return None  # a missing directory: reported where directories are read
    if is_image_reference(text):
        return text
    first, slash, _rest = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return text
    if path.suffix == ".cnb":
        raise BuildError("no such .cnb file", file=str(path))
    if ":" in text:
        return text
    return None


@dataclass(frozen=True)
class BuildpackSource:
    """A buildpack to package, resolved.

    ``plugin_ref`` and ``package_root`` are set for plugin buildpacks (Python code run by the
    cnbsdk runtime); both are None for a plain buildpack directory, copied as it is.
    """

    descriptor_path: Path
    descriptor: BuildpackDescriptor
    plugin_ref: str | None = None
    package_root: Path | None = None
    plain_root: Path | None = None

    @property
    def is_plugin(self) -> bool:
        return self.plugin_ref is not None


def resolve_source(source: str | os.PathLike[str] | BuildpackPlugin) -> BuildpackSource:
    """Resolve SRC (a directory, an installed plugin id or a loaded plugin) and validate its
    buildpack.toml."""
    if isinstance(source, BuildpackPlugin):
        return _from_plugin(source)
    path = Path(source)
    if path.is_dir():
        return _from_directory(path.resolve())
    if path.exists():
        raise PackageError("is not a directory or an installed buildpack id", file=str(path))
    if _looks_like_path(str(source)):
        raise PackageError("no such directory", file=str(source))
    return _from_installed(str(source))


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.endswith("/") or os.sep + os.sep in text


def _from_directory(directory: Path) -> BuildpackSource:
    descriptor_path = directory / DESCRIPTOR
    if descriptor_path.is_file() and (directory / "__init__.py").is_file():
        return _plugin(_package_ref(directory), _top_package(directory), descriptor_path)
    if descriptor_path.is_file():
        descriptor = read_descriptor(descriptor_path)
        if not descriptor.is_composite:
            for phase in ("detect", "build"):
                if not (directory / "bin" / phase).is_file():
                    raise PackageError(
                        f"a component buildpack needs bin/{phase}",
                        file=str(directory / "bin" / phase),
                    )
        return BuildpackSource(descriptor_path, descriptor, plain_root=directory)
    if (directory / "pyproject.toml").is_file():
        return _from_project(directory)
    raise PackageError(
        "holds no buildpack.toml (nor a pyproject.toml declaring a cnbsdk plugin)",
        file=str(directory),
    )


def _from_project(project: Path) -> BuildpackSource:
    pyproject = project / "pyproject.toml"
    entry_points = read_toml(pyproject).get("project", {}).get("entry-points", {}).get("cnbsdk")
    if not isinstance(entry_points, dict) or len(entry_points) != 1:
        raise PackageError(
            "expected exactly one entry point in this group",
            file=str(pyproject),
            field="project.entry-points.cnbsdk",
        )
    (ref,) = entry_points.values()
    module = str(ref).partition(":")[0]
    parts = module.split(".")
    for base in (project, project / "src"):
        package = base.joinpath(*parts)
        if (package / "__init__.py").is_file():
            descriptor_path = package / DESCRIPTOR
            return _plugin(str(ref), base / parts[0], descriptor_path)
        module_file = package.with_suffix(".py")
        if module_file.is_file():
            root = base / parts[0] if len(parts) > 1 else module_file
            return _plugin(str(ref), root, module_file.parent / DESCRIPTOR)
    raise PackageError(
        f"cannot find the package {module!r} of the entry point in {project} or {project / 'src'}",
        file=str(pyproject),
        field="project.entry-points.cnbsdk",
    )


def _package_ref(directory: Path) -> str:
    parts = [directory.name]
    parent = directory.parent
    while (parent / "__init__.py").is_file():
        parts.insert(0, parent.name)
        parent = parent.parent
    for part in parts:
        if not part.isidentifier():
            raise PackageError(f"{part!r} is not a valid Python package name", file=str(directory))
    return ".".join(parts)


def _top_package(directory: Path) -> Path:
    while (directory.parent / "__init__.py").is_file():
        directory = directory.parent
    return directory


def _plugin(ref: str, package_root: Path, descriptor_path: Path) -> BuildpackSource:
    descriptor = read_descriptor(descriptor_path, run_by_cnbsdk=True)
    if descriptor.is_composite:
        raise PackageError(
            "a plugin buildpack cannot have [[order]] (composite buildpacks have no code)",
            file=str(descriptor_path),
            field="order",
        )
    return BuildpackSource(descriptor_path, descriptor, plugin_ref=ref, package_root=package_root)


def _from_installed(name: str) -> BuildpackSource:
    return _from_plugin(find_installed(name))


def _from_plugin(plugin: BuildpackPlugin) -> BuildpackSource:
    return _plugin(plugin.ref, plugin.package_root, Path(plugin.descriptor_path))


def read_descriptor(path: Path, *, run_by_cnbsdk: bool = False) -> BuildpackDescriptor:
    """Read buildpack.toml and refuse a Buildpack API nobody can run.

    Plugin buildpacks run on the cnbsdk runtime, so their api must be one the author API
    implements (0.10 to 0.12); a plain buildpack directory needs one the lifecycle runs (0.7
    to 0.12), which reading the descriptor already checks.
    """
    descriptor = BuildpackDescriptor.read(path)
    if run_by_cnbsdk:
        try:
            author_buildpack_api(str(descriptor.api))
        except CnbError as error:
            raise PackageError(error.message, file=str(path), field="api") from None
    return descriptor
