"""An offline advisory database in the OSV format: a directory (searched recursively) or a
zip of OSV JSON files, the form osv.dev exports per ecosystem (``<Ecosystem>/all.zip``).

Advisories are indexed by (ecosystem, package name); Debian's are keyed by *source* package
and ecosystem ``Debian:<release>``, as OSV writes them.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk.errors import CnbError

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")


class AdvisoryError(CnbError):
    """The advisory database cannot be read."""


@dataclass(frozen=True)
class Range:
    """One OSV range: its type (``ECOSYSTEM``, ``SEMVER``; ``GIT`` ranges are not used) and
    its events in order (``introduced``, ``fixed``, ``last_affected``, ``limit``)."""

    type: str
    events: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Affected:
    ecosystem: str
    name: str
    ranges: tuple[Range, ...]
    versions: frozenset[str]
    severity: str


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: str
    affected: tuple[Affected, ...]


def normalize_name(ecosystem: str, name: str) -> str:
    """A package name as the ecosystem compares it (PyPI: PEP 503; others: as written)."""
    if ecosystem == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


class AdvisoryDatabase:
    """Advisories by (base ecosystem, package name)."""

    def __init__(self, advisories: list[Advisory], source: str) -> None:
        self.source = source
        self.advisories = advisories
        self._index: dict[tuple[str, str], list[tuple[Advisory, Affected]]] = {}
        for advisory in advisories:
            for affected in advisory.affected:
                base = affected.ecosystem.split(":", 1)[0]
                key = (base, normalize_name(base, affected.name))
                self._index.setdefault(key, []).append((advisory, affected))

    def for_package(self, ecosystem: str, name: str) -> list[tuple[Advisory, Affected]]:
        """The (advisory, affected entry) pairs naming the package; ``ecosystem`` may carry a
        release (``Debian:12``), which then must match the entry's when it has one."""
        base, _, release = ecosystem.partition(":")
        found = []
        for advisory, affected in self._index.get((base, normalize_name(base, name)), []):
            entry_release = affected.ecosystem.partition(":")[2]
            if release and entry_release and entry_release != release:
                continue
            found.append((advisory, affected))
        return found

    @classmethod
    def load(cls, path: Path) -> AdvisoryDatabase:
        """Read every OSV JSON file of a directory or zip; a malformed one is a one-line
        error naming it."""
        path = Path(path)
        if not path.exists():
            raise AdvisoryError("no such directory or zip file", file=str(path))
        advisories = [_advisory(data, where) for where, data in _documents(path)]
        return cls(advisories, str(path))


def _documents(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            yield str(file), file.read_bytes()
        for file in sorted(path.rglob("*.zip")):
            yield from _zip_documents(file)
    else:
        yield from _zip_documents(path)


def _zip_documents(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".json") and not info.is_dir():
                    yield f"{path}!{info.filename}", archive.read(info)
    except (zipfile.BadZipFile, OSError) as error:
        raise AdvisoryError(f"cannot read: {error}", file=str(path)) from None


def _advisory(data: bytes, where: str) -> Advisory:
    try:
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        advisory_id = str(raw["id"])
        severity = _severity(raw)
        affected = tuple(_affected(entry, severity) for entry in raw.get("affected") or [])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise AdvisoryError(f"is not an OSV advisory: {error}", file=where) from None
    return Advisory(
        advisory_id,
        tuple(str(a) for a in raw.get("aliases") or []),
        str(raw.get("summary", "")),
        severity,
        affected,
    )


def _affected(entry: dict[str, Any], severity: str) -> Affected:
    package = entry["package"]
    ranges = tuple(
        Range(
            str(r.get("type", "")),
            tuple((str(k), str(v)) for event in r.get("events") or [] for k, v in event.items()),
        )
        for r in entry.get("ranges") or []
    )
    own = _severity(entry)
    return Affected(
        str(package["ecosystem"]),
        str(package["name"]),
        ranges,
        frozenset(str(v) for v in entry.get("versions") or []),
        own if own != "UNKNOWN" else severity,
    )


_WORDS = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH", "NEGLIGIBLE": "LOW", "UNIMPORTANT": "LOW"}


def _severity(raw: dict[str, Any]) -> str:
    """The qualitative severity of an advisory or an affected entry: the database's own word
    (GitHub's ``MODERATE`` read as MEDIUM), else the highest its CVSS vectors give, else
    UNKNOWN."""
    specific = raw.get("database_specific") or raw.get("ecosystem_specific") or {}
    word = str(specific.get("severity", "") if isinstance(specific, dict) else "").upper()
    word = _WORDS.get(word, word)
    if word in SEVERITIES and word != "UNKNOWN":
        return word
    best = "UNKNOWN"
    vectors = raw.get("severity")
    for entry in vectors if isinstance(vectors, list) else []:
        level = _cvss_severity(str(entry.get("type", "")), str(entry.get("score", "")))
        if SEVERITIES.index(level) > SEVERITIES.index(best):
            best = level
    return best


def _cvss_severity(kind: str, vector: str) -> str:
    from cvss import CVSS3, CVSS4  # type: ignore[import-untyped]
    from cvss.exceptions import CVSSError  # type: ignore[import-untyped]

    try:
        if kind == "CVSS_V3":
            level = CVSS3(vector).severities()[0]
        elif kind == "CVSS_V4":
            level = CVSS4(vector).severity
        else:
            return "UNKNOWN"
    except (CVSSError, ValueError, KeyError, IndexError):
        return "UNKNOWN"
    level = str(level).upper()
    return level if level in SEVERITIES else "UNKNOWN"
