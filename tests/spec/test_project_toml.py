"""project.toml in the three schemas pack reads, normalised into one model and written back in
the schema it came in."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnbsdk.errors import SpecError
from cnbsdk.spec import project_toml
from cnbsdk.spec.ids import ApiVersion
from cnbsdk.spec.project_toml import InlineScript, ProjectBuildpack, ProjectDescriptor, ProjectEnv
from cnbsdk.spec.toml_file import read_toml

APPS = Path(__file__).parent / "fixtures" / "platform" / "apps"
V02 = '[_]\nschema-version = "0.2"\n'


@pytest.fixture(params=["with-jsonschema", "model-only"])
def checks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: as the CLI does, and as the vendored runtime without jsonschema."""
    if request.param == "model-only":
        monkeypatch.setattr(project_toml, "validate", lambda *args, **kwargs: None)
    return str(request.param)


def test_legacy_schema_like_the_samples_apps() -> None:
    project = ProjectDescriptor.read(APPS / "legacy-script" / "project.toml")

    assert project.schema_version == "0.1"
    assert not project.schema_version_declared
    assert (project.id, project.name, project.version) == (
        "io.example.legacy-script",
        "Legacy Script",
        "1.0.0",
    )
    assert project.exclude == ("README.md", "script-buildpack")
    assert project.include is None
    assert project.group == (
        ProjectBuildpack(uri="script-buildpack/"),
        ProjectBuildpack(
            id="example/post-build",  # type: ignore[arg-type]
            script=InlineScript(api=ApiVersion(0, 10), inline="echo post build"),
        ),
    )
    assert project.build_env == (ProjectEnv("GREETING", "hello"),)
    assert project.metadata["team"] == "platform"
    assert project.licenses[0].type == "Apache-2.0"


def test_schema_02_with_groups_by_id_uri_and_inline_script() -> None:
    project = ProjectDescriptor.read(APPS / "node-app" / "project.toml")

    assert project.schema_version == "0.2"
    assert project.builder == "localhost:5000/example/builder:jammy"
    assert project.include == ("src/", "package.json", "package-lock.json")
    by_id, by_uri, inline = project.group
    assert (by_id.id, by_id.version) == ("example/node-engine", "1.2.3")
    assert by_uri.uri == "docker://localhost:5000/example/npm-install:0.4.1"
    assert inline.script is not None
    assert inline.script.shell == "/bin/bash"
    assert inline.script.api == ApiVersion(0, 10)
    assert 'cp -r public "$CNB_APP_DIR/dist/"' in inline.script.inline
    assert [str(e.id) for e in project.pre] == ["example/ca-certificates"]
    assert [e.uri for e in project.post] == ["./buildpacks/inspector"]
    assert [(e.name, e.value) for e in project.build_env] == [
        ("NODE_ENV", "production"),
        ("NPM_CONFIG_LOGLEVEL", "warn"),
    ]
    assert project.metadata == {"cdn": "https://cdn.example.com", "checks": {"paths": ["a", "b"]}}
    assert [(x.type, x.uri) for x in project.licenses] == [
        ("MIT", ""),
        ("", "https://example.com/LICENSE-extra"),
    ]
    # A reverse-DNS table of another tool is kept as it was.
    assert project.extra_tables == {
        "com": {"example": {"deploy": {"schema-version": "1.0", "replicas": 3}}}
    }


def test_schema_03_exec_env() -> None:
    project = ProjectDescriptor.read(APPS / "exec-env-app" / "project.toml")
    assert project.schema_version == "0.3"
    assert project.group[0].exec_env == ("production",)
    assert project.build_env[0].exec_env == ("production", "test")


@pytest.mark.parametrize("app", ["legacy-script", "node-app", "exec-env-app"])
def test_round_trip_writes_the_schema_it_read(app: str, tmp_path: Path) -> None:
    source = APPS / app / "project.toml"
    project = ProjectDescriptor.read(source)
    project.write(tmp_path / "project.toml")

    assert read_toml(tmp_path / "project.toml") == read_toml(source)
    assert ProjectDescriptor.read(tmp_path / "project.toml") == project


def test_declared_schema_01_is_kept_declared() -> None:
    text = '[_]\nschema-version = "0.1"\n[project]\nname = "x"\n'
    project = ProjectDescriptor.from_toml(text)
    assert project.schema_version == "0.1"
    assert project.to_dict() == {"_": {"schema-version": "0.1"}, "project": {"name": "x"}}


def test_deprecated_env_build_key_is_read_and_written_as_build_env() -> None:
    text = V02 + '[[io.buildpacks.env.build]]\nname = "A"\nvalue = "1"\n'
    project = ProjectDescriptor.from_toml(text)
    assert project.build_env == (ProjectEnv("A", "1"),)
    assert project.to_dict()["io"] == {
        "buildpacks": {"build": {"env": [{"name": "A", "value": "1"}]}}
    }


