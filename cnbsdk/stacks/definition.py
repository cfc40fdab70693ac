"""The stack definition file (``stack-definition.toml``): what goes into a build and a run image.

A small declarative file; docs/stacks.md describes every field. Parsing only validates —
resolving the packages is ``apt``'s job.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnbsdk.errors import SpecError, StackError
from cnbsdk.spec.fields import Fields
from cnbsdk.spec.ids import EnvVarName
from cnbsdk.spec.toml_io import TomlFileModel

# Debian policy §5.6.1: lower case letters, digits, '+', '-', '.'; at least two characters.
_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
# platform.md §Target Data: a stack / base id is letters, digits, '.', '/', '-'.
_STACK_ID = re.compile(r"^[A-Za-z0-9./-]+$")
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

# The distributions cnbsdk can assemble images from: name -> version -> codename.
SUPPORTED_DISTRIBUTIONS: dict[str, dict[str, str]] = {
    "debian": {"11": "bullseye", "12": "bookworm", "13": "trixie"},
}
SUPPORTED_ARCHITECTURES = ("amd64", "arm64")


@dataclass(frozen=True)
class Distribution:
    """The distribution both images come from."""

    name: str
    version: str
    codename: str
    architecture: str = "amd64"


@dataclass(frozen=True)
class ImageSpec:
    """One of the two images: its packages and the cnb user it runs as."""

    kind: str  # "build" or "run"
    packages: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    uid: int = 1000
    gid: int = 1000
    user_name: str = "cnb"
    group_name: str = "cnb"
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PathFilter:
    """dpkg-style path filters applied to every unpacked package (man pages, docs...)."""

    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackDefinition(TomlFileModel):
    """A parsed ``stack-definition.toml``."""

    DEFAULT_FILE: ClassVar[str] = "stack-definition.toml"

    id: str
    distribution: Distribution
    build: ImageSpec
    run: ImageSpec
    maintainer: str = ""
    homepage: str = ""
    description: str = ""
    sources: tuple[str, ...] = ()
    filter: PathFilter = field(default_factory=PathFilter)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, file: str) -> StackDefinition:
        try:
            return _parse(Fields(dict(data), file=file))
        except SpecError as error:
            raise StackError(error.message, file=error.file, field=error.field) from None

    def to_dict(self) -> dict[str, Any]:
        def image(spec: ImageSpec) -> dict[str, Any]:
            table: dict[str, Any] = {
                "uid": spec.uid,
                "gid": spec.gid,
                "user-name": spec.user_name,
                "group-name": spec.group_name,
                "packages": list(spec.packages),
            }
            if spec.exclude:
                table["exclude"] = list(spec.exclude)
            if spec.env:
                table["env"] = dict(spec.env)
            return table

        stack: dict[str, Any] = {"id": self.id}
        for key in ("maintainer", "homepage", "description"):
            if getattr(self, key):
                stack[key] = getattr(self, key)
        data: dict[str, Any] = {
            "stack": stack,
            "distribution": {
                "name": self.distribution.name,
                "version": self.distribution.version,
                "codename": self.distribution.codename,
                "architecture": self.distribution.architecture,
            },
        }
        if self.sources:
            data["apt"] = {"sources": list(self.sources)}
        if self.filter.exclude or self.filter.include:
            data["filter"] = {
                "path-exclude": list(self.filter.exclude),
                "path-include": list(self.filter.include),
            }
        data["build"] = image(self.build)
        data["run"] = image(self.run)
        return data

    def image(self, kind: str) -> ImageSpec:
        return self.build if kind == "build" else self.run

    def requirements_digest(self) -> str:
        """A digest of everything that decides which packages are resolved: a lock made
        for other requirements must be refreshed (``--update``)."""
        key = {
            "distribution": [self.distribution.name, self.distribution.version],
            "architecture": self.distribution.architecture,
            "sources": list(self.sources),
            "build": [sorted(self.build.packages), sorted(self.build.exclude)],
            "run": [sorted(self.run.packages), sorted(self.run.exclude)],
        }
        raw = json.dumps(key, sort_keys=True).encode()
        return "sha256:" + hashlib.sha256(raw).hexdigest()


def _package_list(fields: Fields, key: str) -> tuple[str, ...]:
    names = fields.str_list(key)
    for index, name in enumerate(names):
        if not _PACKAGE_NAME.match(name):
            raise fields.error(f"{key}[{index}]", f"invalid Debian package name {name!r}")
    if len(set(names)) != len(names):
        raise fields.error(key, "lists a package twice")
    return tuple(names)


def _check_keys(fields: Fields, known: set[str]) -> None:
    """A key the format does not define is a mistake (a typo would otherwise be ignored,
    as ``exlude`` was): one line naming it and the likely key."""
    for key in fields.table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = (
                f"did you mean {close[0]!r}?" if close else f"expected {', '.join(sorted(known))}"
            )
            raise fields.error(key, f"unknown key ({hint})")


IMAGE_KEYS = {"packages", "exclude", "uid", "gid", "user-name", "group-name", "env"}


def _image(fields: Fields, kind: str, default_uid: int) -> ImageSpec:
    _check_keys(fields, IMAGE_KEYS)
    packages = _package_list(fields, "packages")
    if not packages:
        raise fields.error("packages", "must name at least one package")
    uid = fields.int("uid", default_uid)
    gid = fields.int("gid", 1000)
    for key, value in (("uid", uid), ("gid", gid)):
        if not 0 < value < 2**31:
            raise fields.error(key, f"must be a positive id other than root's 0, got {value}")
    names = {}
    for key in ("user-name", "group-name"):
        name = fields.str(key, "cnb")
        if not _USER_NAME.match(name):
            raise fields.error(key, f"invalid user or group name {name!r}")
        names[key] = name
    env_fields = fields.sub("env")
    env: list[tuple[str, str]] = []
    if env_fields is not None:
        for name in sorted(env_fields.table):
            try:
                EnvVarName(name)
            except SpecError as error:
                raise env_fields.error(name, error.message) from None
            value = env_fields.str(name, required=True)
            if "\0" in value:
                raise env_fields.error(name, "the value holds a NUL character")
            env.append((name, value))
    return ImageSpec(
        kind=kind,
        packages=packages,
        exclude=_package_list(fields, "exclude"),
        uid=uid,
        gid=gid,
        user_name=names["user-name"],
        group_name=names["group-name"],
        env=tuple(env),
    )


def _parse(root: Fields) -> StackDefinition:
    stack = root.sub("stack", required=True)
    assert stack is not None
    _check_keys(stack, {"id", "maintainer", "homepage", "description"})
    stack_id = stack.str("id", required=True)
    if not _STACK_ID.match(stack_id):
        raise stack.error(
            "id", f"invalid stack id {stack_id!r}: use letters, digits, '.', '/', '-'"
        )

    dist = root.sub("distribution", required=True)
    assert dist is not None
    _check_keys(dist, {"name", "version", "codename", "architecture"})
    name = dist.str("name", required=True)
    if name not in SUPPORTED_DISTRIBUTIONS:
        supported = ", ".join(sorted(SUPPORTED_DISTRIBUTIONS))
        raise dist.error("name", f"unsupported distribution {name!r} (supported: {supported})")
    versions = SUPPORTED_DISTRIBUTIONS[name]
    version = dist.str("version", required=True)
    if version not in versions:
        raise dist.error("version", f"unsupported {name} version {version!r}")
    codename = dist.str("codename", versions[version])
    if codename != versions[version]:
        raise dist.error("codename", f"{name} {version} is {versions[version]!r}, not {codename!r}")
    architecture = dist.str("architecture", "amd64")
    if architecture not in SUPPORTED_ARCHITECTURES:
        hint = (
            " (Debian calls x86_64 amd64, aarch64 arm64)"
            if architecture in ("x86_64", "aarch64")
            else ""
        )
        raise dist.error("architecture", f"unsupported architecture {architecture!r}{hint}")

    apt = root.sub("apt")
    if apt is not None:
        _check_keys(apt, {"sources"})
    sources = tuple(apt.str_list("sources")) if apt else ()
    for index, line in enumerate(sources):
        if not line.startswith("deb ") or "\n" in line:
            raise apt.error(  # type: ignore[union-attr]
                f"sources[{index}]", "expected a one-line 'deb [options] URI SUITE COMPONENT...'"
            )

    path_filter = PathFilter()
    filter_fields = root.sub("filter")
    if filter_fields is not None:
        _check_keys(filter_fields, {"path-exclude", "path-include"})
        for key in ("path-exclude", "path-include"):
            for index, pattern in enumerate(filter_fields.str_list(key)):
                if not pattern.startswith("/"):
                    raise filter_fields.error(f"{key}[{index}]", "must be an absolute path glob")
        path_filter = PathFilter(
            exclude=tuple(filter_fields.str_list("path-exclude")),
            include=tuple(filter_fields.str_list("path-include")),
        )

    build_fields = root.sub("build", required=True)
    run_fields = root.sub("run", required=True)
    assert build_fields is not None and run_fields is not None
    build = _image(build_fields, "build", 1000)
    run = _image(run_fields, "run", 1001)
    if run.uid == build.uid:
        # platform.md §Run Image: the run image user should differ from the build user.
        raise run_fields.error("uid", f"must differ from build.uid ({build.uid})")

    known = {"stack", "distribution", "apt", "filter", "build", "run"}
    for key in root.table:
        if key not in known:
            raise root.error(key, f"unknown table (expected one of: {', '.join(sorted(known))})")

    return StackDefinition(
        id=stack_id,
        distribution=Distribution(name, version, codename, architecture),
        build=build,
        run=run,
        maintainer=stack.str("maintainer", ""),
        homepage=stack.str("homepage", ""),
        description=stack.str("description", ""),
        sources=sources,
        filter=path_filter,
    )
