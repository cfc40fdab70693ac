"""The OS SBOM of a stack image: CycloneDX 1.5 JSON, one component per Debian package.

It is stored alone in the image's top layer at ``SBOM_PATH`` and the label ``SBOM_LABEL``
names that layer's diffID, so a scanner reads one small blob instead of the whole image.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from cnbsdk import __version__
from cnbsdk.stacks.lock import LockedPackage

SBOM_PATH = "/cnb/sbom/os.cdx.json"
SBOM_LABEL = "io.cnbsdk.sbom.os"
SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"
# A fixed namespace: the same packages give the same serial number, so the layer (and the
# image digest) stays reproducible.
_SERIAL_NAMESPACE = uuid.UUID("6f4c2a9e-2b1d-5c55-9a43-0c1e5d7b8a10")


def purl(package: LockedPackage, *, distro: str, distro_version: str) -> str:
    """``pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12`` (purl spec: the version is
    percent-encoded, ':' stays as it is)."""
    version = quote(package.version, safe=":")
    return (
        f"pkg:deb/{distro}/{quote(package.name, safe='')}@{version}"
        f"?arch={package.architecture}&distro={distro}-{distro_version}"
    )


def os_sbom(
    packages: Sequence[LockedPackage],
    *,
    distro: str,
    distro_version: str,
    stack_id: str,
    image_kind: str,
    timestamp: str,
) -> dict[str, Any]:
    """The CycloneDX document for one image's packages (sorted by name)."""
    components = []
    for package in sorted(packages, key=lambda p: p.name):
        ref = purl(package, distro=distro, distro_version=distro_version)
        components.append(
            {
                "type": "library",
                "bom-ref": ref,
                "name": package.name,
                "version": package.version,
                "purl": ref,
                "hashes": [{"alg": "SHA-256", "content": package.sha256}],
                "properties": [
                    {"name": "cnbsdk:deb:architecture", "value": package.architecture},
                    {"name": "cnbsdk:deb:source", "value": package.source},
                    {"name": "cnbsdk:deb:filename", "value": package.filename},
                ],
            }
        )
    identity = json.dumps([stack_id, image_kind, [c["bom-ref"] for c in components]])
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(_SERIAL_NAMESPACE, identity)}",
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {
                "components": [{"type": "application", "name": "cnbsdk", "version": __version__}]
            },
            "component": {
                "type": "operating-system",
                "bom-ref": f"{stack_id}/{image_kind}",
                "name": distro,
                "version": distro_version,
                "description": f"{image_kind} image of stack {stack_id}",
            },
        },
        "components": components,
    }


def dump(document: dict[str, Any]) -> bytes:
    """Stable bytes: sorted keys, two-space indent, trailing newline."""
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
