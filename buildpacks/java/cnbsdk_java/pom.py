"""What the buildpack reads from ``pom.xml``: the Java release the compiler targets."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.buildpack import BuildpackError

_PROPERTY = re.compile(r"^\$\{([^}]+)\}$")


@dataclass(frozen=True)
class JavaRelease:
    """``17`` and where it was written (``maven.compiler.release``)."""

    major: str
    source: str


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ElementTree.Element | None, name: str) -> ElementTree.Element | None:
    if element is None:
        return None
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _major(value: str) -> str | None:
    """``1.8`` -> ``8``, ``17`` -> ``17``; None for anything else."""
    value = value.strip()
    if value.startswith("1.") and value[2:].isdigit():
        return value[2:]
    return value if value.isdigit() else None


def compiler_release(pom: Path) -> JavaRelease | None:
    """The Java major from ``maven.compiler.release`` (or ``.target``) properties, or the
    compiler plugin's ``<release>``/``<target>``; ``${...}`` follows one property."""
    try:
        root = ElementTree.parse(pom).getroot()
    except ElementTree.ParseError as error:
        raise BuildpackError(f"invalid XML: {error}", file=str(pom)) from None
    properties: dict[str, str] = {}
    props = _child(root, "properties")
    for child in props if props is not None else ():
        properties[_local(child.tag)] = (child.text or "").strip()

    def value(raw: str) -> str:
        match = _PROPERTY.match(raw.strip())
        return properties.get(match.group(1), "") if match else raw

    candidates: list[tuple[str, str]] = []
    for name in ("maven.compiler.release", "maven.compiler.target"):
        if name in properties:
            candidates.append((name, value(properties[name])))
    plugins = _child(_child(root, "build"), "plugins")
    for plugin in plugins if plugins is not None else ():
        artifact = _child(plugin, "artifactId")
        if artifact is None or (artifact.text or "").strip() != "maven-compiler-plugin":
            continue
        for name in ("release", "target"):
            element = _child(_child(plugin, "configuration"), name)
            if element is not None and element.text:
                candidates.append((f"maven-compiler-plugin <{name}>", value(element.text)))
    for source, raw in candidates:
        major = _major(raw)
        if major:
            return JavaRelease(major, source)
    return None
