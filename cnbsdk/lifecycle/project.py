"""What an app's ``project.toml`` asks of a build (extensions/project-descriptor.md,
digest §5.4; schema 0.2, 0.3 and the legacy 0.1 of the buildpacks/samples apps):

* ``include`` / ``exclude``: which files reach ``<app>`` (applied by ``app_source``);
* ``[[io.buildpacks.build.env]]``: build-time env, written as ``<platform>/env/<NAME>`` files
  (``--env`` given on the command line wins, as with pack);
* ``[[io.buildpacks.group]]`` (with ``pre`` and ``post``): the buildpacks to run, replacing the
  order when no ``--buildpack`` is given. An entry is found by ``uri`` (a local directory or
  ``.cnb`` file, relative to the project, or a buildpackage image), by ``id`` (a
  ``--buildpack`` given with that id, else an installed plugin buildpack), or written from an
  inline ``script``;
* the project's version and source URL, for the ``io.buildpacks.project.metadata`` label.

The file is read from APP (a directory, or the root of a ``.jar``/``.zip``) before anything is
copied, so that excluded files never reach the build.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from cnbsdk.distribution.buildpack_source import buildpackage_reference
from cnbsdk.errors import BuildError, CnbError, SpecError
from cnbsdk.lifecycle.app_source import is_archive
from cnbsdk.oci.reference import check_references
from cnbsdk.spec.ids import BuildpackId, EnvVarName
from cnbsdk.spec.project_toml import ProjectBuildpack, ProjectDescriptor

PROJECT_FILE = "project.toml"
# pack's version for an inline buildpack (it has no buildpack.toml of its own).
INLINE_VERSION = "0.0.0"
DEFAULT_SHELL = "/bin/sh"


@dataclass(frozen=True)
class BuildpackRequest:
    """One buildpack a build was asked for: ``source`` is a directory or an installed plugin
    id; ``id``/``version`` are what project.toml expects it to be (checked once read)."""

    source: str
    id: str = ""
    version: str = ""
    origin: str = "--buildpack"


@dataclass(frozen=True)
class ProjectSettings:
    """The parts of project.toml a build uses (all empty when there is no file)."""

    path: str | None = None
    descriptor: ProjectDescriptor | None = None
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    group: tuple[BuildpackRequest, ...] = ()
    pre: tuple[BuildpackRequest, ...] = ()
    post: tuple[BuildpackRequest, ...] = ()

    def source_metadata(self) -> dict[str, Any]:
        """``io.buildpacks.project.metadata`` as pack fills it from project.toml: a source of
        type ``project`` with the declared version and the source URL; ``{}`` without them."""
        descriptor = self.descriptor
        if descriptor is None or not (descriptor.version or descriptor.source_url):
            return {}
        source: dict[str, Any] = {"type": "project"}
        if descriptor.version:
            source["version"] = {"declared": descriptor.version}
        if descriptor.source_url:
            source["metadata"] = {"url": descriptor.source_url}
        return {"source": source}


def read_descriptor(
    app: str | os.PathLike[str], explicit: str | os.PathLike[str] | None = None
) -> tuple[ProjectDescriptor | None, str | None]:
    """The project descriptor (``explicit``, else APP's ``project.toml``) and where it was;
    its image references checked."""
    descriptor, where = _read_descriptor(app, explicit)
    if descriptor is not None and where is not None:
        check_references(descriptor.image_references(), file=where)
    return descriptor, where


def _read_descriptor(
    app: str | os.PathLike[str], explicit: str | os.PathLike[str] | None
) -> tuple[ProjectDescriptor | None, str | None]:
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise BuildError("no such project descriptor", file=str(path))
        return ProjectDescriptor.read(path), str(path)
    app_path = Path(app)
    if app_path.is_dir():
        path = app_path / PROJECT_FILE
        if path.is_file():
            return ProjectDescriptor.read(path), str(path)
        return None, None
    if is_archive(app_path):
        name = f"{app_path}!/{PROJECT_FILE}"
        try:
            with zipfile.ZipFile(app_path) as zipped:
                if PROJECT_FILE not in zipped.namelist():
                    return None, None
                text = zipped.read(PROJECT_FILE).decode("utf-8")
        except (zipfile.BadZipFile, UnicodeDecodeError) as error:
            raise BuildError(f"cannot read {PROJECT_FILE}: {error}", file=str(app_path)) from None
        return ProjectDescriptor.from_toml(text, file=name), name
    return None, None


def load_project(
    app: str | os.PathLike[str],
    *,
    descriptor_path: str | os.PathLike[str] | None = None,
    inline_dir: Path,
    log: Callable[[str], None] = lambda line: None,
) -> ProjectSettings:
    """Read project.toml and turn its groups into buildpack requests; inline buildpacks are
    written under ``inline_dir``."""
    descriptor, path = read_descriptor(app, descriptor_path)
    if descriptor is None or path is None:
        return ProjectSettings()
    if not descriptor.schema_version_declared:
        log(f'Warning: {path} has no [_] schema-version; reading it as schema 0.1 (use "0.2")')
    base = Path(path).parent if Path(path).is_file() else Path(app).parent

    def requests(entries: Iterable[ProjectBuildpack], key: str) -> tuple[BuildpackRequest, ...]:
        return tuple(
            _request(entry, f"{path}: {key}[{index}]", base, inline_dir)
            for index, entry in enumerate(entries)
        )

    group_key = "build.buildpacks" if descriptor.schema_version == "0.1" else "io.buildpacks.group"
    return ProjectSettings(
        path=path,
        descriptor=descriptor,
        include=descriptor.include,
        exclude=descriptor.exclude,
        env=tuple((entry.name, entry.value) for entry in descriptor.build_env),
        group=requests(descriptor.group, group_key),
        pre=requests(descriptor.pre, "io.buildpacks.pre.group"),
        post=requests(descriptor.post, "io.buildpacks.post.group"),
    )


def _request(
    entry: ProjectBuildpack, origin: str, base: Path, inline_dir: Path
) -> BuildpackRequest:
    entry_id = str(entry.id) if entry.id is not None else ""
    if entry.script is not None:
        directory = write_inline_buildpack(entry, inline_dir)
        return BuildpackRequest(str(directory), entry_id, INLINE_VERSION, origin)
    if entry.uri:
        return BuildpackRequest(_uri_source(entry.uri, base, origin), entry_id, "", origin)
    return BuildpackRequest(entry_id, entry_id, entry.version, origin)


def _uri_source(uri: str, base: Path, origin: str) -> str:
    """A ``uri``: a local directory or ``.cnb`` file (relative to the project, or
    ``file://``), or a buildpackage image (``docker://``, ``oci:``, ``docker-archive:``,
    ``HOST/REPO[:TAG]``); see ``distribution.buildpack_source`` for the precedence."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https", "urn"):
        raise BuildError(
            f"buildpack uri {uri!r}: only local directories, .cnb files and buildpackage "
            "images are supported (download it, or push it to a registry, first)",
            field=origin,
        )
    raw = unquote(parsed.path) if parsed.scheme == "file" else uri
    try:
        reference = buildpackage_reference(raw, base=base)
    except BuildError as error:
        raise BuildError(f"buildpack uri {uri!r}: {error}", field=origin) from None
    if reference is not None:
        return reference
    path = Path(raw) if Path(raw).is_absolute() else base / raw
    if path.is_dir():
        return str(path.resolve())
    raise BuildError(
        f"buildpack uri {uri!r} is not a directory, a .cnb file or an image reference ({path})",
        field=origin,
    )