def test_other_io_tables_survive() -> None:
    text = V02 + '[io.buildpacks]\nbuilder = "b"\n[io.example-tool]\nmode = "fast"\n'
    project = ProjectDescriptor.from_toml(text)
    assert project.to_dict()["io"] == {
        "example-tool": {"mode": "fast"},
        "buildpacks": {"builder": "b"},
    }


def test_id_alone_means_the_latest_version() -> None:
    project = ProjectDescriptor.from_toml(V02 + '[[io.buildpacks.group]]\nid = "example/go"\n')
    assert project.group == (ProjectBuildpack(id="example/go"),)  # type: ignore[arg-type]


BAD = [
    (
        "schema-version missing from [_]",
        '[_]\nid = "com.example"\n',
        "_.schema-version: is required",
    ),
    (
        "unknown schema version",
        '[_]\nschema-version = "0.4"\n',
        "_.schema-version: unsupported schema version '0.4'",
    ),
    (
        "io.buildpacks without schema-version",
        '[io.buildpacks]\nbuilder = "localhost:5000/b"\n',
        'io.buildpacks: needs [_] schema-version = "0.2"',
    ),
    (
        "include and exclude",
        V02 + '[io.buildpacks]\ninclude = ["src/"]\nexclude = ["spec/"]\n',
        "io.buildpacks: set include or exclude, not both",
    ),
    (
        "legacy include and exclude",
        '[build]\ninclude = ["src/"]\nexclude = ["spec/"]\n',
        "build: set include or exclude, not both",
    ),
    (
        "group entry with version and uri",
        V02 + '[[io.buildpacks.group]]\nid = "example/a"\nversion = "1.0.0"\nuri = "./a"\n',
        "io.buildpacks.group[0]: set only one of version, uri or script",
    ),
    (
        "group entry with uri and script",
        V02
        + '[[io.buildpacks.group]]\nid = "example/a"\nuri = "./a"\n'
        + '[io.buildpacks.group.script]\napi = "0.10"\ninline = "true"\n',
        "io.buildpacks.group[0]: set only one of version, uri or script",
    ),
    (
        "group entry with neither id nor uri",
        V02 + '[[io.buildpacks.group]]\nversion = "1.0.0"\n',
        "io.buildpacks.group[0]: needs id or uri",
    ),
    (
        "legacy buildpack with uri and version",
        '[[build.buildpacks]]\nuri = "./a"\nversion = "1.0.0"\n',
        "build.buildpacks[0]: set only one of version, uri or script",
    ),
    (
        "inline script without api",
        V02 + '[[io.buildpacks.pre.group]]\nid = "example/a"\n'
        '[io.buildpacks.pre.group.script]\ninline = "true"\n',
        "io.buildpacks.pre.group[0].script.api: is required",
    ),
    (
        "inline script with an empty body",
        V02 + '[[io.buildpacks.group]]\nid = "example/a"\n'
        '[io.buildpacks.group.script]\napi = "0.10"\ninline = "  "\n',
        "io.buildpacks.group[0].script.inline: must not be empty",
    ),
    (
        "bad buildpack id",
        V02 + '[[io.buildpacks.group]]\nid = "example/a b"\n',
        "io.buildpacks.group[0].id: invalid buildpack id",
    ),
    (
        "license without type or uri",
        V02 + "[[_.licenses]]\n",
        "_.licenses[0]: needs type or uri",
    ),
    (
        "env without name",
        V02 + '[[io.buildpacks.build.env]]\nvalue = "1"\n',
        "io.buildpacks.build.env[0].name: is required",
    ),
    (
        "both env keys",
        V02 + '[[io.buildpacks.build.env]]\nname = "A"\n[[io.buildpacks.env.build]]\nname = "B"\n',
        "duplicates io.buildpacks.build.env",
    ),
    (
        "schema 0.1 table in a 0.2 file",
        V02 + '[build]\nexclude = ["spec/"]\n',
        "build: is schema 0.1; with schema-version 0.2",
    ),
    ("authors not a list", V02 + 'authors = "me"\n', "_.authors: expected an array"),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in BAD], ids=[c[0] for c in BAD])
def test_bad_project_toml_fails_naming_file_and_field(
    checks: str, text: str, expected: str
) -> None:
    with pytest.raises(SpecError) as caught:
        ProjectDescriptor.from_toml(text)
    message = str(caught.value)
    assert message.startswith("project.toml: ")
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (V02 + '[[io.buildpacks.groups]]\nid = "example/a"\n', "io.buildpacks"),
        (V02 + 'homepage = "x"\n', "_"),
        (
            V02 + '[[io.buildpacks.group]]\nid = "example/a"\nexec-env = ["production"]\n',
            "io.buildpacks.group[0]",
        ),
    ],
    ids=["typo in a table name", "unknown key in [_]", "exec-env needs 0.3"],
)
def test_keys_the_schema_does_not_know_are_refused(checks: str, text: str, field: str) -> None:
    """pack only warns and ignores these; a validator says so, or the setting is silently lost."""
    with pytest.raises(SpecError) as caught:
        ProjectDescriptor.from_toml(text)
    assert str(caught.value).startswith(f"project.toml: {field}")
