"""What a detect or build run produced, read back from disk as spec models.

Everything is read from the files the buildpack really wrote, so an assertion on a result is
an assertion on what the lifecycle will see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cnbsdk.buildpack.env import LayerEnv
from cnbsdk.spec.build_plan import BuildPlan
from cnbsdk.spec.build_toml import BuildToml
from cnbsdk.spec.ids import ApiVersion
from cnbsdk.spec.launch_toml import LaunchToml
from cnbsdk.spec.layer_toml import LayerContentMetadata, LayerTypes
from cnbsdk.spec.sbom import SBOM_FORMATS
from cnbsdk.spec.store_toml import StoreToml
from cnbsdk.testing.inputs import NON_LAYER_TOMLS

SBOM_EXTENSIONS = tuple(SBOM_FORMATS.values())

DETECT_PASS, DETECT_FAIL = 0, 100


@dataclass(frozen=True)
class RunOutput:
    """Exit code and output of one phase."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout then stderr: what a user reads in the build log."""
        return self.stdout + self.stderr


@dataclass(frozen=True)
class DetectRun(RunOutput):
    """One run of detect: exit 0 passes, 100 fails, anything else is an error."""

    app_dir: Path = field(default=Path())
    platform_dir: Path = field(default=Path())
    plan_path: Path = field(default=Path())

    @property
    def passed(self) -> bool:
        return self.exit_code == DETECT_PASS

    @property
    def failed(self) -> bool:
        return self.exit_code == DETECT_FAIL

    @property
    def errored(self) -> bool:
        return self.exit_code not in (DETECT_PASS, DETECT_FAIL)

    @cached_property
    def plan(self) -> BuildPlan | None:
        """The build plan written to ``CNB_BUILD_PLAN_PATH`` (None when detect did not pass)."""
        if not self.passed or not self.plan_path.is_file():
            return None
        return BuildPlan.read(self.plan_path)


@dataclass(frozen=True)
class LayerOutput:
    """One ``<layers>/<name>.toml`` and its directory."""

    name: str
    layers_dir: Path

    @property
    def path(self) -> Path:
        return self.layers_dir / self.name

    @property
    def toml_path(self) -> Path:
        return self.layers_dir / f"{self.name}.toml"

    @property
    def exists(self) -> bool:
        """Whether the layer directory exists (a launch layer without one reuses the image's)."""
        return self.path.is_dir()

    @cached_property
    def content(self) -> LayerContentMetadata:
        return LayerContentMetadata.read(self.toml_path)

    @property
    def types(self) -> LayerTypes:
        return self.content.effective_types

    @property
    def metadata(self) -> dict[str, Any]:
        return self.content.metadata

    @cached_property
    def env(self) -> LayerEnv:
        """The layer's env files (``env/``, ``env.build/``, ``env.launch/[<process>/]``)."""
        return LayerEnv.read(self.path)

    def env_files(self) -> dict[str, str]:
        """Every env file as ``{"env.launch/NAME.override": raw content}``."""
        files = {}
        for directory in sorted(self.path.glob("env*")):
            for path in sorted(directory.rglob("*")):
                if path.is_file():
                    files[str(path.relative_to(self.path))] = path.read_text(encoding="utf-8")
        return files

    @cached_property
    def sboms(self) -> dict[str, Any]:
        """``<layers>/<name>.sbom.<ext>`` documents by extension (``cdx.json``...)."""
        return read_sboms(self.layers_dir, self.name)


def read_sboms(layers_dir: Path, prefix: str) -> dict[str, Any]:
    documents = {}
    for extension in SBOM_EXTENSIONS:
        path = layers_dir / f"{prefix}.sbom.{extension}"
        if path.is_file():
            documents[extension] = json.loads(path.read_text(encoding="utf-8"))
    return documents


@dataclass(frozen=True)
class BuildRun(RunOutput):
    """One run of build, with everything it left in its layers directory."""

    app_dir: Path = field(default=Path())
    platform_dir: Path = field(default=Path())
    layers_dir: Path = field(default=Path())
    api: ApiVersion | None = None

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    @cached_property
    def launch(self) -> LaunchToml | None:
        path = self.layers_dir / "launch.toml"
        return LaunchToml.read(path, api=self.api) if path.is_file() else None

    @cached_property
    def build(self) -> BuildToml | None:
        path = self.layers_dir / "build.toml"
        return BuildToml.read(path) if path.is_file() else None

    @cached_property
    def store(self) -> StoreToml | None:
        path = self.layers_dir / "store.toml"
        return StoreToml.read(path) if path.is_file() else None

    @cached_property
    def layers(self) -> dict[str, LayerOutput]:
        """Every layer with a ``<name>.toml``, by name."""
        names = sorted(
            p.name.removesuffix(".toml")
            for p in self.layers_dir.glob("*.toml")
            if p.name not in NON_LAYER_TOMLS
        )
        return {name: LayerOutput(name, self.layers_dir) for name in names}

    @cached_property
    def launch_sboms(self) -> dict[str, Any]:
        return read_sboms(self.layers_dir, "launch")

    @cached_property
    def build_sboms(self) -> dict[str, Any]:
        return read_sboms(self.layers_dir, "build")

    @property
    def unmet(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.build.unmet) if self.build else ()
