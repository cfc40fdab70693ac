"""The launch SBOM's libraries: every ``META-INF/maven/<group>/<artifact>/pom.properties``
in the app's JARs (nested JARs included) and directories, as ``pkg:maven`` purls."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from cnbsdk.buildpack import Component

_MAX_NESTED = 64 << 20  # nested JARs are read into memory; larger ones are skipped


def parse_properties(text: str) -> dict[str, str]:
    """A Java ``.properties`` file's simple ``key=value`` lines (what Maven writes)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            key, _, value = line.partition(":")
        values[key.strip()] = value.strip()
    return values


def _component(text: str) -> Component | None:
    props = parse_properties(text)
    group, artifact, version = (props.get(k, "") for k in ("groupId", "artifactId", "version"))
    if not (group and artifact and version):
        return None
    return Component(artifact, version, purl=f"pkg:maven/{group}/{artifact}@{version}")


def _is_pom_properties(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 5 and parts[:2] == ["META-INF", "maven"] and parts[4] == "pom.properties"


def _from_zip(archive: zipfile.ZipFile) -> Iterator[Component]:
    for info in archive.infolist():
        name = info.filename
        if _is_pom_properties(name):
            found = _component(archive.read(info).decode("utf-8", errors="replace"))
            if found:
                yield found
        elif name.endswith(".jar") and info.file_size <= _MAX_NESTED:
            try:
                with zipfile.ZipFile(io.BytesIO(archive.read(info))) as nested:
                    yield from _from_zip(nested)
            except zipfile.BadZipFile:
                continue


def maven_components(paths: Iterable[Path]) -> list[Component]:
    """The libraries found in ``paths`` (JAR files and directories), each once."""
    found: dict[str, Component] = {}
    for path in paths:
        if path.is_dir():
            for props in sorted(path.glob("META-INF/maven/*/*/pom.properties")):
                component = _component(props.read_text(errors="replace"))
                if component:
                    found.setdefault(component.purl, component)
            for jar in sorted(path.rglob("*.jar")):
                found.update({c.purl: c for c in maven_components([jar]) if c.purl not in found})
        elif path.is_file():
            try:
                with zipfile.ZipFile(path) as archive:
                    for component in _from_zip(archive):
                        found.setdefault(component.purl, component)
            except (zipfile.BadZipFile, OSError):
                continue
    return sorted(found.values(), key=lambda c: c.purl)
