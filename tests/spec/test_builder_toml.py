"""pack's builder.toml: both image forms, build-time env, order, and pack's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnbsdk.errors import SpecError
from cnbsdk.spec import builder_toml
from cnbsdk.spec.builder_toml import BuildEnv, BuilderToml, LifecycleSource
from cnbsdk.spec.platform_files import RunImage
from cnbsdk.spec.target import Distro
from cnbsdk.spec.toml_file import read_toml

BUILDERS = Path(__file__).parent / "fixtures" / "platform" / "builder"
IMAGES = '[build]\nimage = "localhost:5000/b"\n[[run.images]]\nimage = "localhost:5000/r"\n'


@pytest.fixture(params=["with-jsonschema", "model-only"])
def checks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: as the CLI does, and as the vendored runtime without jsonschema."""
    if request.param == "model-only":
        monkeypatch.setattr(builder_toml, "validate", lambda *args, **kwargs: None)
    return str(request.param)


def test_reads_a_builder_like_packs_documentation() -> None:
    builder = BuilderToml.read(BUILDERS / "builder.toml")

    assert builder.description == "Example builder: Java and Node.js on Debian"
    assert [b.location for b in builder.buildpacks] == [
        "../packages/java",
        "docker://localhost:5000/example/node-package:2.0.1",
        "localhost:5000/example/procfile:5.6.0",
    ]
    assert builder.buildpacks[2].id is None  # known only once the image is read
    assert [str(e.id) for e in builder.extensions] == ["example/curl"]
    # Two groups; procfile is optional in both, and its version may be left to pack.
    java, node = builder.order
    assert [(str(e.id), e.version, e.optional) for e in java.group] == [
        ("example/java", "1.4.0", False),
        ("example/procfile", None, True),
    ]
    assert [e.optional for e in node.group] == [False, True]
    assert [str(e.id) for g in builder.order_extensions for e in g.group] == ["example/curl"]
    assert builder.build_image == "localhost:5000/example/build:bookworm"
    assert builder.run_images == (
        RunImage(
            "localhost:5000/example/run:bookworm",
            ("127.0.0.1:5001/example/run:bookworm",),
        ),
    )
    assert builder.lifecycle == LifecycleSource(version="0.20.5")
    assert [(t.os, t.arch, t.variant) for t in builder.targets] == [
        ("linux", "amd64", ""),
        ("linux", "arm64", "v8"),
    ]
    assert builder.targets[0].distros == (Distro("debian", "12"),)


def test_build_env_names_the_build_config_files() -> None:
    builder = BuilderToml.read(BUILDERS / "builder.toml")
    assert builder.build_env == (
        BuildEnv("BP_JVM_VERSION", "21", suffix="default"),
        BuildEnv("PATH", "/opt/tools/bin", suffix="prepend", delim=":"),
    )
    assert [e.file_name for e in builder.build_env] == ["BP_JVM_VERSION.default", "PATH.prepend"]
    assert BuildEnv("JAVA_OPTS", "-Xmx1g").file_name == "JAVA_OPTS"


def test_legacy_stack_gives_the_build_and_run_images() -> None:
    builder = BuilderToml.read(BUILDERS / "legacy-stack" / "builder.toml")
    assert builder.stack_id == "io.example.stacks.bookworm"
    assert builder.build_image == "localhost:5000/example/stack-build:bookworm"
    assert builder.run_images == (
        RunImage(
            "localhost:5000/example/stack-run:bookworm",
            ("127.0.0.1:5001/example/stack-run:bookworm",),
        ),
    )
    assert "build" not in builder.to_dict()  # written back as it came: [stack] only


def test_both_forms_may_be_given_when_they_agree() -> None:
    text = """
[stack]
id = "io.example.stack"
build-image = "localhost:5000/b"
run-image = "localhost:5000/r"
[build]
image = "localhost:5000/b"
[[run.images]]
image = "localhost:5000/r"
"""
    builder = BuilderToml.from_toml(text)
    assert builder.build_image == "localhost:5000/b"
    assert builder.stack_id == "io.example.stack"


