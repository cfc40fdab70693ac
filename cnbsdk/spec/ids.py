"""Validated identifiers of the CNB spec: an invalid one cannot be constructed.

Each is a ``str`` subclass, so it prints, compares and serialises as the plain string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from cnbsdk.errors import SpecError

_BUILDPACK_ID = re.compile(r"^[A-Za-z0-9./-]+$")
_RESERVED_IDS = frozenset({"app", "config", "generated", "sbom"})
# At most 18 digits a part: the version is a directory name, and compared as numbers.
_VERSION = re.compile(r"^(0|[1-9][0-9]{0,17})\.(0|[1-9][0-9]{0,17})\.(0|[1-9][0-9]{0,17})$")
# buildpack.md §launch.toml: letters, digits, '.', '_' and '-'.
_PROCESS_TYPE = re.compile(r"^[A-Za-z0-9._-]+$")
# Layer names become directory and file names under <layers>/<bp>/.
_LAYER_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_RESERVED_LAYER_NAMES = frozenset({"build", "launch", "store"})
# Ids become path components (/cnb/buildpacks/<id>/..., <layers>/<id>/<layer>): bounded so a
# path stays under PATH_MAX with room to spare.
MAX_ID_LENGTH = 255
# Stack ids: reverse-domain names (io.buildpacks.stacks.bookworm); '*' only as "any stack".
_STACK_ID = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9._/-]*)$")
_API = re.compile(r"^(0|[1-9][0-9]{0,8})(?:\.(0|[1-9][0-9]{0,8}))?$")


def _shown(value: object) -> str:
    """A value for an error message: repr'd and cut short (an id may be a megabyte)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _path_problem(value: str) -> str | None:
    """Why ``value`` cannot be used as (slash-separated) path components, or None."""
    if len(value) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters"
    if value.startswith("/") or value.endswith("/"):
        return "starts or ends with '/'"
    if any(part in ("", ".", "..") for part in value.split("/")):
        return "has an empty, '.' or '..' path segment"
    if set(value) <= {".", "/"}:
        return "is only dots"
    return None


class BuildpackId(str):
    """A buildpack id: letters, digits, '.', '/', '-'; not app, config, generated or sbom;
    each '/'-separated segment a real name (not empty, '.' or '..'), at most 255 long."""

    def __new__(cls, value: str) -> BuildpackId:
        if not isinstance(value, str) or not _BUILDPACK_ID.match(value):
            raise SpecError(
                f"invalid buildpack id {_shown(value)}: use only letters, digits, '.', '/' and '-'"
            )
        problem = _path_problem(value)
        if problem:
            raise SpecError(f"invalid buildpack id {_shown(value)}: {problem}")
        if value in _RESERVED_IDS:
            raise SpecError(f"buildpack id {_shown(value)} is reserved")
        return super().__new__(cls, value)

    @property
    def escaped(self) -> str:
        """The id as a directory name: '/' becomes '_' (platform.md §Buildpacks Directory)."""
        return self.replace("/", "_")


class StackId(str):
    """A stack id (platform.md: legacy ``[[stacks]]``): letters, digits, '.', '/', '_', '-'
    as path-safe segments, or ``*`` for any stack."""

    def __new__(cls, value: str) -> StackId:
        if not isinstance(value, str) or not _STACK_ID.match(value):
            raise SpecError(
                f"invalid stack id {_shown(value)}: use letters, digits, '.', '/', '_' and '-' "
                "(or '*' for any)"
            )
        problem = None if value == "*" else _path_problem(value)
        if problem:
            raise SpecError(f"invalid stack id {_shown(value)}: {problem}")
        return super().__new__(cls, value)


_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})  # controls, bidi/format, unassigned


class EnvVarName(str):
    """An environment variable name that is also a file name (``<platform>/env/<NAME>``,
    ``/cnb/build-config/env/<NAME>``): no '=', '/', NUL, whitespace, control or format
    characters (bidi overrides among them), not '.' or '..', at most 255 characters."""

    def __new__(cls, value: str) -> EnvVarName:
        if not isinstance(value, str) or not value:
            raise SpecError(f"invalid environment variable name {_shown(value)}: empty")
        if len(value) > MAX_ID_LENGTH:
            raise SpecError(
                f"invalid environment variable name {_shown(value)}: longer than "
                f"{MAX_ID_LENGTH} characters"
            )
        if any(c.isspace() for c in value):
            # 'NAME = value' or 'export NAME=value': a variable no shell can name.
            raise SpecError(
                f"invalid environment variable name {_shown(value)}: it contains whitespace"
            )
        bad = [c for c in value if c in "=/" or unicodedata.category(c) in _UNPRINTABLE]
        if bad or value in (".", ".."):
            shown = f" (has {bad[0]!r})" if bad else ""
            raise SpecError(f"invalid environment variable name {_shown(value)}{shown}")
        return super().__new__(cls, value)


