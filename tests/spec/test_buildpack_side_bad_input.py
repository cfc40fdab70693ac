"""Bad buildpack-side files fail with one line that names the file and the dotted field.

Each case runs twice: as shipped (JSON Schema first, then the model's own checks) and as a
packaged buildpack runs it, without jsonschema, where the model's checks alone must catch it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import pytest

from cnbsdk.errors import SpecError
from cnbsdk.spec.build_plan import BuildPlan
from cnbsdk.spec.build_toml import BuildToml
from cnbsdk.spec.buildpack_plan import BuildpackPlan
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.exec_d import ExecDOutput
from cnbsdk.spec.ids import ApiVersion
from cnbsdk.spec.launch_toml import LaunchToml
from cnbsdk.spec.layer_toml import LayerContentMetadata
from cnbsdk.spec.store_toml import StoreToml

BP = 'api = "0.10"\n[buildpack]\nid = "example/ruby"\nversion = "1.2.3"\n'
CHECKSUM = "sha256:" + "ab" * 32


def dependency(**fields: str) -> str:
    values = {"id": "node", "version": "20.1.0", "uri": "https://example.com/node.tgz"}
    values.update(fields)
    body = "".join(f'{key} = "{value}"\n' for key, value in values.items())
    return BP + "[[metadata.dependencies]]\n" + body


@dataclass(frozen=True)
class Case:
    name: str
    model: type[Any]
    text: str
    field: str | None  # None: the error is about the whole file (TOML syntax)
    says: str  # words the message must contain
    api: ApiVersion | None = None


CASES = [
    Case("bad TOML syntax", BuildpackDescriptor, 'api = "0.10"\n[buildpack\n', None, "line 2"),
    Case(
        "missing buildpack.id",
        BuildpackDescriptor,
        'api = "0.10"\n[buildpack]\nversion = "1.0.0"\n',
        "buildpack.id",
        "required",
    ),
    Case("missing [buildpack]", BuildpackDescriptor, 'api = "0.10"\n', "buildpack", "required"),
    Case(
        "reserved id app",
        BuildpackDescriptor,
        BP.replace("example/ruby", "app"),
        "buildpack.id",
        "reserved",
    ),
    Case(
        "id with a space",
        BuildpackDescriptor,
        BP.replace("example/ruby", "example ruby"),
        "buildpack.id",
        "letters, digits",
    ),
    Case(
        "id with an underscore",
        BuildpackDescriptor,
        BP.replace("example/ruby", "example_ruby"),
        "buildpack.id",
        "letters, digits",
    ),
    Case(
        "version 1.2", BuildpackDescriptor, BP.replace("1.2.3", "1.2"), "buildpack.version", "X.Y.Z"
    ),
    Case(
        "version 01.2.3",
        BuildpackDescriptor,
        BP.replace("1.2.3", "01.2.3"),
        "buildpack.version",
        "X.Y.Z",
    ),
    Case("api 0.5", BuildpackDescriptor, BP.replace('"0.10"', '"0.5"'), "api", "0.7 to 0.12"),
    Case("api 0.6", BuildpackDescriptor, BP.replace('"0.10"', '"0.6"'), "api", "0.7 to 0.12"),
    Case("api 0.13", BuildpackDescriptor, BP.replace('"0.10"', '"0.13"'), "api", "0.7 to 0.12"),
    Case("api 2.0", BuildpackDescriptor, BP.replace('"0.10"', '"2.0"'), "api", "0.7 to 0.12"),
    Case("api not a string", BuildpackDescriptor, BP.replace('"0.10"', "0.10"), "api", "string"),
    Case("missing api", BuildpackDescriptor, BP.replace('api = "0.10"\n', ""), "api", "required"),
    Case(
        "order together with stacks",
        BuildpackDescriptor,
        BP + '[[order]]\n[[order.group]]\nid = "a/b"\nversion = "1.0.0"\n[[stacks]]\nid = "*"\n',
        "stacks",
        "composite",
    ),
    Case(
        "order group member without version",
        BuildpackDescriptor,
        BP + '[[order]]\n[[order.group]]\nid = "a/b"\n',
        "order[0].group[0].version",
        "required",
    ),
    Case(
        "clear-env not a boolean",
        BuildpackDescriptor,
        BP + 'clear-env = "yes"\n',
        "buildpack.clear-env",
        "boolean",
    ),
    Case(
        "unknown sbom-format media type",
        BuildpackDescriptor,
        BP + 'sbom-formats = ["application/json"]\n',
        "buildpack.sbom-formats[0]",
        "application/json",
    ),
    Case(
        "licence without type or uri",
        BuildpackDescriptor,
        BP + '[[buildpack.licenses]]\nname = "MIT"\n',
        "buildpack.licenses[0]",
        "type or a uri",
    ),
    Case(
        "exec-env name with a slash",
        BuildpackDescriptor,
        BP.replace("0.10", "0.12") + 'exec-env = ["prod/eu"]\n',
        "buildpack.exec-env[0]",
        "prod/eu",
    ),
    Case(
        "exec-env table without name",
        BuildpackDescriptor,
        BP.replace("0.10", "0.12") + '[[buildpack.exec-env]]\nid = "test"\n',
        "buildpack.exec-env[0].name",
        "required",
    ),
    Case(
        "order member exec-env with a slash",
        BuildpackDescriptor,
        BP + '[[order]]\n[[order.group]]\nid = "a/b"\nversion = "1.0.0"\nexec-env = ["a/b"]\n',
        "order[0].group[0].exec-env[0]",
        "'a/b'",
    ),
    Case(
        "distros not an array",
        BuildpackDescriptor,
        BP + '[[targets]]\nos = "linux"\ndistros = "ubuntu"\n',
        "targets[0].distros",
        "array",
    ),
    Case(
        "stack without id",
        BuildpackDescriptor,
        BP + '[[stacks]]\nmixins = ["git"]\n',
        "stacks[0].id",
        "required",
    ),
    Case(
        "any-stack with mixins",
        BuildpackDescriptor,
        BP + '[[stacks]]\nid = "*"\nmixins = ["git"]\n',
        "stacks[0].mixins",
        "must be empty",
    ),
    Case(
        "bad checksum",
        BuildpackDescriptor,
        dependency(checksum="sha256:1234"),
        "metadata.dependencies[0].checksum",
        "64 hex",
    ),
    Case(
        "md5 checksum",
        BuildpackDescriptor,
        dependency(checksum="md5:" + "ab" * 16),
        "metadata.dependencies[0].checksum",
        "sha256",
    ),
    Case(
        "dependency without checksum",
        BuildpackDescriptor,
        dependency(),
        "metadata.dependencies[0].checksum",
        "required",
    ),
    Case(
        "dependency without uri",
        BuildpackDescriptor,
        dependency(checksum=CHECKSUM).replace('uri = "https://example.com/node.tgz"\n', ""),
        "metadata.dependencies[0].uri",
        "required",
    ),
    Case(
        "default version not a string",
        BuildpackDescriptor,
        BP + "[metadata.default-versions]\nnode = 20\n",
        "metadata.default-versions.node",
        "string",
    ),
    Case(
        "duplicate configuration names",
        BuildpackDescriptor,
        BP + '[[metadata.configurations]]\nname = "BP_X"\n' * 2,
        "metadata.configurations[1].name",
        "duplicate",
    ),
    Case(
        "direct with api 0.10",
        LaunchToml,
        '[[processes]]\ntype = "web"\ncommand = ["rackup"]\ndirect = true\n',
        "processes[0].direct",
        "0.9",
        ApiVersion(0, 10),
    ),
    Case(
        "direct with no api given",
        LaunchToml,
        '[[processes]]\ntype = "web"\ncommand = ["rackup"]\ndirect = false\n',
        "processes[0].direct",
        "0.9",
    ),
    Case(
        "two default processes",
        LaunchToml,
        '[[processes]]\ntype = "web"\ncommand = ["a"]\ndefault = true\n'
        '[[processes]]\ntype = "worker"\ncommand = ["b"]\ndefault = true\n',
        "processes[1].default",
        "one process",
    ),
    Case(
        "duplicate process types",
        LaunchToml,
        '[[processes]]\ntype = "web"\ncommand = ["a"]\n'
        '[[processes]]\ntype = "web"\ncommand = ["b"]\n',
        "processes[1].type",
        "duplicate",
    ),
    Case(
        "command as a string with api 0.10",
        LaunchToml,
        '[[processes]]\ntype = "web"\ncommand = "rackup"\n',
        "processes[0].command",
        "array",
        ApiVersion(0, 10),
    ),
    Case(
        "command as an array with api 0.8",
        LaunchToml,
        '[[processes]]\ntype = "web"\ncommand = ["rackup"]\n',
        "processes[0].command",
        "must be a string before Buildpack API 0.9",
        ApiVersion(0, 8),
    ),
    Case(
        "direct not a boolean with api 0.8",
        LaunchToml,
        '[[processes]]\ntype = "web"\ncommand = "rackup"\ndirect = "yes"\n',
        "processes[0].direct",
        "boolean",
        ApiVersion(0, 8),
    ),
    Case(
        "empty command",
        LaunchToml,
        '[[processes]]\ntype = "web"\ncommand = []\n',
        "processes[0].command",
        "empty",
    ),
    Case(
        "command not strings",
        LaunchToml,
        '[[processes]]\ntype = "web"\ncommand = [1]\n',
        "processes[0].command[0]",
        "string",
    ),
    Case(
        "process without command",
        LaunchToml,
        '[[processes]]\ntype = "web"\n',
        "processes[0].command",
        "required",
    ),
    Case(
        "bad process type",
        LaunchToml,
        '[[processes]]\ntype = "we b"\ncommand = ["a"]\n',
        "processes[0].type",
        "we b",
    ),
    Case("label without key", LaunchToml, '[[labels]]\nvalue = "x"\n', "labels[0].key", "required"),
    Case(
        "label without value", LaunchToml, '[[labels]]\nkey = "x"\n', "labels[0].value", "required"
    ),
    Case(
        "duplicate label keys",
        LaunchToml,
        '[[labels]]\nkey = "a"\nvalue = "1"\n[[labels]]\nkey = "a"\nvalue = "2"\n',
        "labels[1].key",
        "duplicate",
    ),
    Case(
        "slice leaving the app",
        LaunchToml,
        '[[slices]]\npaths = ["../etc/*"]\n',
        "slices[0].paths[0]",
        "app directory",
    ),
    Case(
        "legacy bom in launch.toml",
        LaunchToml,
        '[[bom]]\nname = "ruby"\n',
        "bom",
        "sbom",
        ApiVersion(0, 10),
    ),
    Case(
        "layer with top-level launch", LayerContentMetadata, "launch = true\n", "launch", "[types]"
    ),
    Case("layer with top-level cache", LayerContentMetadata, "cache = false\n", "cache", "[types]"),
    Case(
        "types.launch not a boolean",
        LayerContentMetadata,
        '[types]\nlaunch = "true"\n',
        "types.launch",
        "boolean",
    ),
    Case(
        "layer exec-env not strings",
        LayerContentMetadata,
        "[metadata]\nexec-env = [1]\n",
        "metadata.exec-env[0]",
        "string",
    ),
    Case("exec.d value not a string", ExecDOutput, 'A = "1"\nB = 2\n', "B", "string"),
    Case("exec.d nested table", ExecDOutput, 'A = "1"\n[T]\nx = "1"\n', "T", "string"),
    Case(
        "require with top-level version",
        BuildPlan,
        '[[requires]]\nname = "ruby"\nversion = "3.3"\n',
        "requires[0].version",
        "metadata",
    ),
    Case(
        "require without name",
        BuildPlan,
        '[[requires]]\n[requires.metadata]\nv = "1"\n',
        "requires[0].name",
        "required",
    ),
    Case(
        "provide name not a string",
        BuildPlan,
        "[[or]]\n[[or.provides]]\nname = 1\n",
        "or[0].provides[0].name",
        "string",
    ),
    Case("or not an array of tables", BuildPlan, 'or = "node"\n', "or", "array"),
    Case(
        "plan entry without name",
        BuildpackPlan,
        "[[entries]]\n[entries.metadata]\nv = 1\n",
        "entries[0].name",
        "required",
    ),
    Case("unmet entry without name", BuildToml, "[[unmet]]\n", "unmet[0].name", "required"),
    Case("legacy bom in build.toml", BuildToml, '[[bom]]\nname = "ruby"\n', "bom", "sbom"),
    Case("store metadata not a table", StoreToml, 'metadata = "x"\n', "metadata", "table"),
]


def parse(case: Case) -> Any:
    if case.model is LaunchToml:
        return LaunchToml.from_toml(case.text, api=case.api)
    return case.model.from_toml(case.text)


@pytest.mark.parametrize("with_jsonschema", [True, False], ids=["schema+model", "model-only"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_fails_with_one_line_naming_file_and_field(
    case: Case, with_jsonschema: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not with_jsonschema:
        monkeypatch.setitem(sys.modules, "jsonschema", None)

    with pytest.raises(SpecError) as caught:
        parse(case)

    error = caught.value
    line = str(error)
    assert "\n" not in line
    assert error.file == case.model.DEFAULT_FILE
    assert error.field == case.field
    where = f"{error.file}: {case.field}: " if case.field else f"{error.file}: "
    assert line.startswith(where), line
    assert case.says in line, line
