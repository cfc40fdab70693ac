"""Fixtures for the author's API tests: the fixture plugins and a lifecycle-like workspace."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURE_PLUGINS = Path(__file__).parent / "fixture_plugins"


@pytest.fixture(autouse=True, scope="session")
def _fixture_plugins_importable() -> Iterator[None]:
    sys.path.insert(0, str(FIXTURE_PLUGINS))
    yield
    sys.path.remove(str(FIXTURE_PLUGINS))


@dataclass
class Workspace:
    """The directories the lifecycle gives a buildpack, under one temp dir."""

    root: Path
    app: Path
    platform: Path
    layers: Path
    buildpack: Path

    @property
    def plan(self) -> Path:
        return self.root / "plan.toml"

    @property
    def bp_plan(self) -> Path:
        return self.root / "bp-plan.toml"

    def detect_env(self, **extra: str) -> dict[str, str]:
        return {
            "CNB_PLATFORM_DIR": str(self.platform),
            "CNB_BUILD_PLAN_PATH": str(self.plan),
            "CNB_BUILDPACK_DIR": str(self.buildpack),
            **extra,
        }

    def build_env(self, **extra: str) -> dict[str, str]:
        return {
            "CNB_PLATFORM_DIR": str(self.platform),
            "CNB_LAYERS_DIR": str(self.layers),
            "CNB_BP_PLAN_PATH": str(self.bp_plan),
            "CNB_BUILDPACK_DIR": str(self.buildpack),
            **extra,
        }

    def platform_env(self, name: str, value: str) -> None:
        (self.platform / "env").mkdir(exist_ok=True)
        (self.platform / "env" / name).write_text(value)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """An app dir (the cwd), platform dir, layers dir and the fixture_hello buildpack dir."""
    ws = Workspace(
        root=tmp_path,
        app=tmp_path / "app",
        platform=tmp_path / "platform",
        layers=tmp_path / "layers",
        buildpack=FIXTURE_PLUGINS / "fixture_hello",
    )
    for directory in (ws.app, ws.platform, ws.layers):
        directory.mkdir()
    ws.plan.write_text("")
    monkeypatch.chdir(ws.app)
    return ws
