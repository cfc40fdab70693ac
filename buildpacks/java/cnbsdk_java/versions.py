"""Which Java the app asks for, in priority order (the first present decides):
``BP_JVM_VERSION``, the Maven compiler's release/target in ``pom.xml``, the JAR manifest's
``Build-Jdk-Spec``; else the catalog's default. A major (``17``) means its newest release.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cnbsdk.deps.planner import VersionRequest
from cnbsdk_java.manifest import read_manifest
from cnbsdk_java.pom import compiler_release


def as_constraint(value: str) -> str:
    """``17`` -> ``17.*``; ``1.8`` -> ``8.*``; anything else (``17.0.9``, ``>=17``) as given."""
    value = value.strip()
    if value.startswith("1.") and value[2:].isdigit():
        value = value[2:]
    return f"{value}.*" if value.isdigit() else value


def jvm_requests(
    environ: Mapping[str, str], pom: Path | None, jar: Path | None
) -> list[VersionRequest | None]:
    """The sources of a requested Java version for the JRE."""
    requests: list[VersionRequest | None] = [
        VersionRequest("BP_JVM_VERSION", as_constraint(environ.get("BP_JVM_VERSION", "")))
    ]
    if pom is not None and pom.is_file():
        release = compiler_release(pom)
        if release is not None:
            requests.append(VersionRequest(f"pom.xml {release.source}", f"{release.major}.*"))
    if jar is not None:
        spec = (read_manifest(jar) or {}).get("Build-Jdk-Spec", "")
        if spec:
            requests.append(VersionRequest("MANIFEST.MF Build-Jdk-Spec", as_constraint(spec)))
    return requests


def jdk_requests(pom: Path) -> list[VersionRequest | None]:
    """The JDK compiles for the release the project targets: any JDK at least that new
    (else the catalog's default JDK; the JRE follows ``BP_JVM_VERSION`` on its own)."""
    release = compiler_release(pom) if pom.is_file() else None
    if release is None:
        return []
    return [VersionRequest(f"pom.xml {release.source}", f">={release.major}")]