@pytest.mark.parametrize("path", ["builder.toml", "legacy-stack/builder.toml"])
def test_round_trip_keeps_every_key(path: str, tmp_path: Path) -> None:
    builder = BuilderToml.read(BUILDERS / path)
    builder.write(tmp_path / "builder.toml")
    assert read_toml(tmp_path / "builder.toml") == read_toml(BUILDERS / path)
    assert BuilderToml.read(tmp_path / "builder.toml") == builder


def test_system_buildpacks() -> None:
    text = (
        IMAGES
        + """
[[system.pre.buildpacks]]
id = "example/ca-certs"
version = "1.0.0"
[[system.post.buildpacks]]
id = "example/sbom-check"
optional = true
"""
    )
    builder = BuilderToml.from_toml(text)
    assert [str(e.id) for e in builder.system_pre] == ["example/ca-certs"]
    assert builder.system_post[0].optional
    assert builder.to_dict()["system"] == {
        "pre": {"buildpacks": [{"id": "example/ca-certs", "version": "1.0.0"}]},
        "post": {"buildpacks": [{"id": "example/sbom-check", "optional": True}]},
    }


BAD = [
    ("no build image", '[[run.images]]\nimage = "localhost:5000/r"\n', "build.image: is required"),
    (
        "no run image",
        '[build]\nimage = "localhost:5000/b"\n',
        "run.images: are required",
    ),
    (
        "stack run image without stack id",
        '[stack]\nbuild-image = "localhost:5000/b"\nrun-image = "localhost:5000/r"\n',
        "run.images: are required",
    ),
    (
        "build images disagree",
        IMAGES + '[stack]\nid = "s"\nbuild-image = "localhost:5000/other"\n',
        "build.image: 'localhost:5000/b' differs from stack.build-image",
    ),
    (
        "run images disagree",
        IMAGES + '[stack]\nid = "s"\nrun-image = "localhost:5000/other"\n',
        "run.images[0].image: 'localhost:5000/r' differs from stack.run-image",
    ),
    (
        "append without delim",
        IMAGES + '[[build.env]]\nname = "PATH"\nvalue = "/x"\nsuffix = "append"\n',
        "build.env[0].delim: is required",
    ),
    (
        "prepend with empty delim",
        IMAGES + '[[build.env]]\nname = "PATH"\nvalue = "/x"\nsuffix = "prepend"\ndelim = ""\n',
        "build.env[0].delim: is required with suffix",
    ),
    (
        "unknown suffix",
        IMAGES + '[[build.env]]\nname = "X"\nsuffix = "later"\n',
        "build.env[0].suffix: expected one of 'default', 'override', 'append', 'prepend'",
    ),
    (
        "env without name",
        IMAGES + '[[build.env]]\nvalue = "1"\n',
        "build.env[0].name: is required",
    ),
    (
        "lifecycle uri and version",
        IMAGES + '[lifecycle]\nuri = "lifecycle.tgz"\nversion = "0.20.5"\n',
        "lifecycle: set only one of uri or version",
    ),
    (
        "buildpack without uri or image",
        IMAGES + '[[buildpacks]]\nid = "example/a"\nversion = "1.0.0"\n',
        "buildpacks[0]: needs uri or image",
    ),
    (
        "buildpack with uri and image",
        IMAGES + '[[buildpacks]]\nuri = "a"\nimage = "localhost:5000/a"\n',
        "buildpacks[0]: set only one of uri or image",
    ),
    (
        "bad buildpack id in order",
        IMAGES + '[[order]]\n[[order.group]]\nid = "example/a b"\n',
        "order[0].group[0].id: invalid buildpack id",
    ),
    (
        "run image without image",
        '[build]\nimage = "localhost:5000/b"\n[[run.images]]\nmirrors = ["m"]\n',
        "run.images[0].image: is required",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in BAD], ids=[c[0] for c in BAD])
def test_bad_builder_toml_fails_naming_file_and_field(
    checks: str, text: str, expected: str
) -> None:
    with pytest.raises(SpecError) as caught:
        BuilderToml.from_toml(text)
    message = str(caught.value)
    assert message.startswith("builder.toml: ")
    assert expected in message
    assert "\n" not in message


def test_unknown_keys_are_refused_like_pack_does() -> None:
    with pytest.raises(SpecError, match=r"build: .*'images' was unexpected"):
        BuilderToml.from_toml('[build]\nimage = "b"\nimages = ["r"]\n[[run.images]]\nimage = "r"\n')
