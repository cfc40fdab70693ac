"""A catalog dependency installed into a layer of its own, keyed on its checksum.

``dependency_layer(context, dependency, "node", build=True, launch=True)`` reuses the layer
while the catalog entry is the same (same checksum), and otherwise fetches the artifact
(offline copy, mapping binding, mirror, URI — see ``cnbsdk.deps.deliver``), installs it and
writes the layer's SBOM entry (name, version, purl, CPE, licences, hash) for you.
"""

from __future__ import annotations

from typing import Any

from cnbsdk.buildpack.layers import LayerRef
from cnbsdk.buildpack.sbom import CYCLONEDX_JSON, Component, Sbom
from cnbsdk.deps.deliver import Dependencies
from cnbsdk.spec.buildpack_toml import Dependency


def dependency_component(dependency: Dependency) -> Component:
    """The SBOM component describing a catalog entry."""
    cpes = tuple(dependency.cpes) or ((dependency.cpe,) if dependency.cpe else ())
    return Component.from_checksum(
        dependency.name or dependency.id,
        dependency.version,
        dependency.checksum,
        purl=dependency.purl,
        cpes=cpes,
        licenses=tuple(dependency.licenses),
    )


def dependency_layer(
    context: Any,
    dependency: Dependency,
    name: str,
    *,
    build: bool = False,
    launch: bool = False,
) -> LayerRef:
    """The layer ``name`` holding ``dependency``: reused when the restored layer holds the
    same catalog entry (id, version and checksum), else rebuilt from the artifact."""
    expected = {"id": dependency.id, "version": dependency.version, "checksum": dependency.checksum}
    layer: LayerRef = context.layers.cached(name, expected, build=build, launch=launch)
    if not layer.reused:
        Dependencies.from_context(context).deliver(dependency, layer.path)
    if CYCLONEDX_JSON in context.layers.sbom_formats:
        layer.write_sbom(Sbom.cyclonedx([dependency_component(dependency)]))
    return layer