def write_inline_buildpack(entry: ProjectBuildpack, inline_dir: Path) -> Path:
    """An inline ``script`` buildpack as pack makes it: ``bin/detect`` always passes and
    ``bin/build`` runs the script with its shell (default ``/bin/sh``)."""
    assert entry.script is not None and entry.id is not None
    buildpack_id = BuildpackId(str(entry.id))
    directory = inline_dir / buildpack_id.escaped
    (directory / "bin").mkdir(parents=True, exist_ok=True)
    shell = entry.script.shell or DEFAULT_SHELL
    descriptor = (
        f'api = "{entry.script.api}"\n\n[buildpack]\nid = "{buildpack_id}"\n'
        f'version = "{INLINE_VERSION}"\n'
    )
    (directory / "buildpack.toml").write_text(descriptor, encoding="utf-8")
    scripts = {
        "detect": f"#!{shell}\n\nexit 0\n",
        "build": f"#!{shell}\n\nset -e\n\n{entry.script.inline}\n",
    }
    for name, text in scripts.items():
        (directory / "bin" / name).write_text(text, encoding="utf-8")
        (directory / "bin" / name).chmod(0o755)
    return directory


# -- platform env --------------------------------------------------------------------------


def parse_env_assignment(text: str, *, origin: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """``NAME=VALUE``; a bare ``NAME`` takes the value from the current environment (pack)."""
    name, equals, value = text.partition("=")
    if not equals:
        if name not in environ:
            raise BuildError(
                f"{name!r} has no value and is not set in this environment", field=origin
            )
        value = environ[name]
    check_env_name(name, origin)
    return name, value


def read_env_file(
    path: str | os.PathLike[str], environ: Mapping[str, str]
) -> list[tuple[str, str]]:
    """An ``--env-file``: ``NAME=VALUE`` lines (``NAME`` alone: from the environment);
    blank lines and ``#`` comments skipped; values are taken as they are (no quotes removed)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise BuildError(f"cannot read env file: {error.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise BuildError("env file is not UTF-8", file=str(path)) from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            pairs.append(
                parse_env_assignment(line.lstrip(), origin=f"line {number}", environ=environ)
            )
        except CnbError as error:
            raise BuildError(error.message, file=str(path), field=error.field) from None
    return pairs


def check_env_name(name: str, origin: str) -> None:
    """A name that can be a file under ``<platform>/env`` and an environment variable."""
    try:
        EnvVarName(name)
    except SpecError as error:
        raise BuildError(error.message, field=origin) from None
    if name.startswith("CNB_"):
        raise BuildError(
            f"{name}: the CNB_ prefix is reserved for the platform (platform.md)", field=origin
        )


def write_platform_env(platform_dir: Path, env: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Write ``<platform>/env/<NAME>`` files (the value byte for byte, no newline added);
    later pairs win. Returns what was written."""
    merged: dict[str, str] = {}
    for name, value in env:
        if "\0" in value:
            raise BuildError(f"the value of {name} holds a NUL byte", field=name)
        merged[name] = value
    env_dir = platform_dir / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    for name, value in merged.items():
        (env_dir / name).write_bytes(os.fsencode(value))
    return merged
