"""Unknown keys in a CNB file's own tables: named with the key most likely meant."""

from __future__ import annotations

import pytest

from cnbsdk.errors import SpecError
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.toml_file import parse_toml
from cnbsdk.spec.unknown_keys import unknown_keys

GOOD = """
api = "0.10"
[buildpack]
id = "a/b"
version = "1.0.0"
sbom-formats = ["application/vnd.cyclonedx+json"]
[[targets]]
os = "linux"
[[metadata.configurations]]
name = "BP_X"
[metadata.anything]
mine = true
"""


def keys(text: str, schema: str = "buildpack") -> list[str]:
    return [str(key) for key in unknown_keys(parse_toml(text, file="t.toml"), schema)]


def test_a_correct_buildpack_toml_and_its_free_metadata_have_no_unknown_keys() -> None:
    assert keys(GOOD) == []


def test_misspelled_keys_are_named_with_the_likely_one() -> None:
    text = GOOD.replace("sbom-formats", "sbom-format").replace(
        'os = "linux"', 'os = "linux"\narchh = "x"'
    )
    text += '[[order]]\n[[order.group]]\nid = "x/y"\nversion = "1.0.0"\noptionl = true\n'
    assert keys(text) == [
        "buildpack.sbom-format: unknown key (did you mean 'sbom-formats'?)",
        "targets[0].archh: unknown key (did you mean 'arch'?)",
        "order[0].group[0].optionl: unknown key (did you mean 'optional'?)",
    ]


def test_a_key_like_nothing_known_has_no_suggestion() -> None:
    assert keys(GOOD.replace("[buildpack]\n", "[buildpack]\nzzz = 1\n")) == [
        "buildpack.zzz: unknown key"
    ]


def test_project_toml_namespaces_are_open_but_its_tables_are_not() -> None:
    text = '[_]\nschema-version = "0.2"\n[com.example]\nx = 1\n'
    text += '[io.buildpacks]\nbuilder = "b"\nexclud = ["a"]\n'
    assert keys(text, "project") == ["io.buildpacks.exclud: unknown key (did you mean 'exclude'?)"]


def test_a_missing_required_key_names_the_misspelled_one() -> None:
    text = GOOD.replace('version = "1.0.0"', 'verison = "1.0.0"')
    with pytest.raises(SpecError) as raised:
        BuildpackDescriptor.from_toml(text, file="buildpack.toml")
    assert str(raised.value) == (
        "buildpack.toml: buildpack.version: is required "
        "(unknown key: buildpack.verison (did you mean 'version'?))"
    )
