"""What the buildpack-side models give their users beyond parsing: normalised values,
inferred targets, plan options in detector order, the restored layer form, SBOM names."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnbsdk.errors import SpecError
from cnbsdk.spec.build_plan import BuildPlan
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.ids import AUTHOR_BUILDPACK_APIS, ApiVersion, author_buildpack_api
from cnbsdk.spec.launch_toml import LaunchToml
from cnbsdk.spec.layer_toml import LayerContentMetadata, LayerTypes
from cnbsdk.spec.sbom import SBOM_FORMATS, media_type_for_filename, sbom_extension
from cnbsdk.spec.target import Distro, Target

FIXTURES = Path(__file__).parent / "fixtures"
HEADER = 'api = "0.12"\n[buildpack]\nid = "example/ruby"\nversion = "1.2.3"\n'


def descriptor(extra: str = "", header: str = HEADER) -> BuildpackDescriptor:
    return BuildpackDescriptor.from_toml(header + extra)


def test_legacy_sha256_and_upper_case_checksums_are_normalised() -> None:
    digest = "AB" * 32
    legacy = descriptor(
        f'[[metadata.dependencies]]\nid = "n"\nversion = "1"\nuri = "u"\nsha256 = "{digest}"\n'
    )
    prefixed = descriptor(
        f'[[metadata.dependencies]]\nid = "n"\nversion = "1"\nuri = "u"\n'
        f'checksum = "SHA256:{digest}"\n'
    )

    expected = "sha256:" + "ab" * 32
    assert legacy.metadata.dependencies[0].checksum == expected
    assert prefixed.metadata.dependencies[0] == legacy.metadata.dependencies[0]
    assert 'checksum = "' + expected in legacy.to_toml()


def test_paketo_deprecation_date_datetime_is_kept_as_rfc3339_text() -> None:
    paketo = BuildpackDescriptor.read(FIXTURES / "third-party/paketo-buildpack.toml")

    assert paketo.metadata.dependencies[0].deprecation_date == "2026-04-30T00:00:00Z"
    assert paketo.metadata.extra["pre-package"] == "./scripts/build.sh"
    assert paketo.metadata.default_versions == {"node": "20.*.*"}
    assert [c.name for c in paketo.metadata.configurations if c.launch] == [
        "BPL_NODE_OPTIMIZE_MEMORY"
    ]


def test_both_exec_env_spellings_read_the_same_and_write_pack_s_string_array() -> None:
    as_strings = descriptor('exec-env = ["production", "test"]\n')
    as_tables = descriptor('[[buildpack.exec-env]]\nname = "production"\n'
                           '[[buildpack.exec-env]]\nname = "test"\n')  # fmt: skip

    assert as_tables == as_strings
    assert as_strings.buildpack.exec_env == ("production", "test")
    assert as_tables.to_dict()["buildpack"]["exec-env"] == ["production", "test"]


def test_composite_buildpack_may_declare_targets_as_the_spec_allows() -> None:
    spec_example = BuildpackDescriptor.read(FIXTURES / "spec/buildpack.toml")

    assert spec_example.is_composite
    assert spec_example.targets[0] == Target(
        os="linux", arch="arm", variant="v8", distros=(Distro("ubuntu", "22.04"),)
    )
    assert spec_example.order[0].group[0].exec_env == ("production",)


def test_declared_targets_win_over_stacks() -> None:
    paketo = BuildpackDescriptor.read(FIXTURES / "third-party/paketo-buildpack.toml")

    assert [(t.os, t.arch) for t in paketo.effective_targets()] == [
        ("linux", "amd64"),
        ("linux", "arm64"),
    ]


def test_bionic_stack_maps_to_ubuntu_18_04_on_amd64_and_star_matches_anything() -> None:
    legacy = BuildpackDescriptor.read(FIXTURES / "spec/stacks-buildpack.toml")

    bionic, anything = legacy.effective_targets()

    assert bionic.matches("linux", "amd64", distro=Distro("ubuntu", "18.04"))
    assert not bionic.matches("linux", "arm64", distro=Distro("ubuntu", "18.04"))
    assert not bionic.matches("linux", "amd64", distro=Distro("ubuntu", "22.04"))
    assert anything.matches("windows", "arm64", distro=Distro("debian", "12"))


def test_without_targets_a_component_is_for_linux_and_a_composite_for_nothing_declared() -> None:
    component = descriptor('[[stacks]]\nid = "io.buildpacks.stacks.jammy"\n')
    composite = BuildpackDescriptor.read(FIXTURES / "third-party/composite-buildpack.toml")

    assert component.effective_targets() == (Target(os="linux"),)
    assert component.effective_targets(has_bin_build=False) == ()
    assert composite.effective_targets() == ()


def test_windows_distro_without_a_name_is_accepted() -> None:
    windows = descriptor(
        '[[targets]]\nos = "windows"\n[[targets.distros]]\nversion = "10.0.17763"\n'
    )

    assert windows.targets[0].distros == (Distro(name="", version="10.0.17763"),)
    assert windows.targets[0].matches("windows", "amd64", distro=Distro("", "10.0.17763"))


def test_build_plan_options_come_in_the_order_the_detector_tries_them() -> None:
    plan = BuildPlan.read(FIXTURES / "spec/plan.toml")

    top, alternative = plan.options

    assert [p.name for p in top.provides] == ["ruby"]
    assert top.requires[0].metadata == {"version": "3.3.*"}
    assert [p.name for p in alternative.provides] == ["bundler"]
    assert alternative.requires[0].metadata == {"launch": True}


def test_restored_layer_toml_has_no_types_and_a_layer_without_types_is_ignored() -> None:
    layer = LayerContentMetadata.read(FIXTURES / "third-party/ruby-layer.toml")

    restored = LayerContentMetadata.from_dict(layer.to_dict(include_types=False), file="x.toml")

    assert layer.types == LayerTypes(launch=True, build=False, cache=True)
    assert layer.exec_env == ("production", "development")
    assert restored.types is None
    assert restored.metadata == layer.metadata
    assert restored.effective_types.ignored


def test_launch_toml_of_buildpack_api_0_8_keeps_the_string_command_and_direct() -> None:
    text = '[[processes]]\ntype = "web"\ncommand = "bundle exec rackup"\ndirect = false\n'

    old = LaunchToml.from_toml(text, api=ApiVersion(0, 8))

    assert old.processes[0].command == ("bundle exec rackup",)
    assert old.processes[0].direct is False
    assert LaunchToml.from_toml(old.to_toml(), api=ApiVersion(0, 8)) == old
    with pytest.raises(SpecError, match=r"processes\[0\]\.direct"):
        LaunchToml.from_toml(text, api=ApiVersion(0, 12))


@pytest.mark.parametrize("api", ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12"])
def test_buildpack_toml_of_every_api_the_lifecycle_runs_parses(api: str) -> None:
    stacks = '[[stacks]]\nid = "io.buildpacks.stacks.bionic"\n'

    parsed = descriptor(stacks, header=HEADER.replace('"0.12"', f'"{api}"'))

    assert parsed.api == ApiVersion.parse(api)
    assert parsed.effective_targets()[0].distros == (Distro("ubuntu", "18.04"),)


def test_only_apis_0_10_to_0_12_are_open_to_python_plugins() -> None:
    assert [str(api) for api in AUTHOR_BUILDPACK_APIS] == ["0.10", "0.11", "0.12"]
    assert author_buildpack_api("0.11") == ApiVersion(0, 11)
    with pytest.raises(SpecError) as caught:
        author_buildpack_api("0.9")

    assert str(caught.value) == (
        "unsupported Buildpack API 0.9 for a Python plugin: cnbsdk.buildpack implements "
        "0.10 to 0.12 (bash or Go buildpacks of 0.7 to 0.12 build as they are)"
    )


def test_an_api_older_than_0_7_names_both_ranges() -> None:
    with pytest.raises(SpecError) as caught:
        descriptor(header=HEADER.replace('"0.12"', '"0.6"'))

    assert str(caught.value) == (
        "buildpack.toml: api: unsupported Buildpack API '0.6': cnbsdk runs buildpacks of API "
        "0.7 to 0.12 (Python plugins: 0.10 to 0.12)"
    )


def test_default_process_is_the_one_marked_default() -> None:
    launch = LaunchToml.read(FIXTURES / "third-party/bash-launch.toml")

    assert launch.default_process is not None
    assert launch.default_process.type == "web"
    assert launch.processes[0].working_dir == "/workspace/app"
    assert launch.slices[2].paths == ()


def test_reading_a_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "buildpack.toml"

    with pytest.raises(SpecError) as caught:
        BuildpackDescriptor.read(missing)

    assert str(caught.value) == f"{missing}: file not found"


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("node.sbom.cdx.json", "application/vnd.cyclonedx+json"),
        ("launch.sbom.spdx.json", "application/spdx+json"),
        ("my.layer.sbom.syft.json", "application/vnd.syft+json"),
    ],
)
def test_sbom_file_names_map_to_media_types_and_back(name: str, media_type: str) -> None:
    assert media_type_for_filename(name) == media_type
    assert name.endswith(".sbom." + sbom_extension(media_type))


@pytest.mark.parametrize("name", ["node.sbom.xml", "node.cdx.json", ".sbom.cdx.json"])
def test_unknown_sbom_file_names_are_refused(name: str) -> None:
    with pytest.raises(SpecError, match="SBOM"):
        media_type_for_filename(name)


def test_unknown_sbom_media_type_names_the_known_ones() -> None:
    with pytest.raises(SpecError) as caught:
        sbom_extension("application/json")

    assert all(known in str(caught.value) for known in SBOM_FORMATS)
