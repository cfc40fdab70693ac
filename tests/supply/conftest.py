"""Fixtures for the supply-chain tests: an app image on a run image made from a local apt
repository (so its OS packages are what the test says), with a launch SBOM naming npm and
PyPI packages."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.stacks.local_apt import ChangelogEntry, LocalAptRepo, stack_file

REPO = Path(__file__).resolve().parents[2]

SBOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "version": 1,
    "components": [
        {"type": "library", "name": "ms", "version": "2.0.0", "purl": "pkg:npm/ms@2.0.0"},
        {"type": "library", "name": "@scope/safe", "version": "1.0.0",
         "purl": "pkg:npm/%40scope/safe@1.0.0"},
        {"type": "library", "name": "Jinja2", "version": "2.10", "purl": "pkg:pypi/jinja2@2.10"},
        {"type": "application", "name": "node", "version": "22.0.0",
         "purl": "pkg:generic/node@22.0.0"},
    ],
}  # fmt: skip

BUILD = """#!/usr/bin/env bash
set -euo pipefail
L="$CNB_LAYERS_DIR"
mkdir -p "$L/deps"
echo "dependencies" > "$L/deps/list"
printf '[types]\\nlaunch = true\\n' > "$L/deps.toml"
cat > "$L/deps.sbom.cdx.json" <<'JSON'
%s
JSON
printf '[[processes]]\\ntype = "web"\\ncommand = ["/bin/true"]\\ndefault = true\\n' \\
    > "$L/launch.toml"
"""


def cnbsdk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cnbsdk.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env=env,
    )


def sbom_buildpack(root: Path) -> Path:
    """A bash buildpack whose one launch layer carries the SBOM above."""
    (root / "bin").mkdir(parents=True)
    (root / "buildpack.toml").write_text(
        'api = "0.10"\n[buildpack]\nid = "tests/sbom-deps"\nversion = "1.0.0"\n'
        'sbom-formats = ["application/vnd.cyclonedx+json"]\n[[targets]]\nos = "linux"\n'
    )
    (root / "bin/detect").write_text("#!/bin/sh\nexit 0\n")
    (root / "bin/build").write_text(BUILD % json.dumps(SBOM))
    for name in ("detect", "build"):
        (root / "bin" / name).chmod(0o755)
    return root


@dataclass
class ScannedApp:
    repo: LocalAptRepo
    stack: Path
    out: Path
    buildpack: Path
    app: Path

    def ref(self, name: str) -> str:
        return f"oci:{self.out}:{name}"


@pytest.fixture(scope="module")
def scanned_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScannedApp]:
    """The probe stack (cnbsdk-probe 1.0-1, a vulnerable version) and an app built on it."""
    tmp = tmp_path_factory.mktemp("supply")
    patch = pytest.MonkeyPatch()
    patch.setenv("CNBSDK_CACHE_DIR", str(tmp / "cache"))
    repo = LocalAptRepo(tmp / "repo")
    repo.add("cnbsdk-probe", "1.0-1", changelog=[ChangelogEntry("1.0-1", "Initial release.")])
    repo.add("cnbsdk-lib", "2.0-1", source="cnbsdk-libs")
    repo.publish()
    stack = stack_file(tmp / "stack-definition.toml", repo, run=["cnbsdk-probe", "cnbsdk-lib"],
                       build=["cnbsdk-lib"])  # fmt: skip
    out = tmp / "out"
    made = ScannedApp(repo, stack, out, sbom_buildpack(tmp / "bp"), tmp / "app")
    made.app.mkdir()
    (made.app / "index.txt").write_text("hello\n")
    created = cnbsdk(
        "stack", "create", str(stack),
        "--run-image", made.ref("run"), "--build-image", made.ref("probe-build"),
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    built = cnbsdk(
        "build", str(made.app), "--image", made.ref("app"), "--cache-dir", str(tmp / "bc"),
        "--buildpack", str(made.buildpack), "--run-image", made.ref("run"),
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    yield made
    patch.undo()


def rewrite_attachment(ref: str, change: Callable[[dict[str, Any], list[bytes]], None]) -> None:
    """What an attacker with write access does: read the attachment image at ``ref``, let
    ``change`` edit (manifest, payloads), push the result under the same tag."""
    from cnbsdk.oci.digest import sha256_digest
    from cnbsdk.oci.open import open_destination, open_source

    source = open_source(ref)
    try:
        manifest = json.loads(source.get_manifest()[0])
        payloads = []
        for layer in manifest["layers"]:
            with source.open_blob(layer["digest"]) as stream:
                payloads.append(stream.read())
    finally:
        source.close()
    change(manifest, payloads)
    for layer, data in zip(manifest["layers"], payloads, strict=True):
        layer["digest"], layer["size"] = sha256_digest(data), len(data)
    destination = open_destination(ref)
    try:
        for data in payloads:
            destination.put_blob(sha256_digest(data), len(data), io.BytesIO(data))
        destination.put_manifest(json.dumps(manifest).encode(), manifest["mediaType"])
        destination.commit()
    finally:
        destination.close()
