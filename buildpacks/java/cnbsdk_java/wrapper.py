"""The project's Maven wrapper: the Maven distribution ``mvnw`` would download, fetched the
way a catalog dependency is — checksum-verified, through ``BP_DEPENDENCY_MIRROR`` (or a
``dependency-mirror`` binding) when the build has one — instead of by the script itself.

``.mvn/wrapper/maven-wrapper.properties`` names it (``distributionUrl``); it is used only
with its ``distributionSha256Sum``, since every download a build makes is verified.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import BuildpackError, LayerRef
from cnbsdk.deps import Dependencies
from cnbsdk.spec.buildpack_toml import Dependency
from cnbsdk_java.sbom import parse_properties

PROPERTIES = ".mvn/wrapper/maven-wrapper.properties"
_VERSION = re.compile(r"apache-maven-(\d+(?:\.\d+){0,2})-bin\.(?:zip|tar\.gz)$")


def wrapper_distribution(app_dir: Path) -> Dependency | str | None:
    """The wrapper's distribution as a dependency; a reason when it cannot be used; None
    when the project has no wrapper."""
    properties = app_dir / PROPERTIES
    if not (app_dir / "mvnw").is_file() or not properties.is_file():
        return None
    values = parse_properties(properties.read_text(errors="replace").replace("\\:", ":"))
    url = values.get("distributionUrl", "")
    checksum = values.get("distributionSha256Sum", "").lower()
    if not url:
        return f"{PROPERTIES} has no distributionUrl"
    if not re.fullmatch(r"[0-9a-f]{64}", checksum):
        return f"{PROPERTIES} has no distributionSha256Sum to verify the download with"
    match = _VERSION.search(url)
    return Dependency(
        id="maven-wrapper",
        name="Apache Maven (mvnw)",
        version=match.group(1) if match else "0.0.0",
        uri=url,
        checksum=f"sha256:{checksum}",
        strip_components=1,
    )


def install_wrapper_maven(context: Any, distribution: Dependency) -> Path:
    """The distribution in the ``maven-wrapper`` build layer; returns its ``bin/mvn``."""
    expected = {"uri": distribution.uri, "checksum": distribution.checksum}
    layer: LayerRef = context.layers.cached("maven-wrapper", expected, build=True)
    if not layer.reused:
        Dependencies.from_context(context).deliver(distribution, layer.path)
    mvn = layer.path / "bin" / "mvn"
    if not mvn.is_file():
        raise BuildpackError(
            f"the wrapper's distribution has no bin/mvn: {distribution.uri}",
            file=str(context.app_dir / PROPERTIES),
        )
    mvn.chmod(mvn.stat().st_mode | 0o111)
    return mvn
