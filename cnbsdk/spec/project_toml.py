"""The project descriptor ``project.toml`` (extensions/project-descriptor.md, schema 0.2).

pack also reads the legacy schema 0.1 (``[project]``, ``[build]``, ``[metadata]``, as in the
buildpacks/samples apps) and its own 0.3 (``exec-env`` on groups and env). All three are read
into one :class:`ProjectDescriptor`, which is written back in the schema it was read in.
A file without ``[_] schema-version`` is schema 0.1, as pack reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnbsdk.errors import SpecError
from cnbsdk.spec.exclusive import at_most_one_of
from cnbsdk.spec.fields import Fields, drop_empty
from cnbsdk.spec.ids import ApiVersion, BuildpackId, EnvVarName
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_io import TomlFileModel

SCHEMA_VERSIONS = ("0.1", "0.2", "0.3")
# Tables of schema 0.1 that schema 0.2 moved under [_] and [io.buildpacks].
_LEGACY_TABLES = {"project": "[_]", "build": "[io.buildpacks]", "metadata": "[_.metadata]"}


def _known_keys(f: Fields, allowed: tuple[str, ...], schema_version: str) -> None:
    """Refuse keys the schema does not define: pack would ignore them silently."""
    for key in f.table:
        if key not in allowed:
            hint = ""
            if key == "exec-env" and schema_version != "0.3":
                hint = ' (exec-env needs schema-version = "0.3")'
            raise f.error(key, f"is not a key of project.toml schema {schema_version}{hint}")


@dataclass(frozen=True)
class InlineScript:
    """``script``: an inline buildpack written in the project itself."""

    api: ApiVersion
    inline: str
    shell: str = ""  # the spec's default is /bin/sh

    @classmethod
    def from_fields(cls, f: Fields, schema_version: str) -> InlineScript:
        _known_keys(f, ("api", "inline", "shell"), schema_version)
        inline = f.str("inline", required=True)
        if not inline.strip():
            raise f.error("inline", "must not be empty")
        return cls(
            api=f.value("api", ApiVersion.parse, required=True),  # type: ignore[arg-type]
            inline=inline,
            shell=f.str("shell", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"api": str(self.api), "shell": self.shell, "inline": self.inline})


@dataclass(frozen=True)
class ProjectBuildpack:
    """A buildpack of a project's group: by ``id`` (+ ``version``), by ``uri``, or inline
    (``id`` + ``script``). ``version``, ``uri`` and ``script`` exclude each other."""

    id: BuildpackId | None = None
    version: str = ""  # any string: the spec's own example uses "1.0"
    uri: str = ""
    script: InlineScript | None = None
    exec_env: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields, schema_version: str) -> ProjectBuildpack:
        keys = ("id", "version", "uri", "script") + (
            ("exec-env",) if schema_version == "0.3" else ()
        )
        _known_keys(f, keys, schema_version)
        # project-descriptor.md: "Either a version, uri, or script table MUST be included, but
        # MUST NOT include any combination of these elements." An id alone means the latest.
        at_most_one_of(f, ("version", "uri", "script"))
        if "id" not in f.table and "uri" not in f.table:
            raise SpecError("needs id or uri", file=f.file, field=f.path)
        script_f = f.sub("script")
        if script_f is not None and "id" not in f.table:
            raise f.error("id", "is required (an inline buildpack needs an id)")
        uri = f.str("uri", "")
        if "uri" in f.table and not uri:
            raise f.error("uri", "must not be empty")
        return cls(
            id=f.value("id", BuildpackId),
            version=f.str("version", ""),
            uri=uri,
            script=InlineScript.from_fields(script_f, schema_version) if script_f else None,
            exec_env=tuple(f.str_list("exec-env")),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.id is not None:
            data["id"] = str(self.id)
        if self.version:
            data["version"] = self.version
        if self.uri:
            data["uri"] = self.uri
        if self.exec_env:
            data["exec-env"] = list(self.exec_env)
        if self.script is not None:
            data["script"] = self.script.to_dict()
        return data


@dataclass(frozen=True)
class ProjectEnv:
    """A build-time environment variable set by the project."""

    name: str
    value: str = ""
    exec_env: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields, schema_version: str) -> ProjectEnv:
        keys = ("name", "value") + (("exec-env",) if schema_version == "0.3" else ())
        _known_keys(f, keys, schema_version)
        name = str(f.value("name", EnvVarName, required=True))
        value = f.str("value", "")
        if "\0" in value:
            raise f.error("value", "holds a NUL byte, which no environment variable can")
        return cls(name=name, value=value, exec_env=tuple(f.str_list("exec-env")))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "value": self.value}
        if self.exec_env:
            data["exec-env"] = list(self.exec_env)
        return data


@dataclass(frozen=True)
class ProjectLicense:
    type: str = ""
    uri: str = ""

    @classmethod
    def from_fields(cls, f: Fields, schema_version: str) -> ProjectLicense:
        _known_keys(f, ("type", "uri"), schema_version)
        license_ = cls(type=f.str("type", ""), uri=f.str("uri", ""))
        if not license_.type and not license_.uri:
            raise SpecError("needs type or uri", file=f.file, field=f.path)
        return license_

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"type": self.type, "uri": self.uri})


@dataclass(frozen=True)
class ProjectDescriptor(TomlFileModel):
    """``project.toml`` in any schema pack reads, normalised to one shape."""

    DEFAULT_FILE: ClassVar[str] = "project.toml"

    schema_version: str = "0.2"
    # False when the file had no [_] schema-version (then schema_version is "0.1").
    schema_version_declared: bool = True
    id: str = ""
    name: str = ""
    version: str = ""
    authors: tuple[str, ...] = ()
    licenses: tuple[ProjectLicense, ...] = ()
    documentation_url: str = ""
    source_url: str = ""
    builder: str = ""
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    group: tuple[ProjectBuildpack, ...] = ()
    pre: tuple[ProjectBuildpack, ...] = ()
    post: tuple[ProjectBuildpack, ...] = ()
    build_env: tuple[ProjectEnv, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    # Other tables (reverse-DNS named, e.g. [com.example.tool]), kept as they were.
    extra_tables: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> ProjectDescriptor:
        validate(data, "project", file=file)
        f = Fields(data, file=file)
        under = f.sub("_")
        if under is not None:
            version = under.str("schema-version", required=True)
            if version not in SCHEMA_VERSIONS:
                raise under.error(
                    "schema-version",
                    f"unsupported schema version {version!r}: expected one of 0.1, 0.2, 0.3",
                )
            declared = True
        else:
            version, declared = "0.1", False
        if version == "0.1":
            return cls._from_v01(f, declared)
        return cls._from_v02(f, version)

    @classmethod
    def _from_v01(cls, f: Fields, declared: bool) -> ProjectDescriptor:
        io = f.sub("io")
        if io is not None and "buildpacks" in io.table:
            raise io.error(
                "buildpacks",
                'needs [_] schema-version = "0.2"; without it the file is schema 0.1,'
                " where io.buildpacks is ignored",
            )
        under = f.sub("_")
        if under is not None:
            _known_keys(under, ("schema-version",), "0.1")
        project = f.sub("project") or Fields({}, file=f.file, path="project")
        _known_keys(
            project,
            ("id", "name", "version", "authors", "licenses", "documentation-url", "source-url"),
            "0.1",
        )
        build = f.sub("build") or Fields({}, file=f.file, path="build")
        _known_keys(build, ("builder", "include", "exclude", "buildpacks", "env"), "0.1")
        include, exclude = _include_exclude(build)
        extra = {k: v for k, v in f.table.items() if k not in ("_", "project", "build", "metadata")}
        return cls(
            schema_version="0.1",
            schema_version_declared=declared,
            **_project_details(project, "0.1"),
            builder=build.str("builder", ""),
            include=include,
            exclude=exclude,
            group=tuple(ProjectBuildpack.from_fields(b, "0.1") for b in build.each("buildpacks")),
            build_env=tuple(ProjectEnv.from_fields(e, "0.1") for e in build.each("env")),
            metadata=f.table_of("metadata"),
            extra_tables=extra,
        )

    @classmethod
    def _from_v02(cls, f: Fields, version: str) -> ProjectDescriptor:
        for key, replacement in _LEGACY_TABLES.items():
            if key in f.table:
                raise f.error(
                    key, f"is schema 0.1; with schema-version {version} use {replacement}"
                )
        under = f.sub("_", required=True)
        assert under is not None
        _known_keys(
            under,
            (
                "schema-version",
                "id",
                "name",
                "version",
                "authors",
                "licenses",
                "documentation-url",
                "source-url",
                "metadata",
            ),
            version,
        )
        io = f.sub("io") or Fields({}, file=f.file, path="io")
        bp = io.sub("buildpacks") or Fields({}, file=f.file, path="io.buildpacks")
        keys = ("builder", "include", "exclude", "group", "pre", "post", "build")
        _known_keys(bp, (*keys, "env") if version == "0.2" else keys, version)
        include, exclude = _include_exclude(bp)
        extra = {k: v for k, v in f.table.items() if k not in ("_", "io")}
        other_io = {k: v for k, v in io.table.items() if k != "buildpacks"}
        if other_io:
            extra = {"io": other_io, **extra}
        return cls(
            schema_version=version,
            **_project_details(under, version),
            builder=bp.str("builder", ""),
            include=include,
            exclude=exclude,
            group=_group(bp, version),
            pre=_group(bp.sub("pre"), version),
            post=_group(bp.sub("post"), version),
            build_env=_build_env(bp, version),
            metadata=under.table_of("metadata"),
            extra_tables=extra,
        )

    def image_references(self) -> list[tuple[str, str]]:
        """Every image reference in the file, as (field, text). ``field`` names the
        schema 0.2 spelling (``io.buildpacks.*``); 0.1 files hold the same in ``build.*``."""
        pairs: list[tuple[str, str]] = []
        if self.builder:
            pairs.append(("io.buildpacks.builder", self.builder))
        for key, group in (
            ("group", self.group),
            ("pre.group", self.pre),
            ("post.group", self.post),
        ):
            pairs += [
                (f"io.buildpacks.{key}[{i}].uri", entry.uri)
                for i, entry in enumerate(group)
                if entry.uri.startswith("docker://")
            ]
        return pairs

    def to_dict(self) -> dict[str, Any]:
        details = {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "authors": list(self.authors),
            "documentation-url": self.documentation_url,
            "source-url": self.source_url,
            "licenses": [license_.to_dict() for license_ in self.licenses],
        }
        build = {
            "builder": self.builder,
            "include": list(self.include) if self.include is not None else None,
            "exclude": list(self.exclude) if self.exclude is not None else None,
        }
        group = [entry.to_dict() for entry in self.group]
        env = [e.to_dict() for e in self.build_env]
        if self.schema_version == "0.1":
            data: dict[str, Any] = {}
            if self.schema_version_declared:
                data["_"] = {"schema-version": "0.1"}
            data["project"] = drop_empty(details)
            data["build"] = drop_empty({**build, "buildpacks": group, "env": env})
            data["metadata"] = self.metadata
            return drop_empty({**data, **self.extra_tables})
        under = {"schema-version": self.schema_version, **drop_empty(details)}
        if self.metadata:
            under["metadata"] = self.metadata
        buildpacks = drop_empty(
            {
                **build,
                "group": group,
                "pre": {"group": [e.to_dict() for e in self.pre]} if self.pre else {},
                "post": {"group": [e.to_dict() for e in self.post]} if self.post else {},
                "build": {"env": env} if env else {},
            }
        )
        io = dict(self.extra_tables.get("io", {}))
        if buildpacks:
            io["buildpacks"] = buildpacks
        others = {k: v for k, v in self.extra_tables.items() if k != "io"}
        return drop_empty({"_": under, "io": io, **others})


def _project_details(f: Fields, version: str) -> dict[str, Any]:
    """The project's own fields, from [project] (0.1) or [_] (0.2, 0.3)."""
    return {
        "id": f.str("id", ""),
        "name": f.str("name", ""),
        "version": f.str("version", ""),
        "authors": tuple(f.str_list("authors")),
        "licenses": tuple(ProjectLicense.from_fields(x, version) for x in f.each("licenses")),
        "documentation_url": f.str("documentation-url", ""),
        "source_url": f.str("source-url", ""),
    }


