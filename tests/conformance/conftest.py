"""Run a packaged buildpack the way the reference lifecycle does, with a bare environment.

``env -i`` with only the ``CNB_*`` inputs of Buildpack API >= 0.8 plus the legacy positional
arguments, ``PATH=/usr/bin:/bin`` (the system python3, which has no pluggy: the buildpack
must bring everything in its lib/), and the app directory as the working directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cnbsdk.distribution.buildpack_dir import package_buildpack_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURES = Path(__file__).parent / "fixtures"
BARE_PATH = "/usr/bin:/bin"
BUILDPACK_ID = "conformance/everything"
ESCAPED_ID = "conformance_everything"


@dataclass
class PhaseRun:
    """One call of bin/detect or bin/build and what it left behind."""

    exit_code: int
    stdout: str
    stderr: str
    app: Path
    plan_path: Path
    layers_root: Path | None = None
    record_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> Path:
        assert self.layers_root is not None
        return self.layers_root / ESCAPED_ID

    @property
    def seen(self) -> dict[str, Any]:
        """What the buildpack process observed (cwd, argv, env...)."""
        assert self.record_path is not None
        return json.loads(self.record_path.read_text())

    def toml(self, name: str) -> dict[str, Any]:
        """A file in this buildpack's layers dir, parsed with the stdlib (not our models)."""
        return tomllib.loads((self.layers / name).read_text())


class BareLifecycle:
    """Calls a packaged buildpack's executables like lifecycle's buildpack/{detect,build}.go."""

    def __init__(self, buildpack_dir: Path, root: Path) -> None:
        self.buildpack_dir = buildpack_dir
        self.root = root
        self.count = 0
        self.path = BARE_PATH  # the PATH given to the buildpack: where python3 comes from

    def _dir(self, name: str) -> Path:
        self.count += 1
        path = self.root / f"{name}-{self.count}"
        path.mkdir(parents=True)
        return path

    def app(self, instructions: Mapping[str, Any], files: Mapping[str, str] | None = None) -> Path:
        app = self._dir("app")
        (app / "conformance.json").write_text(json.dumps(instructions))
        for name, text in (files or {}).items():
            (app / name).write_text(text)
        return app

    def platform(self, env: Mapping[str, str] | None = None) -> Path:
        platform = self._dir("platform")
        (platform / "env").mkdir()
        for name, value in (env or {}).items():
            (platform / "env" / name).write_text(value)
        return platform

    def _run(self, phase: str, args: list[str], env: dict[str, str], app: Path) -> tuple:
        assignments = [f"{k}={v}" for k, v in env.items()]
        command = ["/usr/bin/env", "-i", *assignments, str(self.buildpack_dir / "bin" / phase)]
        completed = subprocess.run(
            [*command, *args], cwd=app, capture_output=True, text=True, check=False
        )
        return completed.returncode, completed.stdout, completed.stderr

    def detect(
        self,
        instructions: Mapping[str, Any],
        *,
        positional_only: bool = False,
        record: bool = False,
        app: Path | None = None,
    ) -> PhaseRun:
        work = self._dir("detect")
        record_path = work / "seen.json"
        if app is None:
            app = self.app({**instructions, **({"record": str(record_path)} if record else {})})
        platform = self.platform()
        plan = work / "plan.toml"
        plan.touch()  # lifecycle creates the plan file before calling detect
        env = {"PATH": self.path}
        if not positional_only:
            env |= {
                "CNB_BUILDPACK_DIR": str(self.buildpack_dir),
                "CNB_PLATFORM_DIR": str(platform),
                "CNB_BUILD_PLAN_PATH": str(plan),
                "CNB_TARGET_OS": "linux",
                "CNB_TARGET_ARCH": "amd64",
            }
        code, out, err = self._run("detect", [str(platform), str(plan)], env, app)
        return PhaseRun(code, out, err, app, plan, record_path=record_path)

    def build(
        self,
        instructions: Mapping[str, Any],
        *,
        plan: str = "",
        record: bool = False,
        layers_root: Path | None = None,
        app: Path | None = None,
        platform_env: Mapping[str, str] | None = None,
    ) -> PhaseRun:
        work = self._dir("build")
        record_path = work / "seen.json"
        if app is None:
            app = self.app({**instructions, **({"record": str(record_path)} if record else {})})
        platform = self.platform(platform_env)
        plan_path = work / "plan.toml"
        plan_path.write_text(plan)
        if layers_root is None:
            layers_root = work / "layers"
        layers = layers_root / ESCAPED_ID
        layers.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": self.path,
            "CNB_BUILDPACK_DIR": str(self.buildpack_dir),
            "CNB_PLATFORM_DIR": str(platform),
            "CNB_LAYERS_DIR": str(layers),
            "CNB_BP_PLAN_PATH": str(plan_path),
            "CNB_TARGET_OS": "linux",
            "CNB_TARGET_ARCH": "amd64",
        }
        code, out, err = self._run("build", [str(layers), str(platform), str(plan_path)], env, app)
        return PhaseRun(code, out, err, app, plan_path, layers_root, record_path)


@pytest.fixture(scope="session")
def packaged_conformance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture plugin, packaged once per session with the library the CLI uses."""
    output = tmp_path_factory.mktemp("packaged") / ESCAPED_ID
    return package_buildpack_dir(FIXTURES / "conformance_bp", output).path


@pytest.fixture
def lifecycle(packaged_conformance: Path, tmp_path: Path) -> BareLifecycle:
    return BareLifecycle(packaged_conformance, tmp_path)
