"""Where one build's files live on the host, and where buildpacks see them.

A build works in one host directory tree (the ``Workspace``). Buildpacks see those
directories at the paths of the spec's filesystem layout when they run in the sandbox
(``SANDBOX_PATHS``), or at their host paths with ``--no-sandbox`` (``Workspace.host_paths``).
Every module that writes a path into an env var or a file a buildpack reads uses the
``Paths`` of the runner it goes through, never a host path directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The Platform API this lifecycle implements (written into app images as CNB_PLATFORM_API).
PLATFORM_API = "0.13"


@dataclass(frozen=True)
class Paths:
    """The directories of a build as a buildpack sees them (platform.md §Filesystem)."""

    app: str
    layers: str
    platform: str
    buildpacks: str
    build_config: str


SANDBOX_PATHS = Paths(
    app="/workspace",
    layers="/layers",
    platform="/platform",
    buildpacks="/cnb/buildpacks",
    build_config="/cnb/build-config",
)


@dataclass(frozen=True)
class Workspace:
    """The host directories of one build, all under ``root``."""

    root: Path

    @property
    def app(self) -> Path:
        return self.root / "workspace"

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def platform(self) -> Path:
        return self.root / "platform"

    @property
    def buildpacks(self) -> Path:
        """``<id with / as _>/<version>/`` directories, as on a builder."""
        return self.root / "buildpacks"

    @property
    def build_config(self) -> Path:
        return self.root / "build-config"

    @classmethod
    def create(cls, root: str | os.PathLike[str]) -> Workspace:
        """Make the directory tree (empty) under ``root``."""
        workspace = cls(Path(root).absolute())
        for directory in (
            workspace.app,
            workspace.layers,
            workspace.platform / "env",
            workspace.buildpacks,
            workspace.build_config / "env",
        ):
            directory.mkdir(parents=True, exist_ok=True)
        return workspace

    def host_paths(self) -> Paths:
        return Paths(
            app=str(self.app),
            layers=str(self.layers),
            platform=str(self.platform),
            buildpacks=str(self.buildpacks),
            build_config=str(self.build_config),
        )

    def inner_path(self, host_path: Path, paths: Paths) -> str:
        """Translate a host path under this workspace to what a buildpack sees."""
        host_path = Path(host_path).absolute()
        for host_dir, inner in (
            (self.app, paths.app),
            (self.layers, paths.layers),
            (self.platform, paths.platform),
            (self.buildpacks, paths.buildpacks),
            (self.build_config, paths.build_config),
        ):
            if host_path == host_dir or host_dir in host_path.parents:
                return str(Path(inner) / host_path.relative_to(host_dir))
        raise ValueError(f"{host_path} is not inside the workspace {self.root}")
