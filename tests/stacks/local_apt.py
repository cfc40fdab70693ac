"""A real apt repository whose contents a test controls: tiny packages made with
``dpkg-deb --build``, indexed with ``apt-ftparchive``, served to apt as a trusted ``file:``
source. Tests of version changes, vanished versions and changelog CVEs use it instead of
depending on what Debian's archive serves today.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ChangelogEntry:
    version: str
    text: str  # the change lines (without the leading "  * ")


@dataclass
class LocalAptRepo:
    """A flat apt repository (``deb [trusted=yes] file:DIR ./``)."""

    root: Path
    packages: dict[tuple[str, str], Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._work = self.root.parent / f".{self.root.name}-build"
        self._work.mkdir(exist_ok=True)

    @property
    def source(self) -> str:
        return f"deb [trusted=yes] file:{self.root} ./"

    def add(
        self,
        name: str,
        version: str,
        *,
        source: str | None = None,
        depends: str = "",
        files: dict[str, str] | None = None,
        changelog: list[ChangelogEntry] | None = None,
    ) -> Path:
        """Build one package (amd64) into the repository; returns the ``.deb``."""
        tree = self._work / f"{name}_{version}"
        shutil.rmtree(tree, ignore_errors=True)
        (tree / "DEBIAN").mkdir(parents=True)
        control = [
            f"Package: {name}",
            f"Version: {version}",
            "Architecture: amd64",
            "Maintainer: cnbsdk tests <tests@cnbsdk.invalid>",
            "Priority: optional",
            "Section: misc",
        ]
        if source:
            control.append(f"Source: {source}")
        if depends:
            control.append(f"Depends: {depends}")
        control.append(f"Description: {name}, a package a cnbsdk test made")
        (tree / "DEBIAN/control").write_text("\n".join(control) + "\n")
        for path, text in (files or {f"usr/share/{name}/VERSION": version + "\n"}).items():
            target = tree / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        doc = tree / "usr/share/doc" / name
        doc.mkdir(parents=True, exist_ok=True)
        (doc / "copyright").write_text("Public domain.\n")
        entries = changelog or [ChangelogEntry(version, "Initial release.")]
        (doc / "changelog.Debian.gz").write_bytes(
            gzip.compress(_changelog(source or name, entries).encode(), mtime=0)
        )
        deb = self.root / f"{name}_{version}_amd64.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
            check=True,
            capture_output=True,
            env={"SOURCE_DATE_EPOCH": "1700000000", "PATH": "/usr/bin:/bin"},
        )
        self.packages[(name, version)] = deb
        return deb

    def remove(self, name: str, version: str) -> None:
        """Take a version out of the repository (as Debian's security archive does)."""
        self.packages.pop((name, version)).unlink()

    def publish(self) -> None:
        """Write the indices (``Packages``, ``Release``) for what is in the repository now."""
        packages = subprocess.run(
            ["apt-ftparchive", "packages", "."],
            cwd=self.root,
            check=True,
            capture_output=True,
        ).stdout
        (self.root / "Packages").write_bytes(packages)
        (self.root / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
        (self.root / "Release").unlink(missing_ok=True)
        release = subprocess.run(
            ["apt-ftparchive", "release", "."],
            cwd=self.root,
            check=True,
            capture_output=True,
        ).stdout
        (self.root / "Release").write_bytes(release)


def _changelog(source: str, entries: list[ChangelogEntry]) -> str:
    blocks = []
    for entry in entries:  # newest first, as in Debian
        blocks.append(
            f"{source} ({entry.version}) bookworm-security; urgency=medium\n\n"
            f"  * {entry.text}\n\n"
            f" -- cnbsdk tests <tests@cnbsdk.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n"
        )
    return "\n".join(blocks)


def stack_file(path: Path, repo: LocalAptRepo, *, run: list[str], build: list[str]) -> Path:
    """A stack definition whose only apt source is ``repo``."""
    path.write_text(
        f"""[stack]
id = "io.cnbsdk.tests.probe"

[distribution]
name = "debian"
version = "12"
architecture = "amd64"

[apt]
sources = [{repo.source!r}]

[build]
uid = 1000
gid = 1000
packages = {build!r}

[run]
uid = 1001
gid = 1000
packages = {run!r}
""".replace("'", '"')
    )
    return path
