"""Versions and version constraints for buildpack dependencies (semver, npm-style ranges).

Written here rather than taken from a library because this room is vendored into every
packaged buildpack and must import only the standard library (docs/dependencies.md).

Accepted constraints (comma or space separated parts are ANDed, ``||`` ORs alternatives):
``*``/``x``, ``22``/``22.*``/``22.x`` (any 22.y.z), ``=1.2.3``, ``!=1.2.3``, ``>``, ``>=``,
``<``, ``<=``, ``~1.2`` (>=1.2.0 <1.3.0), ``^1.2`` (>=1.2.0 <2.0.0; ``^0.2.3`` <0.3.0),
``~> 1.2`` (Ruby's pessimistic operator, as packit rewrites it) and ``1.2 - 1.4`` ranges.
Missing parts are wildcards: ``<=1.2`` allows 1.2.9, ``>1.2`` starts at 1.3.0. A version with
a pre-release (``1.2.0-rc.1``) matches only when a part of the constraint names one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from cnbsdk.errors import DependencyError

# ASCII digits, at most 18 to a part: no version has more, and int() takes them all.
_VERSION = re.compile(
    r"^v?(0|[1-9]\d{0,17}|\d{1,18})(?:\.(\d{1,18}))?(?:\.(\d{1,18}))?((?:\.\d{1,18}){0,3})"
    r"(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$",
    re.ASCII,
)
_PARTIAL = re.compile(
    r"^v?(\d{1,18}|[xX*])(?:\.(\d{1,18}|[xX*]))?(?:\.(\d{1,18}|[xX*]))?((?:\.\d{1,18}){0,3})"
    r"(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$",
    re.ASCII,
)
_OPERATOR = re.compile(r"^(~>|>=|<=|!=|==|=|>|<|~|\^)?\s*(.*)$")


@total_ordering
@dataclass(frozen=True)
class Version:
    """A semantic version; ``1.2`` reads as 1.2.0. Build metadata is kept but not compared.
    Up to three numeric parts after the patch (``25.0.2.1``, as some packages on PyPI number
    their releases) are kept in ``extra`` and compared after it."""

    major: int
    minor: int = 0
    patch: int = 0
    prerelease: tuple[int | str, ...] = ()
    build: str = ""
    extra: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version | None:
        """The version, or None when ``text`` is not one (such a dependency only matches its
        exact text)."""
        match = _VERSION.match(text.strip())
        if not match:
            return None
        major, minor, patch, extra, pre, build = match.groups()
        return cls(
            int(major),
            int(minor or 0),
            int(patch or 0),
            _prerelease(pre),
            build or "",
            tuple(int(part) for part in extra.split(".")[1:]) if extra else (),
        )

    def _key(self) -> tuple[object, ...]:
        # semver §11: a pre-release sorts before its release; numeric ids before alphanumeric.
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, self.extra, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        text += "".join(f".{part}" for part in self.extra)
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        return text + (f"+{self.build}" if self.build else "")


def _prerelease(text: str | None) -> tuple[int | str, ...]:
    if not text:
        return ()
    # Numeric identifiers compare as numbers (ASCII digits only: "²" is not one, and 4000
    # digits is past any real version while int() still takes it).
    return tuple(
        int(p) if p.isascii() and p.isdigit() and len(p) <= 4000 else p for p in text.split(".")
    )


@dataclass(frozen=True)
class _Bound:
    """``version op`` for one of ``>``, ``>=``, ``<``, ``<=``, ``=``, ``!=``."""

    op: str
    version: Version

    def allows(self, version: Version) -> bool:
        if self.op == ">":
            return version > self.version
        if self.op == ">=":
            return version >= self.version
        if self.op == "<":
            return version < self.version
        if self.op == "<=":
            return version <= self.version
        if self.op == "!=":
            return version != self.version
        return version == self.version


@dataclass(frozen=True)
class _Range:
    """Bounds that must all hold; ``pre`` says whether a pre-release was named."""

    bounds: tuple[_Bound, ...]
    pre: bool

    def allows(self, version: Version) -> bool:
        if version.prerelease and not self.pre:
            return False
        return all(bound.allows(version) for bound in self.bounds)


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: alternatives (``||``) of ranges."""

    text: str
    alternatives: tuple[_Range, ...]

    @classmethod
    def parse(cls, text: str) -> Constraint:
        text = text.strip()
        alternatives = []
        for alternative in (text or "*").split("||"):
            alternatives.append(_parse_range(alternative.strip(), text))
        return cls(text, tuple(alternatives))

    def allows(self, version: str | Version) -> bool:
        if isinstance(version, str):
            parsed = Version.parse(version)
            if parsed is None:
                return version.strip() == self.text
            version = parsed
        return any(alternative.allows(version) for alternative in self.alternatives)

    def __str__(self) -> str:
        return self.text


