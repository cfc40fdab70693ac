"""``--offline``: a plugin buildpack whose build hook downloads a dependency through
``cnbsdk.deps`` builds from its offline package with the network gone.

Starts: a real HTTP server on loopback (tests/deps/http_files.py), stopped before the
packaged ``bin/build`` runs under ``env -i``; skopeo reads the offline ``.cnb``.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cnbsdk.cli.main import cli
from cnbsdk.distribution.buildpackage import read_buildpackage
from tests.deps import http_files
from tests.deps.http_files import FileServer

file_server = http_files.file_server  # the loopback HTTP server fixture

PLUGIN = '''"""Installs the "tool" dependency into a launch layer with cnbsdk.deps."""
from cnbsdk import deps
from cnbsdk.buildpack import BuildResult, DetectResult, hookimpl


@hookimpl
def detect(context):
    return DetectResult.passed()


@hookimpl
def build(context):
    layer = context.layers.uncached("tool", launch=True)
    deps.deliver(context, "tool", "1.*", layer.path)
    return BuildResult()
'''


def tool_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"#!/bin/sh\necho tool 1.4.2\n"
        info = tarfile.TarInfo("tool-1.4.2/bin/tool")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def plugin(root: Path, uri: str, checksum: str) -> Path:
    package_dir = root / "offline_tool_bp"
    package_dir.mkdir(parents=True)
    (package_dir / "__init__.py").write_text(PLUGIN)
    (package_dir / "buildpack.toml").write_text(
        f'''api = "0.10"
[buildpack]
id = "examples/offline-tool"
version = "0.1.0"

[[metadata.dependencies]]
id = "tool"
name = "Tool"
version = "1.4.2"
uri = "{uri}"
checksum = "{checksum}"
strip-components = 1

[[metadata.dependencies]]
id = "tool"
version = "0.9.0"
uri = "{uri}"
checksum = "{checksum}"
strip-components = 1
'''
    )
    return package_dir


def package(*args: str) -> Result:
    return CliRunner().invoke(cli, ["package", "buildpack", *args])


def run_build(buildpack: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """bin/build as the lifecycle runs it: env -i, only the CNB_* inputs."""
    work = tmp_path / "run"
    for name in ("app", "layers", "platform"):
        (work / name).mkdir(parents=True, exist_ok=True)
    (work / "plan.toml").write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "CNB_LAYERS_DIR": str(work / "layers"),
        "CNB_PLATFORM_DIR": str(work / "platform"),
        "CNB_BP_PLAN_PATH": str(work / "plan.toml"),
        "CNB_BUILDPACK_DIR": str(buildpack),
    }
    completed = subprocess.run(
        ["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(buildpack / "bin" / "build")],
        cwd=work / "app",
        capture_output=True,
        text=True,
        check=False,
    )
    return completed, work / "layers"


def test_offline_package_builds_with_the_server_gone(
    file_server: FileServer, tmp_path: Path
) -> None:
    data = tool_archive()
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    source = plugin(tmp_path / "src", file_server.put("dl/tool-1.4.2.tgz", data), checksum)
    offline = tmp_path / "offline"
    online = tmp_path / "online"
    result = package(str(source), "--offline", "--output", str(offline))
    assert result.exit_code == 0, result.output
    assert "downloading tool 1.4.2 from http://127.0.0.1" in result.output
    assert package(str(source), "--output", str(online)).exit_code == 0
    bundled = offline / "dependencies" / checksum.split(":")[1] / "tool-1.4.2.tgz"
    assert bundled.read_bytes() == data
    # buildpack.toml is untouched: delivery finds the copy by checksum
    assert (offline / "buildpack.toml").read_text() == (source / "buildpack.toml").read_text()

    file_server.stop()  # no network route to the dependency from here on

    built, layers = run_build(offline, tmp_path / "offline-run")
    assert built.returncode == 0, built.stdout + built.stderr
    tool = layers / "tool" / "bin" / "tool"  # CNB_LAYERS_DIR is the buildpack's own
    assert tool.read_text() == "#!/bin/sh\necho tool 1.4.2\n"
    assert "Selected Tool version: 1.4.2" in built.stdout + built.stderr

    failed, _ = run_build(online, tmp_path / "online-run")
    assert failed.returncode != 0
    assert "download failed" in failed.stdout + failed.stderr


def test_offline_cnb_carries_the_dependency(file_server: FileServer, tmp_path: Path) -> None:
    data = tool_archive()
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    source = plugin(tmp_path / "src", file_server.put("tool.tgz", data), checksum)
    output = tmp_path / "tool.cnb"
    result = package(str(source), "--offline", "--format", "cnb", "--output", str(output))
    assert result.exit_code == 0, result.output
    skopeo = subprocess.run(
        ["skopeo", "inspect", f"oci-archive:{output}"], capture_output=True, check=False
    )
    assert skopeo.returncode == 0, skopeo.stderr
    (extracted,) = read_buildpackage(str(output), into=tmp_path / "read")
    copy = extracted.directory / "dependencies" / checksum.split(":")[1] / "tool.tgz"
    assert copy.read_bytes() == data
    assert (extracted.directory / "lib" / "cnbsdk" / "deps" / "deliver.py").is_file()


@pytest.mark.parametrize("output_format", ["dir", "cnb", "image"])
def test_a_checksum_mismatch_fails_packaging_and_writes_nothing(
    file_server: FileServer, tmp_path: Path, output_format: str
) -> None:
    data = tool_archive()
    declared = "sha256:" + "ab" * 32
    source = plugin(tmp_path / "src", file_server.put("tool.tgz", data), declared)
    output = tmp_path / "out"
    dest = f"oci:{output}:x" if output_format == "image" else str(output)
    result = package(str(source), "--offline", "--format", output_format, "--output", dest)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in result.output
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    assert f"checksum mismatch: expected {declared}, got {actual}" in lines[-1]
    assert "metadata.dependencies[0]" in lines[-1]
    assert not output.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
