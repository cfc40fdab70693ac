"""The launch SBOM's Python packages: every distribution installed in the venv, from its
``*.dist-info/METADATA`` (name, version, licence), with ``pkg:pypi`` purls."""

from __future__ import annotations

import re
import urllib.parse
from email.parser import HeaderParser
from pathlib import Path

from cnbsdk.buildpack import Component

_LICENSE_CLASSIFIER = "License :: OSI Approved :: "


def normalise(name: str) -> str:
    """PEP 503's normal form: ``Flask_SQLAlchemy`` → ``flask-sqlalchemy``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pypi_purl(name: str, version: str) -> str:
    return f"pkg:pypi/{urllib.parse.quote(normalise(name))}@{urllib.parse.quote(version)}"


def _licences(headers: dict[str, list[str]]) -> tuple[str, ...]:
    expression = headers.get("License-Expression", [])
    if expression and expression[0].strip():
        return (expression[0].strip(),)
    licence = headers.get("License", [])
    if licence and licence[0].strip() and "\n" not in licence[0].strip():
        text = licence[0].strip()
        if len(text) <= 60 and text.upper() != "UNKNOWN":
            return (text,)
    classified = [
        c.removeprefix(_LICENSE_CLASSIFIER).strip()
        for c in headers.get("Classifier", [])
        if c.startswith(_LICENSE_CLASSIFIER)
    ]
    return tuple(classified)


def installed_distributions(site_packages: Path | None) -> list[Component]:
    """Each ``*.dist-info`` below ``site_packages`` as a component, sorted by purl."""
    if site_packages is None or not site_packages.is_dir():
        return []
    found: dict[str, Component] = {}
    for metadata in sorted(site_packages.glob("*.dist-info/METADATA")):
        try:
            message = HeaderParser().parsestr(
                metadata.read_text(encoding="utf-8", errors="replace")
            )
        except OSError:
            continue
        headers: dict[str, list[str]] = {}
        for key, value in message.items():
            headers.setdefault(key, []).append(str(value))
        name = (headers.get("Name") or [""])[0].strip()
        version = (headers.get("Version") or [""])[0].strip()
        if not name or not version:
            continue
        component = Component(
            name=normalise(name),
            version=version,
            purl=pypi_purl(name, version),
            licenses=_licences(headers),
        )
        found.setdefault(component.purl, component)
    return sorted(found.values(), key=lambda c: c.purl)


def installed_names(site_packages: Path | None) -> set[str]:
    return {c.name for c in installed_distributions(site_packages)}
