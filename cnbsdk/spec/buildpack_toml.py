"""``buildpack.toml``, the buildpack descriptor (buildpack.md §buildpack.toml (TOML)).

Covers component and composite buildpacks, ``[[targets]]``, the deprecated ``[[stacks]]``,
the 0.12 ``exec-env`` in both spellings, and the ``[metadata]`` conventions most third-party
buildpacks share (dependencies, default versions, configurations); other ``[metadata]`` keys
are kept as they are in ``extra``.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnbsdk.errors import SpecError
from cnbsdk.spec.fields import Fields, drop_empty
from cnbsdk.spec.ids import (
    ApiVersion,
    BuildpackId,
    BuildpackVersion,
    StackId,
    supported_buildpack_api,
)
from cnbsdk.spec.order import OrderGroup, parse_order
from cnbsdk.spec.sbom import SBOM_FORMATS
from cnbsdk.spec.schema import validate
from cnbsdk.spec.target import Distro, Target
from cnbsdk.spec.toml_io import TomlFileModel

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_METADATA_KEYS = ("dependencies", "default-versions", "configurations")
BIONIC_STACK_ID = "io.buildpacks.stacks.bionic"
ANY_STACK_ID = "*"
_TOP_LEVEL_ONLY = ("targets", "stacks", "order")


def exec_env_name(value: object) -> str:
    """An execution environment name such as ``production``; ``*`` means every one."""
    if not isinstance(value, str) or not value or "/" in value or value != value.strip():
        raise SpecError(
            f"invalid execution environment {value!r}: expected a name like 'production'"
        )
    return value


def normalise_checksum(value: object) -> str:
    """``sha256:<64 lowercase hex>`` from either that form or bare hex (the legacy ``sha256``)."""
    if not isinstance(value, str):
        raise SpecError(f"expected a string, got {type(value).__name__} {value!r}"[:120])
    algorithm, sep, digest = value.partition(":")
    if not sep:
        algorithm, digest = "sha256", value
    digest = digest.lower()
    if algorithm.lower() != "sha256" or not _SHA256.match(digest):
        raise SpecError(f"invalid checksum {value!r}: expected 'sha256:' and 64 hex digits"[:200])
    return f"sha256:{digest}"


def _date_text(f: Fields, key: str) -> str:
    """A date kept as text; Paketo writes ``deprecation_date`` as a bare TOML datetime."""
    value = f.table.get(key, "")
    if isinstance(value, (datetime.datetime, datetime.date)):
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    if not isinstance(value, str):
        raise f.error(key, f"expected a string or a date, got {type(value).__name__} {value!r}")
    return value


@dataclass(frozen=True)
class License:
    """A licence: an SPDX expression in ``type`` and/or a ``uri`` for a non-standard one."""

    type: str = ""
    uri: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> License:
        license = cls(type=f.str("type", ""), uri=f.str("uri", ""))
        if not license.type and not license.uri:
            raise SpecError("needs a type or a uri", file=f.file, field=f.path)
        return license

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"type": self.type, "uri": self.uri})


@dataclass(frozen=True)
class BuildpackInfo:
    """The ``[buildpack]`` table."""

    id: BuildpackId
    version: BuildpackVersion
    name: str = ""
    homepage: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    licenses: tuple[License, ...] = ()
    clear_env: bool = False
    sbom_formats: tuple[str, ...] = ()
    exec_env: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> BuildpackInfo:
        for key in _TOP_LEVEL_ONLY:
            if key in f.table:
                # Ignored here, it would build for targets/stacks the author did not mean.
                raise f.error(key, f"belongs at the top level ([[{key}]]), not in [buildpack]")
        sbom_formats = tuple(f.str_list("sbom-formats"))
        for index, media_type in enumerate(sbom_formats):
            if media_type not in SBOM_FORMATS:
                known = ", ".join(SBOM_FORMATS)
                raise f.error(
                    f"sbom-formats[{index}]",
                    f"unknown SBOM media type {media_type!r}: expected one of {known}",
                )
        return cls(
            id=f.value("id", BuildpackId, required=True),  # type: ignore[arg-type]
            version=f.value("version", BuildpackVersion, required=True),  # type: ignore[arg-type]
            name=f.str("name", ""),
            homepage=f.str("homepage", ""),
            description=f.str("description", ""),
            keywords=tuple(f.str_list("keywords")),
            licenses=tuple(License.from_fields(item) for item in f.each("licenses")),
            clear_env=f.bool("clear-env"),
            sbom_formats=sbom_formats,
            exec_env=_read_exec_env(f),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(self.id), "version": str(self.version)}
        data.update(
            drop_empty(
                {
                    "name": self.name,
                    "homepage": self.homepage,
                    "description": self.description,
                    "keywords": list(self.keywords),
                    "sbom-formats": list(self.sbom_formats),
                    "licenses": [item.to_dict() for item in self.licenses],
                    # buildpack.md shows [[buildpack.exec-env]] name=...; pack and the
                    # lifecycle decode a string array and fail on tables, so write that.
                    "exec-env": list(self.exec_env),
                }
            )
        )
        if self.clear_env:
            data["clear-env"] = True
        return data


def _read_exec_env(f: Fields) -> tuple[str, ...]:
    """``exec-env = ["test"]`` (pack, lifecycle) or ``[[buildpack.exec-env]] name = "test"``."""
    if "exec-env" not in f.table:
        return ()
    values = f.table["exec-env"]
    if not isinstance(values, list):
        raise f.error("exec-env", f"expected an array, got {type(values).__name__} {values!r}")
    names: list[str] = []
    for index, value in enumerate(values):
        key = f"exec-env[{index}]"
        if isinstance(value, dict):
            entry = Fields(value, file=f.file, path=f.where(key))
            names.append(entry.value("name", exec_env_name, required=True))  # type: ignore[arg-type]
            continue
        try:
            names.append(exec_env_name(value))
        except SpecError as error:
            raise f.error(key, error.message) from None
    return tuple(names)


@dataclass(frozen=True)
class Stack:
    """A deprecated ``[[stacks]]`` entry (buildpack.md §Deprecations)."""

    id: str
    mixins: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> Stack:
        if f.str("id", required=True) == "":
            raise f.error("id", "must not be empty")
        stack_id = f.value("id", StackId, required=True)
        stack = cls(id=str(stack_id), mixins=tuple(f.str_list("mixins")))
        if stack.id == ANY_STACK_ID and stack.mixins:
            raise f.error("mixins", "must be empty when the stack id is '*'")
        return stack

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        if self.mixins:
            data["mixins"] = list(self.mixins)
        return data


@dataclass(frozen=True)
class Dependency:
    """One ``[[metadata.dependencies]]`` entry, as Paketo-style buildpacks write them."""

    id: str
    version: str
    uri: str
    checksum: str
    name: str = ""
    stacks: tuple[str, ...] = ()
    os: str = ""
    arch: str = ""
    purl: str = ""
    cpes: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    deprecation_date: str = ""
    source: str = ""
    source_checksum: str = ""
    strip_components: int = 0
    cpe: str = ""
    # libpak-style [[metadata.dependencies.licenses]] tables, kept so they dump as written;
    # `licenses` holds their types either way.
    license_details: tuple[License, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> Dependency:
        for key in ("id", "version", "uri"):
            if not f.str(key, required=True):
                raise f.error(key, "must not be empty")
        if "checksum" in f.table:
            checksum = f.value("checksum", normalise_checksum)
        elif "sha256" in f.table:
            checksum = f.value("sha256", normalise_checksum)
        else:
            raise f.error("checksum", "is required")
        source_checksum = ""
        for key in ("source-checksum", "source_sha256"):
            if key in f.table:
                source_checksum = f.value(key, normalise_checksum) or ""
                break
        strip_components = f.int("strip-components", 0)
        if strip_components < 0:
            raise f.error("strip-components", "must not be negative")
        return cls(
            id=f.str("id"),
            version=f.str("version"),
            uri=f.str("uri"),
            checksum=checksum or "",
            name=f.str("name", ""),
            stacks=tuple(f.str_list("stacks")),
            os=f.str("os", ""),
            arch=f.str("arch", ""),
            purl=f.str("purl", ""),
            cpes=tuple(f.str_list("cpes")),
            licenses=_licence_ids(f),
            license_details=_licence_tables(f),
            deprecation_date=_date_text(f, "deprecation_date"),
            source=f.str("source", ""),
            source_checksum=source_checksum,
            strip_components=strip_components,
            cpe=f.str("cpe", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        data = drop_empty(
            {
                "id": self.id,
                "name": self.name,
                "version": self.version,
                "uri": self.uri,
                "checksum": self.checksum,
                "stacks": list(self.stacks),
                "os": self.os,
                "arch": self.arch,
                "purl": self.purl,
                "cpe": self.cpe,
                "cpes": list(self.cpes),
                "licenses": (
                    [item.to_dict() for item in self.license_details]
                    if self.license_details
                    else list(self.licenses)
                ),
                "deprecation_date": self.deprecation_date,
                "source": self.source,
                "source-checksum": self.source_checksum,
            }
        )
        if self.strip_components:
            data["strip-components"] = self.strip_components
        return data


def _licence_ids(f: Fields) -> tuple[str, ...]:
    """Dependency licences: SPDX ids, or ``{type = ...}`` tables as some buildpacks write."""
    values = f.table.get("licenses", [])
    if not isinstance(values, list):
        raise f.error("licenses", f"expected an array, got {type(values).__name__} {values!r}")
    ids: list[str] = []
    for index, value in enumerate(values):
        if isinstance(value, dict):
            item = License.from_fields(
                Fields(value, file=f.file, path=f.where(f"licenses[{index}]"))
            )
            ids.append(item.type or item.uri)
        elif isinstance(value, str):
            ids.append(value)
        else:
            raise f.error(f"licenses[{index}]", f"expected a string, got {value!r}"[:120])
    return tuple(ids)


def _licence_tables(f: Fields) -> tuple[License, ...]:
    values = f.table.get("licenses", [])
    if not any(isinstance(value, dict) for value in values):
        return ()
    if not all(isinstance(value, dict) for value in values):
        raise f.error("licenses", "mixes strings and tables: use one form")
    return tuple(License.from_fields(item) for item in f.each("licenses"))


@dataclass(frozen=True)
class Configuration:
    """One ``[[metadata.configurations]]`` entry: an env var the buildpack reads."""

    name: str
    default: str = ""
    description: str = ""
    build: bool = False
    launch: bool = False

    @classmethod
    def from_fields(cls, f: Fields) -> Configuration:
        name = f.str("name", required=True)
        if not name:
            raise f.error("name", "must not be empty")
        return cls(
            name=name,
            default=f.str("default", ""),
            description=f.str("description", ""),
            build=f.bool("build"),
            launch=f.bool("launch"),
        )

    def to_dict(self) -> dict[str, Any]:
        data = drop_empty(
            {"name": self.name, "default": self.default, "description": self.description}
        )
        if self.build:
            data["build"] = True
        if self.launch:
            data["launch"] = True
        return data


@dataclass(frozen=True)
class BuildpackMetadata:
    """The free-form ``[metadata]`` table, with the keys most buildpacks share typed."""

    dependencies: tuple[Dependency, ...] = ()
    default_versions: dict[str, str] = field(default_factory=dict)
    configurations: tuple[Configuration, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, f: Fields) -> BuildpackMetadata:
        defaults = f.table_of("default-versions")
        for key, value in defaults.items():
            if not isinstance(value, str):
                raise f.error(
                    f"default-versions.{key}",
                    f"expected a string, got {type(value).__name__} {value!r}"[:120],
                )
        configurations = tuple(Configuration.from_fields(c) for c in f.each("configurations"))
        seen: set[str] = set()
        for index, configuration in enumerate(configurations):
            if configuration.name in seen:
                raise f.error(
                    f"configurations[{index}].name",
                    f"duplicate configuration {configuration.name!r}",
                )
            seen.add(configuration.name)
        return cls(
            dependencies=tuple(Dependency.from_fields(d) for d in f.each("dependencies")),
            default_versions=defaults,
            configurations=configurations,
            extra={k: v for k, v in f.table.items() if k not in _METADATA_KEYS},
        )

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.extra)
        data.update(
            drop_empty(
                {
                    "default-versions": dict(self.default_versions),
                    "dependencies": [d.to_dict() for d in self.dependencies],
                    "configurations": [c.to_dict() for c in self.configurations],
                }
            )
        )
        return data


@dataclass(frozen=True)
class BuildpackDescriptor(TomlFileModel):
    """A whole ``buildpack.toml``; composite when it has an ``[[order]]``.

    buildpack.md forbids ``[[stacks]]`` next to ``[[order]]`` but says nothing against
    ``[[targets]]`` there, so a composite with targets is accepted (pack refuses it when
    packaging).
    """

    DEFAULT_FILE: ClassVar[str] = "buildpack.toml"

    api: ApiVersion
    buildpack: BuildpackInfo
    order: tuple[OrderGroup, ...] = ()
    targets: tuple[Target, ...] = ()
    stacks: tuple[Stack, ...] = ()
    metadata: BuildpackMetadata = field(default_factory=BuildpackMetadata)

    @property
    def is_composite(self) -> bool:
        return bool(self.order)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> BuildpackDescriptor:
        validate(data, "buildpack", file=file)
        f = Fields(data, file=file)
        api = f.value("api", supported_buildpack_api, required=True)
        info = BuildpackInfo.from_fields(f.sub("buildpack", required=True))  # type: ignore[arg-type]
        order = parse_order(f)
        stacks = tuple(Stack.from_fields(s) for s in f.each("stacks"))
        if order and stacks:
            raise f.error("stacks", "must not be set in a composite buildpack (one with [[order]])")
        for index, group in enumerate(order):
            if not group.group:
                raise f.error(f"order[{index}].group", "must list at least one buildpack")
            for member, entry in enumerate(group.group):
                for position, name in enumerate(entry.exec_env):
                    try:
                        exec_env_name(name)
                    except SpecError as error:
                        where = f"order[{index}].group[{member}].exec-env[{position}]"
                        raise f.error(where, error.message) from None
        metadata = f.sub("metadata")
        return cls(
            api=api,  # type: ignore[arg-type]
            buildpack=info,
            order=order,
            targets=tuple(Target.from_fields(t) for t in f.each("targets")),
            stacks=stacks,
            metadata=BuildpackMetadata.from_fields(metadata) if metadata else BuildpackMetadata(),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"api": str(self.api), "buildpack": self.buildpack.to_dict()}
        if self.order:
            data["order"] = [group.to_dict() for group in self.order]
        if self.targets:
            data["targets"] = [target.to_dict() for target in self.targets]
        if self.stacks:
            data["stacks"] = [stack.to_dict() for stack in self.stacks]
        metadata = self.metadata.to_dict()
        if metadata:
            data["metadata"] = metadata
        return data

    def effective_targets(self, has_bin_build: bool = True) -> tuple[Target, ...]:
        """The targets tools should assume (buildpack.md §Targets, §Deprecations).

        Declared targets win. Otherwise the bionic stack means linux/amd64 Ubuntu 18.04 and
        ``*`` matches anything; other stack ids say nothing about a target. With nothing
        declared, a buildpack with ``bin/build`` is for linux on any architecture.
        """
        if self.targets:
            return self.targets
        mapped: list[Target] = []
        for stack in self.stacks:
            if stack.id == BIONIC_STACK_ID:
                mapped.append(
                    Target(os="linux", arch="amd64", distros=(Distro("ubuntu", "18.04"),))
                )
            elif stack.id == ANY_STACK_ID:
                mapped.append(Target())
        if mapped:
            return tuple(mapped)
        if has_bin_build and not self.is_composite:
            return (Target(os="linux"),)
        return ()
