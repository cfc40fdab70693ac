"""SBOMs a buildpack writes: per layer and for launch/build, in the formats it declares.

``Sbom.cyclonedx(components)`` makes a CycloneDX 1.5 JSON document from a list of
components without any scanner. The document has no timestamp and no random serial
number, so the same components always give the same bytes (reproducible layers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnbsdk.errors import BuildpackError, SpecError
from cnbsdk.spec.sbom import SBOM_FORMATS, sbom_extension
from cnbsdk.spec.toml_file import write_atomic

CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
SPDX_JSON = "application/spdx+json"
SYFT_JSON = "application/vnd.syft+json"

# CycloneDX hash algorithm names for the prefixes used in buildpack.toml checksums.
_HASH_ALGORITHMS = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
}
_SPDX_ID = re.compile(r"^[A-Za-z0-9.+-]+$")
_EXPRESSION = re.compile(r"\s(AND|OR|WITH)\s|[()]")


@dataclass(frozen=True)
class Component:
    """One software component in an SBOM."""

    name: str
    version: str = ""
    purl: str = ""
    licenses: Sequence[str] = ()
    hashes: Mapping[str, str] = field(default_factory=dict)  # e.g. {"sha256": "<hex>"}
    type: str = "library"
    cpes: Sequence[str] = ()

    @classmethod
    def from_checksum(cls, name: str, version: str, checksum: str, **fields: Any) -> Component:
        """A component whose hash comes from a ``sha256:<hex>`` checksum string."""
        algorithm, sep, digest = checksum.partition(":")
        hashes = {algorithm: digest} if sep else {}
        return cls(name=name, version=version, hashes=hashes, **fields)

    def to_cyclonedx(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "name": self.name}
        if self.version:
            data["version"] = self.version
        if self.purl:
            data["bom-ref"] = self.purl
            data["purl"] = self.purl
        if self.cpes:
            data["cpe"] = self.cpes[0]
        if self.licenses:
            data["licenses"] = [_license(value) for value in self.licenses]
        if self.hashes:
            data["hashes"] = [_hash(alg, content) for alg, content in sorted(self.hashes.items())]
        return data


def _license(value: str) -> dict[str, Any]:
    if _EXPRESSION.search(value):
        return {"expression": value}
    if _SPDX_ID.match(value):
        return {"license": {"id": value}}
    return {"license": {"name": value}}


def _hash(algorithm: str, content: str) -> dict[str, str]:
    name = _HASH_ALGORITHMS.get(algorithm.lower().replace("-", ""))
    if name is None:
        known = ", ".join(_HASH_ALGORITHMS)
        raise BuildpackError(f"unknown hash algorithm {algorithm!r} for an SBOM: use {known}")
    return {"alg": name, "content": content.lower()}


def cyclonedx_document(components: Iterable[Component]) -> dict[str, Any]:
    """A CycloneDX 1.5 JSON document listing ``components``."""
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {"tools": {"components": [{"type": "application", "name": "cnbsdk"}]}},
        "components": [c.to_cyclonedx() for c in components],
    }


@dataclass(frozen=True)
class Sbom:
    """An SBOM document in one media type, as bytes."""

    media_type: str
    content: bytes

    def __post_init__(self) -> None:
        try:
            sbom_extension(self.media_type)
        except SpecError as error:
            raise BuildpackError(error.message) from None
        if isinstance(self.content, str):
            object.__setattr__(self, "content", self.content.encode("utf-8"))

    @classmethod
    def cyclonedx(cls, components: Iterable[Component]) -> Sbom:
        text = json.dumps(cyclonedx_document(components), indent=2, sort_keys=True) + "\n"
        return cls(CYCLONEDX_JSON, text.encode("utf-8"))

    @classmethod
    def from_path(cls, media_type: str, path: str | Path) -> Sbom:
        """An SBOM produced by another tool (e.g. a scanner) and saved at ``path``."""
        return cls(media_type, Path(path).read_bytes())

    @property
    def extension(self) -> str:
        return SBOM_FORMATS[self.media_type]


def check_declared(media_type: str, declared: Sequence[str], *, descriptor_file: str) -> None:
    """Refuse an SBOM format the buildpack did not declare (the lifecycle would fail later)."""
    if media_type not in declared:
        listed = ", ".join(declared) or "nothing"
        raise BuildpackError(
            f"cannot write a {media_type} SBOM: buildpack.toml's sbom-formats declares {listed}",
            file=descriptor_file,
            field="buildpack.sbom-formats",
            hint=f'add "{media_type}" to sbom-formats',
        )


def write_sbom(
    layers_dir: Path, owner: str, sbom: Sbom, *, declared: Sequence[str], descriptor_file: str
) -> Path:
    """Write ``<layers>/<owner>.sbom.<ext>``; owner is a layer name, ``launch`` or ``build``."""
    check_declared(sbom.media_type, declared, descriptor_file=descriptor_file)
    path = layers_dir / f"{owner}.sbom.{sbom.extension}"
    write_atomic(path, sbom.content)
    return path
