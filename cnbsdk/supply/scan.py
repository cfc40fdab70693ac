"""Matching an image's packages against an OSV advisory database.

The packages come from the image's merged SBOM (:mod:`cnbsdk.supply.image_sbom`): Debian
packages of the run image (matched by *source* package, as Debian's advisories are), and
the npm, PyPI and Maven components of the launch SBOMs. Versions are compared with each
ecosystem's own ordering (dpkg, semver, PEP 440, Maven) by ``univers``; the ranges are read
as the OSV schema defines them (``introduced``, ``fixed``, ``last_affected``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL
from univers.versions import (
    DebianVersion,
    InvalidVersion,
    MavenVersion,
    PypiVersion,
    SemverVersion,
    Version,
)

from cnbsdk.supply.image_sbom import ImageSbom, brought_by
from cnbsdk.supply.osv import SEVERITIES, Advisory, AdvisoryDatabase, Affected

_VERSIONS: dict[str, type[Version]] = {
    "Debian": DebianVersion,
    "npm": SemverVersion,
    "PyPI": PypiVersion,
    "Maven": MavenVersion,
}


@dataclass(frozen=True)
class Package:
    """One package of the image, as the advisory database names it."""

    ecosystem: str  # Debian:12, npm, PyPI, Maven
    name: str  # Debian: the source package; Maven: group:artifact
    version: str
    display: str  # the name a user knows (the binary package for Debian)
    brought_by: str


@dataclass(frozen=True)
class Finding:
    package: Package
    advisory: str
    aliases: tuple[str, ...]
    severity: str
    fixed_in: str
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "package": self.package.display,
            "ecosystem": self.package.ecosystem,
            "installed": self.package.version,
            "fixedIn": self.fixed_in,
            "advisory": self.advisory,
            "aliases": list(self.aliases),
            "severity": self.severity,
            "summary": self.summary,
            "broughtBy": self.package.brought_by,
        }


@dataclass(frozen=True)
class ScanReport:
    image: str
    digest: str
    findings: tuple[Finding, ...]
    checked: int  # packages compared with the database
    skipped: int  # components of other kinds (generic runtimes, files)
    notes: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(reversed(SEVERITIES), 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts

    def at_or_above(self, severity: str) -> list[Finding]:
        floor = SEVERITIES.index(severity)
        return [f for f in self.findings if SEVERITIES.index(f.severity) >= floor]


def packages_of(sbom: ImageSbom) -> tuple[list[Package], int]:
    """The image's packages the database can name, and how many components were not."""
    found: list[Package] = []
    skipped = 0
    for component in sbom.components:
        package = _package(component)
        if package is None:
            skipped += 1
        else:
            found.append(package)
    return found, skipped


def _package(component: dict[str, Any]) -> Package | None:
    try:
        purl = PackageURL.from_string(str(component.get("purl", "")))
    except ValueError:
        return None
    by = brought_by(component)
    version = purl.version or str(component.get("version", ""))
    if not version:
        return None
    if purl.type == "deb":
        distro = str((purl.qualifiers or {}).get("distro", ""))
        release = distro.rsplit("-", 1)[-1] if distro.startswith("debian-") else ""
        source = _property(component, "cnbsdk:deb:source") or purl.name
        ecosystem = f"Debian:{release}" if release else "Debian"
        return Package(ecosystem, source, version, purl.name, by)
    if purl.type == "npm":
        name = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
        return Package("npm", name, version, name, by)
    if purl.type == "pypi":
        return Package("PyPI", purl.name, version, str(component.get("name") or purl.name), by)
    if purl.type == "maven" and purl.namespace:
        name = f"{purl.namespace}:{purl.name}"
        return Package("Maven", name, version, name, by)
    return None


def _property(component: dict[str, Any], name: str) -> str:
    for prop in component.get("properties") or []:
        if isinstance(prop, dict) and prop.get("name") == name:
            return str(prop.get("value", ""))
    return ""


def scan(reference: str, sbom: ImageSbom, database: AdvisoryDatabase) -> ScanReport:
    """The advisories that apply to the packages of ``sbom``."""
    packages, skipped = packages_of(sbom)
    notes = list(sbom.notes)
    findings: list[Finding] = []
    for package in packages:
        kind = _VERSIONS[package.ecosystem.split(":", 1)[0]]
        try:
            installed = kind(package.version)
        except (InvalidVersion, ValueError, TypeError):
            notes.append(f"{package.display} {package.version}: not a {kind.__name__}")
            continue
        for advisory, affected in database.for_package(package.ecosystem, package.name):
            fixed = _affects(affected, installed, package.version, kind)
            if fixed is not None:
                findings.append(_finding(package, advisory, affected, fixed))
    findings.sort(key=lambda f: (-SEVERITIES.index(f.severity), f.package.display, f.advisory))
    return ScanReport(reference, sbom.digest, tuple(findings), len(packages), skipped, tuple(notes))


def _finding(package: Package, advisory: Advisory, affected: Affected, fixed: str) -> Finding:
    return Finding(
        package, advisory.id, advisory.aliases, affected.severity, fixed, advisory.summary
    )


def _affects(affected: Affected, installed: Version, text: str, kind: type[Version]) -> str | None:
    """``None`` when the entry does not affect the version; else the version that fixes it
    (``""`` when none is known)."""
    if text in affected.versions:
        return _fix_after(affected, installed, kind)
    for span in affected.ranges:
        if span.type not in ("ECOSYSTEM", "SEMVER"):
            continue
        events = _sorted_events(span.events, kind)
        if events is None:
            continue
        vulnerable = False
        for name, version in events:
            if name == "introduced" and (version is None or installed >= version):
                vulnerable = True
            elif (name == "fixed" and version is not None and installed >= version) or (
                name == "last_affected" and version is not None and installed > version
            ):
                vulnerable = False
        if vulnerable:
            return _fix_after(affected, installed, kind)
    return None


def _sorted_events(
    events: Iterable[tuple[str, str]], kind: type[Version]
) -> list[tuple[str, Version | None]] | None:
    parsed: list[tuple[str, Version | None]] = []
    for name, value in events:
        if name not in ("introduced", "fixed", "last_affected"):
            continue
        if name == "introduced" and value == "0":
            parsed.append((name, None))
            continue
        try:
            parsed.append((name, kind(value)))
        except (InvalidVersion, ValueError, TypeError):
            return None
    # "0" (None) first; equal versions keep their order
    return sorted(parsed, key=lambda e: (e[1] is not None, e[1] if e[1] is not None else 0))


def _fix_after(affected: Affected, installed: Version, kind: type[Version]) -> str:
    fixes = []
    for span in affected.ranges:
        for name, value in span.events:
            if name == "fixed":
                try:
                    version = kind(value)
                except (InvalidVersion, ValueError, TypeError):
                    continue
                if version > installed:
                    fixes.append((version, value))
    return min(fixes)[1] if fixes else ""


@dataclass(frozen=True)
class ScanDiff:
    fixed: tuple[Finding, ...]
    introduced: tuple[Finding, ...]


def diff(old: ScanReport, new: ScanReport) -> ScanDiff:
    """Which advisories the change from ``old`` to ``new`` fixed and which it introduced
    (by package and advisory id)."""

    def key(finding: Finding) -> tuple[str, str, str]:
        return (finding.package.ecosystem, finding.package.display, finding.advisory)

    before = {key(f): f for f in old.findings}
    after = {key(f): f for f in new.findings}
    return ScanDiff(
        tuple(f for k, f in before.items() if k not in after),
        tuple(f for k, f in after.items() if k not in before),
    )