class BuildpackVersion(str):
    """A buildpack version: X.Y.Z, non-negative integers without leading zeros."""

    def __new__(cls, value: str) -> BuildpackVersion:
        if not isinstance(value, str) or not _VERSION.match(value):
            raise SpecError(
                f"invalid version {_shown(value)}: expected X.Y.Z (up to 18 digits each), "
                "e.g. 1.2.3"
            )
        return super().__new__(cls, value)


class ProcessType(str):
    """A process type: letters, digits, '.', '_' and '-'."""

    def __new__(cls, value: str) -> ProcessType:
        if not isinstance(value, str) or not _PROCESS_TYPE.match(value):
            raise SpecError(
                f"invalid process type {_shown(value)}: use only letters, digits, '.', '_' and '-'"
            )
        problem = _path_problem(value)
        if problem:
            raise SpecError(f"invalid process type {_shown(value)}: {problem}")
        return super().__new__(cls, value)


class LayerName(str):
    """A layer name: a plain directory name that is not build, launch or store."""

    def __new__(cls, value: str) -> LayerName:
        if not isinstance(value, str) or not _LAYER_NAME.match(value):
            raise SpecError(
                f"invalid layer name {_shown(value)}: use only letters, digits, '.', '_' and '-'"
            )
        problem = _path_problem(value)
        if problem:
            raise SpecError(f"invalid layer name {_shown(value)}: {problem}")
        if value in _RESERVED_LAYER_NAMES:
            raise SpecError(f"layer name {_shown(value)} is reserved")
        return super().__new__(cls, value)


@dataclass(frozen=True, order=True)
class ApiVersion:
    """A ``<major>.<minor>`` API version; ``"1"`` means ``1.0``."""

    major: int
    minor: int

    @classmethod
    def parse(cls, value: object) -> ApiVersion:
        if not isinstance(value, str) or not _API.match(value):
            raise SpecError(f'invalid api version {_shown(value)}: expected a string like "0.10"')
        major, _, minor = value.partition(".")
        return cls(int(major), int(minor or 0))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def _minors(first: int, last: int) -> tuple[ApiVersion, ...]:
    return tuple(ApiVersion(0, minor) for minor in range(first, last + 1))


# Two sets of Buildpack API versions (digest §0.1):
# - the lifecycle (detect, build, export, launcher) runs buildpacks of any version the
#   reference lifecycle runs, so bash and Go buildpacks of the 0.7-0.9 era build here too;
# - the author API (cnbsdk.buildpack, `cnbsdk new`, packaging a Python plugin) implements
#   only the current contract: targets, array commands, CNB_* inputs.
LIFECYCLE_BUILDPACK_APIS: tuple[ApiVersion, ...] = _minors(7, 12)
AUTHOR_BUILDPACK_APIS: tuple[ApiVersion, ...] = _minors(10, 12)
# What a buildpack.toml may declare for cnbsdk to run it (builder metadata lists these).
SUPPORTED_BUILDPACK_APIS = LIFECYCLE_BUILDPACK_APIS


def describe_apis(apis: tuple[ApiVersion, ...]) -> str:
    """``0.7 to 0.12`` for a run of versions."""
    return f"{apis[0]} to {apis[-1]}"


def supported_buildpack_api(value: object) -> ApiVersion:
    """Parse the ``api`` of a buildpack.toml and refuse a version the lifecycle cannot run."""
    api = ApiVersion.parse(value)
    if api not in LIFECYCLE_BUILDPACK_APIS:
        raise SpecError(
            f"unsupported Buildpack API {_shown(value)}: cnbsdk runs buildpacks of API "
            f"{describe_apis(LIFECYCLE_BUILDPACK_APIS)} "
            f"(Python plugins: {describe_apis(AUTHOR_BUILDPACK_APIS)})"
        )
    return api


def author_buildpack_api(value: object) -> ApiVersion:
    """Parse a Buildpack API version and refuse one the author API does not implement."""
    api = ApiVersion.parse(value)
    if api not in AUTHOR_BUILDPACK_APIS:
        raise SpecError(
            f"unsupported Buildpack API {api} for a Python plugin: cnbsdk.buildpack implements "
            f"{describe_apis(AUTHOR_BUILDPACK_APIS)} (bash or Go buildpacks of "
            f"{describe_apis(LIFECYCLE_BUILDPACK_APIS)} build as they are)"
        )
    return api


def path_segment(value: object, *, what: str) -> str:
    """``value`` checked to be usable as one directory name (a version read from a label,
    say): a non-empty string without '/', NUL or control characters, not '.' or '..'."""
    if (
        not isinstance(value, str)
        or "/" in value
        or not value.isprintable()
        or _path_problem(value) is not None
    ):
        raise SpecError(f"invalid {what} {_shown(value)}: not usable as a directory name")
    return value
