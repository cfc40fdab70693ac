"""pack's package.toml: the files pack reads, read the same; the ones pack refuses, refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnbsdk.errors import SpecError
from cnbsdk.spec import package_toml
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.package_toml import PackageDependency, PackageToml
from cnbsdk.spec.target import Distro
from cnbsdk.spec.toml_file import read_toml

PACKAGES = Path(__file__).parent / "fixtures" / "platform" / "packages"


@pytest.fixture(params=["with-jsonschema", "model-only"])
def checks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: as the CLI does, and as the vendored runtime without jsonschema."""
    if request.param == "model-only":
        monkeypatch.setattr(package_toml, "validate", lambda *args, **kwargs: None)
    return str(request.param)


def test_composite_package_reads_its_components_and_image() -> None:
    package = PackageToml.read(PACKAGES / "greetings" / "package.toml")

    assert package.buildpack_uri == "."
    assert package.dependencies == (
        PackageDependency(uri="../hello"),
        PackageDependency(uri="../world"),
        PackageDependency(image="localhost:5000/example/farewell-package:0.3.0"),
    )
    assert package.os == "linux"
    assert not package.is_extension


def test_dependency_uris_are_relative_to_the_package_toml() -> None:
    """The composite's order names exactly the ids found at the dependency URIs (plus the one
    that comes from an image)."""
    folder = PACKAGES / "greetings"
    package = PackageToml.read(folder / "package.toml")
    composite = BuildpackDescriptor.read(folder / package.buildpack_uri / "buildpack.toml")
    local_ids = {
        str(BuildpackDescriptor.read(folder / dep.uri / "buildpack.toml").buildpack.id)
        for dep in package.dependencies
        if dep.uri
    }
    ordered = {str(entry.id) for group in composite.order for entry in group.group}

    assert local_ids == {"example/hello", "example/world"}
    assert ordered - local_ids == {"example/farewell"}


@pytest.mark.parametrize("name", ["greetings", "hello", "world"])
def test_round_trip_keeps_every_key(name: str, tmp_path: Path) -> None:
    source = PACKAGES / name / "package.toml"
    package = PackageToml.read(source)
    package.write(tmp_path / "package.toml")

    assert read_toml(tmp_path / "package.toml") == read_toml(source)
    assert PackageToml.read(tmp_path / "package.toml") == package


def test_platform_os_defaults_to_linux_and_is_not_written_when_absent() -> None:
    package = PackageToml.from_toml('[buildpack]\nuri = "."\n')
    assert package.os == "linux"
    assert "platform" not in package.to_dict()


def test_windows_package() -> None:
    package = PackageToml.from_toml('[buildpack]\nuri = "."\n[platform]\nos = "windows"\n')
    assert package.os == "windows"


def test_extension_package() -> None:
    package = PackageToml.from_toml('[extension]\nuri = "ext/"\n')
    assert package.is_extension
    assert package.module_uri == "ext/"
    assert package.to_dict() == {"extension": {"uri": "ext/"}}


def test_pack_distributions_become_one_distro_per_version_and_are_written_back_grouped() -> None:
    text = """
[buildpack]
uri = "."
[[targets]]
os = "linux"
arch = "amd64"
[[targets.distributions]]
name = "ubuntu"
versions = ["22.04", "24.04"]
[[targets.distributions]]
name = "debian"
"""
    package = PackageToml.from_toml(text)
    (target,) = package.targets
    assert target.distros == (
        Distro("ubuntu", "22.04"),
        Distro("ubuntu", "24.04"),
        Distro("debian"),
    )
    assert target.matches("linux", "amd64", distro=Distro("ubuntu", "24.04"))
    assert package.to_dict()["targets"] == [
        {
            "os": "linux",
            "arch": "amd64",
            "distributions": [
                {"name": "ubuntu", "versions": ["22.04", "24.04"]},
                {"name": "debian"},
            ],
        }
    ]


def test_buildpack_toml_style_distros_are_accepted_and_written_in_packs_shape() -> None:
    text = (
        '[buildpack]\nuri = "."\n'
        '[[targets]]\nos = "linux"\n[[targets.distros]]\nname = "debian"\nversion = "12"\n'
    )
    package = PackageToml.from_toml(text)
    assert package.to_dict()["targets"] == [
        {"os": "linux", "distributions": [{"name": "debian", "versions": ["12"]}]}
    ]


BAD = [
    ("no buildpack table", "", "needs a [buildpack] table"),
    ("buildpack without uri", "[buildpack]\n", "buildpack.uri: is required"),
    ("empty uri", '[buildpack]\nuri = ""\n', "buildpack.uri: must not be empty"),
    ("uri not a string", "[buildpack]\nuri = 3\n", "buildpack.uri: expected a string, got int 3"),
    (
        "buildpack and extension",
        '[buildpack]\nuri = "."\n[extension]\nuri = "."\n',
        "set only one of [buildpack] or [extension]",
    ),
    (
        "dependency with uri and image",
        '[buildpack]\nuri = "."\n[[dependencies]]\nuri = "../a"\nimage = "localhost:5000/a"\n',
        "dependencies[0]: set only one of uri or image",
    ),
    (
        "empty dependency",
        '[buildpack]\nuri = "."\n[[dependencies]]\nuri = "../a"\n[[dependencies]]\n',
        "dependencies[1]: needs uri or image",
    ),
    (
        "unknown os",
        '[buildpack]\nuri = "."\n[platform]\nos = "darwin"\n',
        "platform.os: expected one of 'linux', 'windows', got str 'darwin'",
    ),
    (
        "target arch not a string",
        '[buildpack]\nuri = "."\n[[targets]]\narch = 64\n',
        "targets[0].arch: expected a string, got int 64",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in BAD], ids=[c[0] for c in BAD])
def test_bad_package_toml_fails_naming_file_and_field(
    checks: str, text: str, expected: str
) -> None:
    with pytest.raises(SpecError) as caught:
        PackageToml.from_toml(text)
    message = str(caught.value)
    assert message.startswith("package.toml: ")
    assert expected in message
    assert "\n" not in message


def test_unknown_keys_are_refused_like_pack_does() -> None:
    with pytest.raises(SpecError, match=r"buildpack: .*'path' was unexpected"):
        PackageToml.from_toml('[buildpack]\nuri = "."\npath = "x"\n')


def test_windows_distribution_without_a_name_round_trips() -> None:
    """buildpack.md §Targets: on Windows the distro name is empty and only versions are set."""
    text = (
        '[buildpack]\nuri = "."\n[[targets]]\nos = "windows"\narch = "amd64"\n'
        '[[targets.distributions]]\nversions = ["10.0.20348.1970"]\n'
    )
    package = PackageToml.from_toml(text)
    assert package.targets[0].distros == (Distro("", "10.0.20348.1970"),)
    assert package.os == "windows"
    assert PackageToml.from_toml(package.to_toml()) == package
    assert package.to_dict()["targets"][0]["distributions"] == [{"versions": ["10.0.20348.1970"]}]
