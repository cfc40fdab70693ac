"""An app image as a test reads it: its config, and its labels parsed into the spec models
(the lifecycle metadata with each buildpack's layers, the build metadata with the processes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from cnbsdk.oci.models import ImageConfig
from cnbsdk.spec.labels import (
    BUILD_METADATA_LABEL,
    LIFECYCLE_METADATA_LABEL,
    PROJECT_METADATA_LABEL,
    BuildMetadata,
    LayerMetadata,
    LifecycleMetadata,
    ProcessMetadata,
    ProjectMetadata,
)


@dataclass(frozen=True)
class AppImage:
    """The image a build wrote: its config and its labels parsed into the spec models."""

    ref: str
    digest: str
    config: ImageConfig

    @property
    def env(self) -> dict[str, str]:
        return self.config.env_dict()

    @property
    def entrypoint(self) -> tuple[str, ...]:
        return tuple(self.config.entrypoint or ())

    @property
    def labels(self) -> Mapping[str, str]:
        return self.config.labels

    @cached_property
    def lifecycle_metadata(self) -> LifecycleMetadata:
        return LifecycleMetadata.from_json(self.labels[LIFECYCLE_METADATA_LABEL])

    @cached_property
    def build_metadata(self) -> BuildMetadata:
        return BuildMetadata.from_json(self.labels[BUILD_METADATA_LABEL])

    @cached_property
    def project_metadata(self) -> ProjectMetadata:
        return ProjectMetadata.from_json(self.labels.get(PROJECT_METADATA_LABEL, "{}"))

    @property
    def layers(self) -> dict[str, dict[str, LayerMetadata]]:
        """``{buildpack id: {layer name: LayerMetadata (sha, data, build/launch/cache)}}``."""
        return {bp.key: dict(bp.layers) for bp in self.lifecycle_metadata.buildpacks}

    def layer(self, buildpack: str, name: str) -> LayerMetadata:
        found = self.layers.get(buildpack, {}).get(name)
        if found is None:
            listed = ", ".join(f"{b}:{n}" for b, ls in self.layers.items() for n in ls) or "none"
            raise AssertionError(f"the image has no layer {buildpack}:{name} (layers: {listed})")
        return found

    @property
    def processes(self) -> dict[str, ProcessMetadata]:
        return {str(p.type): p for p in self.build_metadata.processes}

    @property
    def buildpacks(self) -> tuple[str, ...]:
        return tuple(str(bp.id) for bp in self.build_metadata.buildpacks)


__all__ = ["AppImage"]
