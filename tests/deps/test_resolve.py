"""Picking a [[metadata.dependencies]] entry by id, constraint, stack and target."""

from __future__ import annotations

import pytest

from cnbsdk.deps import DependencyError, resolve
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor, BuildpackMetadata

SUM = "sha256:" + "a" * 64

TOML = f'''
api = "0.10"
[buildpack]
id = "examples/node"
version = "1.0.0"

[metadata.default-versions]
node = "20.*"

[[metadata.dependencies]]
id = "node"
version = "20.11.1"
uri = "https://example.invalid/node-20.11.1.tgz"
checksum = "{SUM}"
stacks = ["*"]

[[metadata.dependencies]]
id = "node"
version = "20.12.0"
uri = "https://example.invalid/node-20.12.0-arm64.tgz"
checksum = "{SUM}"
arch = "arm64"

[[metadata.dependencies]]
id = "node"
version = "22.1.0"
uri = "https://example.invalid/node-22.1.0.tgz"
checksum = "{SUM}"
stacks = ["io.buildpacks.stacks.jammy"]

[[metadata.dependencies]]
id = "node"
version = "22.2.0-rc.1"
uri = "https://example.invalid/node-22.2.0-rc.1.tgz"
checksum = "{SUM}"

[[metadata.dependencies]]
id = "yarn"
version = "1.22.19"
uri = "https://example.invalid/yarn.tgz"
checksum = "{SUM}"
'''


@pytest.fixture
def metadata() -> BuildpackMetadata:
    return BuildpackDescriptor.from_toml(TOML).metadata


def test_highest_matching_version_wins(metadata: BuildpackMetadata) -> None:
    assert resolve(metadata, "node", "22.*").version == "22.1.0"
    assert resolve(metadata, "node", "^20").version == "20.12.0"


def test_default_version_applies_to_empty_and_default(metadata: BuildpackMetadata) -> None:
    assert resolve(metadata, "node", "").version == "20.12.0"
    assert resolve(metadata, "node", "default").version == "20.12.0"
    assert resolve(metadata, "yarn", "").version == "1.22.19"  # no default: any version


def test_stack_and_target_filter_candidates(metadata: BuildpackMetadata) -> None:
    assert resolve(metadata, "node", "20.*", arch="amd64").version == "20.11.1"
    jammy = "io.buildpacks.stacks.jammy"
    assert resolve(metadata, "node", "*", stack=jammy).version == "22.1.0"
    with pytest.raises(DependencyError):
        resolve(metadata, "node", "22.*", stack="io.buildpacks.stacks.bionic")


def test_no_match_lists_the_versions_there_are(metadata: BuildpackMetadata) -> None:
    with pytest.raises(DependencyError) as caught:
        resolve(metadata, "node", "~18", file="bp/buildpack.toml")
    message = str(caught.value)
    assert message.startswith("bp/buildpack.toml: metadata.dependencies: no version of 'node'")
    assert "'~18'" in message
    assert "(versions: 20.11.1, 20.12.0, 22.1.0, 22.2.0-rc.1)" in message
    assert "\n" not in message