def _fail(whole: str, why: str) -> DependencyError:
    return DependencyError(f"invalid version constraint {whole!r}: {why}")


def _parse_range(text: str, whole: str) -> _Range:
    if not text:
        raise _fail(whole, "an empty alternative around '||'")
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    if hyphen:
        low, high = (_partial(part, whole) for part in hyphen.groups())
        span = _comparison(">=", low) + _comparison("<=", high)
        return _Range(span, bool(low[3] or high[3]))
    # "~> 1.2" and ">= 1.2": glue an operator to its version before splitting on spaces.
    text = re.sub(r"(~>|>=|<=|!=|==|=|>|<|~|\^)\s+", r"\1", text)
    bounds: list[_Bound] = []
    pre = False
    for part in re.split(r"[,\s]+", text):
        if not part:
            continue
        match = _OPERATOR.match(part)
        assert match is not None
        op, rest = match.group(1) or "=", match.group(2)
        partial = _partial(rest, whole)
        pre = pre or bool(partial[3])
        bounds.extend(_expand(op, partial, whole))
    return _Range(tuple(bounds), pre)


# (major, minor, patch, prerelease, extra parts): None marks a wildcard (or a missing part)
_Partial = tuple[int | None, int | None, int | None, str, tuple[int, ...]]


def _partial(text: str, whole: str) -> _Partial:
    match = _PARTIAL.match(text)
    if not match:
        raise _fail(whole, f"{text!r} is not a version")
    major, minor, patch, extra, pre = match.groups()

    def number(part: str | None) -> int | None:
        return None if part is None or part in "xX*" else int(part)

    values = [number(major), number(minor), number(patch)]
    for index in range(1, 3):  # everything after a wildcard is a wildcard
        if values[index - 1] is None:
            values[index] = None
    if extra and values[2] is None:
        raise _fail(whole, f"{text!r} has parts after a wildcard")
    parts = tuple(int(part) for part in extra.split(".")[1:]) if extra else ()
    return values[0], values[1], values[2], pre or "", parts


def _floor(p: _Partial) -> Version:
    return Version(p[0] or 0, p[1] or 0, p[2] or 0, _prerelease(p[3]), extra=p[4])


def _next(p: _Partial) -> Version | None:
    """The first version above every version the partial names (None: no upper end)."""
    if p[0] is None:
        return None
    if p[1] is None:
        return Version(p[0] + 1, 0, 0, (0,))
    if p[2] is None:
        return Version(p[0], p[1] + 1, 0, (0,))
    return None


def _comparison(op: str, p: _Partial) -> tuple[_Bound, ...]:
    exact = p[2] is not None
    upper = _next(p)
    if op == ">=":
        return (_Bound(">=", _floor(p)),) if p[0] is not None else ()
    if op == "<":
        return (_Bound("<", _floor(p) if p[0] is not None else Version(0, 0, 0, (0,))),)
    if op == ">":
        if exact:
            return (_Bound(">", _floor(p)),)
        return (_Bound(">=", upper),) if upper else (_Bound("<", Version(0, 0, 0, (0,))),)
    if op == "<=":
        if exact:
            return (_Bound("<=", _floor(p)),)
        return (_Bound("<", upper),) if upper else ()
    raise AssertionError(op)


def _expand(op: str, p: _Partial, whole: str) -> tuple[_Bound, ...]:
    major, minor, patch, pre, extra = p
    if op in ("=", "=="):
        if patch is not None and major is not None and minor is not None and not extra and not pre:
            # 1.2.3 also names 1.2.3.x (a fourth part is a re-release of the same version)
            return (_Bound(">=", _floor(p)), _Bound("<", Version(major, minor, patch + 1, (0,))))
        if patch is not None:
            return (_Bound("=", _floor(p)),)
        return _comparison(">=", p) + _comparison("<=", p)
    if op == "!=":
        if patch is not None:
            return (_Bound("!=", _floor(p)),)
        raise _fail(whole, "'!=' needs a full version such as 1.2.3")
    if op in (">", ">=", "<", "<="):
        return _comparison(op, p)
    if op == "~>":  # packit: two parts mean ^, three mean ~
        op = "~" if patch is not None else "^"
    if major is None:
        return ()
    low = _Bound(">=", _floor(p))
    if op == "~":
        high = Version(major, (minor or 0) + 1, 0, (0,)) if minor is not None else None
        high = high or Version(major + 1, 0, 0, (0,))
        return (low, _Bound("<", high))
    # ^: the leftmost non-zero part may not change
    if major > 0 or minor is None:
        high = Version(major + 1, 0, 0, (0,))
    elif minor > 0 or patch is None:
        high = Version(0, minor + 1, 0, (0,))
    else:
        high = Version(0, 0, patch + 1, (0,))
    return (low, _Bound("<", high))
