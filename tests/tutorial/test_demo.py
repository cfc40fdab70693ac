"""scripts/demo, the README's first command, shows the tutorial buildpack working."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_demo_packages_detects_builds_and_runs_the_process(tmp_path: Path) -> None:
    completed = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo")],
        env={**os.environ, "DEMO_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    for expected in (
        "packaged examples/hello 0.1.0",
        "detect: FAIL (exit 100)",
        "detect: PASS (exit 0)",
        "Creating layer 'hello'",
        "Reusing layer 'hello' (version 1.0.0 unchanged)",
        "Hello, world!\nThis app was built by your first buildpack.\n",
    ):
        assert expected in output
    layers = tmp_path / "hello-app" / "layers" / "examples_hello"
    assert (layers / "launch.toml").is_file() and (layers / "hello.sbom.cdx.json").is_file()