def _include_exclude(f: Fields) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    # project-descriptor.md: "If both exclude and include are defined, the build process MUST
    # result in an error."
    if "include" in f.table and "exclude" in f.table:
        raise SpecError("set include or exclude, not both", file=f.file, field=f.path)
    include = tuple(f.str_list("include")) if "include" in f.table else None
    exclude = tuple(f.str_list("exclude")) if "exclude" in f.table else None
    return include, exclude


def _group(f: Fields | None, version: str) -> tuple[ProjectBuildpack, ...]:
    if f is None:
        return ()
    if f.path.endswith(("pre", "post")):
        _known_keys(f, ("group",), version)
    return tuple(ProjectBuildpack.from_fields(entry, version) for entry in f.each("group"))


def _build_env(bp: Fields, version: str) -> tuple[ProjectEnv, ...]:
    build = bp.sub("build")
    if build is not None:
        _known_keys(build, ("env",), version)
    legacy = bp.sub("env")  # pack 0.2 still reads the deprecated [[io.buildpacks.env.build]]
    if legacy is not None:
        _known_keys(legacy, ("build",), version)
        if build is not None and "env" in build.table:
            raise legacy.error("build", "duplicates io.buildpacks.build.env; keep only that one")
        return tuple(ProjectEnv.from_fields(e, version) for e in legacy.each("build"))
    if build is None:
        return ()
    return tuple(ProjectEnv.from_fields(e, version) for e in build.each("env"))
