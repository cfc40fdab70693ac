"""``cnbsdk deps update`` against a local npm registry the test fills: the newest releases
of each wanted line, SHA256 of the new ones, registry-relative URIs, comments kept."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from tests.npm_registry import NpmRegistry

BUILDPACK = """# keep this comment
api = "0.10"

[buildpack]
id = "examples/runtime"
version = "1.0.0"

[metadata.default-versions]
runtime = "1.*"

[[metadata.dependency-constraints]]
id = "runtime"
constraint = "1.*"
patches = 2
source = "npm:fake-runtime"
name = "Fake Runtime"
purl = "pkg:generic/fake-runtime@{version}"
cpes = ["cpe:2.3:a:example:fake:{version}:*:*:*:*:*:*:*"]
licenses = ["MIT"]
strip-components = 1

[[metadata.dependencies]]
id = "other"
version = "3.0.0"
uri = "https://downloads.example.invalid/other-3.0.0.tgz"
checksum = "sha256:%s"
""" % ("0" * 64)


def run(*args: str, registry: NpmRegistry) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, list(args), env={"BP_NPM_REGISTRY": registry.url}, catch_exceptions=False
    )
    return result.exit_code, result.stdout


@pytest.fixture
def buildpack(tmp_path: Path, npm_registry: NpmRegistry) -> Path:
    for version in ("1.0.0", "1.2.0", "1.2.3", "2.0.0-rc.1", "2.0.0"):
        npm_registry.publish("fake-runtime", version)
    (tmp_path / "buildpack.toml").write_text(BUILDPACK)
    return tmp_path


def test_the_newest_patches_of_each_line_with_their_sha256(
    buildpack: Path,
    npm_registry: NpmRegistry,
) -> None:
    code, out = run("deps", "update", str(buildpack), registry=npm_registry)
    assert code == 0, out
    assert "runtime: added 1.2.3, 1.2.0" in out
    text = (buildpack / "buildpack.toml").read_text()
    assert text.startswith("# keep this comment\n")
    assert npm_registry.url not in text and "127.0.0.1" not in text
    descriptor = BuildpackDescriptor.from_toml(text)
    entries = {(d.id, d.version): d for d in descriptor.metadata.dependencies}
    assert set(entries) == {("other", "3.0.0"), ("runtime", "1.2.3"), ("runtime", "1.2.0")}
    new = entries[("runtime", "1.2.3")]
    data = npm_registry.packages["fake-runtime"]["1.2.3"][1]
    assert new.checksum == "sha256:" + hashlib.sha256(data).hexdigest()
    assert new.uri == "npm:/fake-runtime/-/fake-runtime-1.2.3.tgz"
    assert (new.name, new.purl, new.licenses, new.strip_components) == (
        "Fake Runtime", "pkg:generic/fake-runtime@1.2.3", ("MIT",), 1,
    )  # fmt: skip
    assert new.cpes == ("cpe:2.3:a:example:fake:1.2.3:*:*:*:*:*:*:*",)

    # a new patch: added, the oldest dropped, the other kept without downloading it again
    npm_registry.publish("fake-runtime", "1.2.4")
    npm_registry.requests.clear()
    code, out = run("deps", "update", str(buildpack), "--json", registry=npm_registry)
    assert code == 0, out
    assert json.loads(out) == [
        {"id": "runtime", "added": ["1.2.4"], "removed": ["1.2.0"], "kept": ["1.2.3"]}
    ]
    assert [p for p in npm_registry.requests if p.endswith(".tgz")] == [
        "/fake-runtime/-/fake-runtime-1.2.4.tgz"
    ]
    code, out = run("deps", "update", str(buildpack), registry=npm_registry)
    assert "the catalog is up to date" in out


def test_dry_run_writes_nothing(buildpack: Path, npm_registry: NpmRegistry) -> None:
    before = (buildpack / "buildpack.toml").read_bytes()
    code, out = run("deps", "update", str(buildpack), "--dry-run", registry=npm_registry)
    assert code == 0 and "--dry-run: buildpack.toml not written" in out
    assert (buildpack / "buildpack.toml").read_bytes() == before


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('constraint = "1.*"', 'constraint = "one"', "dependency-constraints[0].constraint"),
        ('source = "npm:fake-runtime"', 'source = "ftp:x"', "unknown source 'ftp:x'"),
        ("patches = 2", "patches = 0", "dependency-constraints[0].patches"),
        (
            'source = "npm:fake-runtime"',
            'source = "npm:no-such-package"',
            "no package 'no-such-package'",
        ),
        ('constraint = "1.*"', 'constraint = "7.*"', "no release of 'runtime' matches"),
    ],
)
def test_bad_constraints_are_one_line(
    buildpack: Path,
    npm_registry: NpmRegistry,
    old: str,
    new: str,
    message: str,
) -> None:
    path = buildpack / "buildpack.toml"
    path.write_text(path.read_text().replace(old, new))
    before = path.read_bytes()
    result = CliRunner().invoke(
        cli, ["deps", "update", str(buildpack)], env={"BP_NPM_REGISTRY": npm_registry.url}
    )
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert path.read_bytes() == before
