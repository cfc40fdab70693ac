"""What a Debian package update fixed: the CVE identifiers its changelog entries mention.

Every binary package carries its source package's ``changelog.Debian.gz`` below
``/usr/share/doc/<package>/`` (the stacks' doc filter drops it from images, so it is read
from the ``.deb`` itself). The entries newer than the old version, up to the new one, are
what the update brought; the CVE identifiers they name are what it fixed.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable
from pathlib import Path

from debian.changelog import Changelog, ChangelogParseError
from debian.debian_support import Version

from cnbsdk.stacks.deb import member_files

CVE = re.compile(r"\bCVE-\d{4}-\d{4,}\b")
_CHANGELOG = re.compile(r"^usr/share/doc/[^/]+/changelog\.Debian(\.[a-z0-9_-]+)?\.gz$")


def read_changelog(deb: Path) -> bytes | None:
    """The uncompressed ``changelog.Debian.gz`` of a ``.deb`` (a binNMU's own changelog
    ``changelog.Debian.<arch>.gz`` only when there is no other), or None when the package
    ships none as a file (its doc directory may be a link to another package's)."""
    found = member_files(deb, lambda path: bool(_CHANGELOG.match(path)))
    if not found:
        return None
    plain = [path for path in found if path.endswith("/changelog.Debian.gz")]
    data = found[plain[0] if plain else sorted(found)[0]]
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None


def cves_between(changelog: bytes, old: str | None, new: str) -> tuple[str, ...]:
    """The CVE identifiers named by the entries after ``old`` up to and including ``new``
    (every entry up to ``new`` when there was no old version), sorted and unique."""
    try:
        parsed = Changelog(changelog, strict=False)
    except (ChangelogParseError, ValueError):
        return ()
    upper = Version(new)
    lower = Version(old) if old else None
    found: set[str] = set()
    for block in parsed:
        try:
            version = Version(str(block.version))
        except ValueError:
            continue
        if version > upper:
            continue
        if lower is not None and version <= lower:
            break  # entries are newest first
        found.update(CVE.findall("\n".join(str(line) for line in block.changes())))
    return tuple(sorted(found, key=_cve_key))


def _cve_key(cve: str) -> tuple[int, int]:
    _, year, number = cve.split("-")
    return int(year), int(number)


def cves_of_update(debs: Iterable[Path], old: str | None, new: str) -> tuple[str, ...]:
    """The CVEs an update of a source package fixed, from the first of its binary
    packages' ``.deb`` files that carries the changelog."""
    for deb in debs:
        text = read_changelog(deb)
        if text is not None:
            return cves_between(text, old, new)
    return ()
