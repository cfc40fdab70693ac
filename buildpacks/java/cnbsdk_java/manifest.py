"""``META-INF/MANIFEST.MF``: the JAR manifest's main attributes, from a directory or a JAR."""

from __future__ import annotations

import zipfile
from pathlib import Path

MANIFEST = "META-INF/MANIFEST.MF"


def parse_manifest(text: str) -> dict[str, str]:
    """The main section's attributes; continuation lines (starting with one space) joined,
    as the JAR File Specification writes long values."""
    attributes: dict[str, str] = {}
    last = ""
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw == "":
            if attributes:
                break  # the main section ends at the first blank line
            continue
        if raw.startswith(" ") and last:
            attributes[last] += raw[1:]
            continue
        name, sep, value = raw.partition(":")
        if not sep:
            continue
        last = name.strip()
        attributes[last] = value.strip()
    return attributes


def read_manifest(app: Path) -> dict[str, str] | None:
    """The manifest of an exploded JAR (a directory) or a JAR file; None when it has none."""
    if app.is_dir():
        path = app / MANIFEST
        return parse_manifest(path.read_text(errors="replace")) if path.is_file() else None
    try:
        with zipfile.ZipFile(app) as jar:
            try:
                data = jar.read(MANIFEST)
            except KeyError:
                return None
    except (zipfile.BadZipFile, OSError):
        return None
    return parse_manifest(data.decode("utf-8", errors="replace"))
