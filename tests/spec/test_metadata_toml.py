"""metadata.toml (platform.md §metadata.toml, digest §3.11): the builder's output file, read and
written in the lifecycle's shape, both command forms, and bad files refused naming the field."""

from __future__ import annotations

import sys

import jsonschema
import pytest

from cnbsdk.errors import SpecError
from cnbsdk.spec.ids import ApiVersion, BuildpackId, BuildpackVersion, ProcessType
from cnbsdk.spec.launch_toml import Label, Slice
from cnbsdk.spec.metadata_toml import MetadataBuildpack, MetadataProcess, MetadataToml
from cnbsdk.spec.schema import load_schema

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LIFECYCLE_FILE = """
buildpack-default-process-type = "web"

[[buildpacks]]
  id = "example/ruby"
  version = "1.2.3"
  api = "0.10"
  homepage = "https://example.invalid/ruby"

[[processes]]
  type = "web"
  command = ["bundle", "exec", "rackup"]
  args = ["-p", "8080"]
  direct = true
  buildpack-id = "example/ruby"
  working-dir = "/workspace/sub"

[[processes]]
  type = "db.migrate"
  command = ["rake"]
  args = []
  direct = true
  buildpack-id = "example/ruby"
  exec-env = ["production"]

[[labels]]
  key = "org.example.k"
  value = "v"

[[slices]]
  paths = ["public/**"]
"""


def _metadata() -> MetadataToml:
    return MetadataToml(
        buildpacks=(
            MetadataBuildpack(
                BuildpackId("example/ruby"), BuildpackVersion("1.2.3"), ApiVersion(0, 10)
            ),
        ),
        processes=(
            MetadataProcess(
                ProcessType("web"),
                ("bundle", "exec", "rackup"),
                BuildpackId("example/ruby"),
                args=("-p", "8080"),
            ),
            MetadataProcess(ProcessType("console"), ("irb",), BuildpackId("example/ruby")),
        ),
        labels=(Label("org.example.k", "v"),),
        slices=(Slice(("public/**",)),),
        buildpack_default_process_type="web",
    )


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema("metadata"))


def test_reads_a_file_in_the_lifecycle_shape_and_writes_it_back_sorted() -> None:
    metadata = MetadataToml.from_toml(LIFECYCLE_FILE)

    assert [p.type for p in metadata.processes] == ["db.migrate", "web"]  # sorted by type
    assert metadata.default_process is not None
    assert metadata.default_process.working_dir == "/workspace/sub"
    assert metadata.buildpacks[0].api == ApiVersion(0, 10)
    expected = tomllib.loads(LIFECYCLE_FILE)
    expected["processes"].reverse()
    assert tomllib.loads(metadata.to_toml()) == expected


def test_processes_are_written_sorted_by_type_with_direct_and_buildpack_id(tmp_path) -> None:
    path = tmp_path / "metadata.toml"
    _metadata().write(path)

    written = tomllib.loads(path.read_text())
    assert written["processes"] == [
        {
            "type": "console",
            "command": ["irb"],
            "args": [],
            "direct": True,
            "buildpack-id": "example/ruby",
        },
        {
            "type": "web",
            "command": ["bundle", "exec", "rackup"],
            "args": ["-p", "8080"],
            "direct": True,
            "buildpack-id": "example/ruby",
        },
    ]
    assert written["buildpack-default-process-type"] == "web"
    assert "default" not in str(written["processes"])
    assert MetadataToml.read(path) == _metadata()


def test_platform_api_below_0_10_gets_a_string_command_with_the_rest_moved_to_args() -> None:
    data = _metadata().to_dict(platform_api=ApiVersion(0, 9))
    web = data["processes"][1]
    assert (web["command"], web["args"]) == ("bundle", ["exec", "rackup", "-p", "8080"])

    again = MetadataToml.from_dict(data, file="metadata.toml")
    assert again.process("web") is not None
    assert again.process("web").command == ("bundle",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[processes]]\ntype = "web server"\ncommand = ["x"]\nbuildpack-id = "a/b"\n',
            "metadata.toml: processes[0].type: invalid process type 'web server'",
        ),
        (
            '[[processes]]\ntype = "web"\ncommand = ["x"]\n',
            "metadata.toml: processes[0].buildpack-id: is required",
        ),
        (
            '[[processes]]\ntype = "web"\ncommand = ["x"]\nbuildpack-id = "a"\n'
            '[[processes]]\ntype = "web"\ncommand = ["y"]\nbuildpack-id = "b"\n',
            "metadata.toml: processes[1].type: duplicate process type 'web'",
        ),
        (
            '[[buildpacks]]\nid = "a"\nversion = "1.0.0"\napi = 10\n',
            "metadata.toml: buildpacks[0].api: expected a string, got int 10",
        ),
        ('buildpack-default-process-type = "a b"\n', "invalid process type 'a b'"),
    ],
)
def test_bad_files_are_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        MetadataToml.from_toml(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
