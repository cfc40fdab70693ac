"""`cnbsdk package builder`: pack's builder.toml in, a builder image pack and kpack read out.

Starts: skopeo (reads the builder from the store's OCI layout), the C compiler (once, for the
launcher). The default stack images are created once per module in a private CNBSDK_HOME
(their Debian packages come from the user's cnbsdk cache after the first run on a machine).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cnbsdk.cli.main import cli
from cnbsdk.distribution.builder import (
    BUILDER_METADATA_LABEL,
    BUILDPACK_LAYERS_LABEL,
    BUILDPACK_ORDER_LABEL,
    STACK_ID_LABEL,
)
from cnbsdk.distribution.builder_inspect import extract_buildpacks, read_builder
from cnbsdk.distribution.default_builder import (
    FINGERPRINT_LABEL,
    PluginState,
    ensure_default_builder,
)
from cnbsdk.lifecycle.default_stack import DefaultStack, default_stack
from cnbsdk.lifecycle.from_builder import own_lifecycle
from cnbsdk.oci.image import read_image
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.models import ImageConfig
from cnbsdk.oci.open import open_destination, open_source
from cnbsdk.oci.store import ImageStore, store_path
from cnbsdk.spec.schema import validate

REPO = Path(__file__).resolve().parents[2]
FIXTURE_BUILDPACKS = REPO / "tests" / "lifecycle" / "e2e" / "fixtures" / "buildpacks"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DefaultStack]:
    """A private CNBSDK_HOME holding the default stack images."""
    home = tmp_path_factory.mktemp("cnbsdk-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNBSDK_HOME", str(home))
        yield default_stack()


def cnbsdk(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write_builder_inputs(directory: Path, *, extra_buildpacks: str = "", order: str = "") -> Path:
    """A package.toml composite (hello + optional member) packaged as a .cnb, and a
    builder.toml in pack's format: two groups, an optional member, build env, a mirror."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package.toml").write_text(
        f"""[buildpack]
uri = "{FIXTURE_BUILDPACKS / "composite"}"

[[dependencies]]
uri = "{FIXTURE_BUILDPACKS / "hello"}"

[[dependencies]]
uri = "{FIXTURE_BUILDPACKS / "optional-member"}"
"""
    )
    cnb = directory / "composite.cnb"
    if not cnb.exists():
        packaged = cnbsdk(
            "package", "buildpack", str(directory / "package.toml"), "--format", "cnb",
            "--output", str(cnb),
        )  # fmt: skip
        assert packaged.exit_code == 0, packaged.output
    order = (
        order
        or """
[[order]]
  [[order.group]]
  id = "e2e/composite"
  [[order.group]]
  id = "e2e/processes"
  version = "1.0.0"
  optional = true

[[order]]
  [[order.group]]
  id = "e2e/processes"
"""
    )
    path = directory / "builder.toml"
    path.write_text(
        f"""description = "Two groups, a composite buildpackage and an optional member"

[[buildpacks]]
uri = "composite.cnb"

[[buildpacks]]
uri = "{FIXTURE_BUILDPACKS / "processes"}"
{extra_buildpacks}
{order}
[build]
image = "cnbsdk/build:bookworm"
  [[build.env]]
  name = "BUILDER_GREETING"
  value = "hi from the builder"
  [[build.env]]
  name = "BUILDER_PATH"
  value = "/opt/builder"
  suffix = "prepend"
  delim = ":"

[run]
  [[run.images]]
  image = "cnbsdk/run:bookworm"
  mirrors = ["e2e/run-mirror:bookworm"]
"""
    )
    return path


def package_builder(config: Path, output: str) -> Result:
    return cnbsdk("package", "builder", str(config), "--output", output)


def read_config(ref: str) -> tuple[ImageConfig, list[str]]:
    source = open_source(ref)
    try:
        manifest, config = read_image(source)
        return config, [layer.digest for layer in manifest.layers]
    finally:
        source.close()


def layer_members(ref: str) -> dict[str, tarfile.TarInfo]:
    """Every tar entry of every layer of an image, by path (the upper layer wins)."""
    source = open_source(ref)
    members: dict[str, tarfile.TarInfo] = {}
    try:
        manifest, _config = read_image(source)
        for layer in manifest.layers:
            with (
                source.open_blob(layer.digest) as stream,
                tarfile.open(fileobj=stream, mode="r|gz") as tar,
            ):
                for member in tar:
                    members[member.name] = member
    finally:
        source.close()
    return members


def file_text(ref: str, wanted: str) -> str:
    source = open_source(ref)
    try:
        manifest, _config = read_image(source)
        found = None
        for layer in manifest.layers:
            with (
                source.open_blob(layer.digest) as stream,
                tarfile.open(fileobj=stream, mode="r|gz") as tar,
            ):
                for member in tar:
                    if member.name == wanted:
                        extracted = tar.extractfile(member)
                        assert extracted is not None
                        found = extracted.read().decode()
        assert found is not None, f"{wanted} is in no layer"
        return found
    finally:
        source.close()


def test_builder_has_pack_labels_files_owners_and_a_stable_digest(
    stack: DefaultStack, tmp_path: Path
) -> None:
    config_path = write_builder_inputs(tmp_path)
    made = package_builder(config_path, "e2e/builder:labels")
    assert made.exit_code == 0, made.output
    assert "Successfully created builder image 'e2e/builder:labels'" in made.output
    assert "Warning: cannot read run image e2e/run-mirror:bookworm" in made.output

    # skopeo reads it, with the labels kpack and pack need.
    skopeo = subprocess.run(
        ["skopeo", "inspect", f"oci:{store_path()}:e2e/builder:labels"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    labels = json.loads(skopeo.stdout)["Labels"]
    metadata = json.loads(labels[BUILDER_METADATA_LABEL])
    order = json.loads(labels[BUILDPACK_ORDER_LABEL])
    layers = json.loads(labels[BUILDPACK_LAYERS_LABEL])
    validate(metadata, "builder-metadata", file=BUILDER_METADATA_LABEL)
    validate(order, "buildpack-order", file=BUILDPACK_ORDER_LABEL)
    validate(layers, "buildpack-layers", file=BUILDPACK_LAYERS_LABEL)
    assert labels[STACK_ID_LABEL] == "io.cnbsdk.stacks.bookworm"
    assert order == [
        {"group": [
            {"id": "e2e/composite", "version": "1.0.0"},
            {"id": "e2e/processes", "version": "1.0.0", "optional": True},
        ]},
        {"group": [{"id": "e2e/processes", "version": "1.0.0"}]},
    ]  # fmt: skip
    assert [(b["id"], b["version"]) for b in metadata["buildpacks"]] == [
        ("e2e/composite", "1.0.0"),
        ("e2e/hello", "1.0.0"),
        ("e2e/optional-member", "1.0.0"),
        ("e2e/processes", "1.0.0"),
    ]
    assert metadata["images"] == [
        {"image": "cnbsdk/run:bookworm", "mirrors": ["e2e/run-mirror:bookworm"]}
    ]
    assert metadata["stack"]["runImage"]["mirrors"] == ["e2e/run-mirror:bookworm"]
    assert "0.12" in metadata["lifecycle"]["apis"]["buildpack"]["supported"]
    assert metadata["createdBy"]["name"] == "cnbsdk"
    assert layers["e2e/composite"]["1.0.0"]["order"][0]["group"][1]["optional"] is True

    # The build image's user stays; WorkingDir is /layers.
    config, _ = read_config("e2e/builder:labels")
    build_config, _ = read_config(stack.build_image)
    env = config.env_dict()
    assert (env["CNB_USER_ID"], env["CNB_GROUP_ID"]) == (
        build_config.env_dict()["CNB_USER_ID"],
        build_config.env_dict()["CNB_GROUP_ID"],
    )
    assert config.user == build_config.user and config.working_dir == "/layers"
    uid, gid = int(env["CNB_USER_ID"]), int(env["CNB_GROUP_ID"])

    # Paths, owners and modes.
    members = layer_members("e2e/builder:labels")
    for path in ("/layers", "/workspace"):
        assert (members[path].uid, members[path].gid, members[path].mode) == (uid, gid, 0o755)
    for path in ("/cnb", "/cnb/buildpacks", "/platform/env", "/cnb/build-config/env"):
        assert (members[path].uid, members[path].mode) == (0, 0o755)
    detect = members["/cnb/buildpacks/e2e_hello/1.0.0/bin/detect"]
    assert (detect.uid, detect.gid, detect.mode) == (0, 0, 0o755)
    descriptor = members["/cnb/buildpacks/e2e_hello/1.0.0/buildpack.toml"]
    assert (descriptor.uid, descriptor.mode) == (0, 0o644)
    assert members["/cnb/buildpacks/e2e_composite/1.0.0/buildpack.toml"].isfile()
    launcher = members["/cnb/lifecycle/launcher"]
    assert launcher.isfile() and launcher.mode == 0o755
    assert members["/cnb/build-config/env/BUILDER_PATH.prepend"].mode == 0o644
    assert file_text("e2e/builder:labels", "/cnb/build-config/env/BUILDER_PATH.delim") == ":"
    assert file_text("e2e/builder:labels", "/cnb/build-config/env/BUILDER_GREETING") == (
        "hi from the builder"
    )
    assert 'id = "e2e/composite"' in file_text("e2e/builder:labels", "/cnb/order.toml")
    assert "e2e/run-mirror:bookworm" in file_text("e2e/builder:labels", "/cnb/run.toml")
    assert "[run-image]" in file_text("e2e/builder:labels", "/cnb/stack.toml")

    # Packaging again gives the same image.
    again = package_builder(config_path, "e2e/builder:again")
    assert again.exit_code == 0, again.output
    digest = made.output.split("digest: ")[1].split()[0]
    assert again.output.split("digest: ")[1].split()[0] == digest

    # cnbsdk inspect shows what pack builder inspect shows.
    shown = cnbsdk("inspect", "e2e/builder:labels")
    assert shown.exit_code == 0, shown.output
    for expected in (
        "Description: Two groups, a composite buildpackage and an optional member",
        "  ID: io.cnbsdk.stacks.bookworm",
        "  Platform APIs:",
        "  cnbsdk/run:bookworm",
        "  e2e/run-mirror:bookworm    (mirror)",
        " ├ Group #1:\n │  ├ e2e/composite@1.0.0\n │  │  └ Group #1:\n"
        " │  │     ├ e2e/hello@1.0.0\n │  │     └ e2e/optional-member@1.0.0    (optional)\n"
        " │  └ e2e/processes@1.0.0    (optional)\n └ Group #2:\n    └ e2e/processes@1.0.0",
    ):
        assert expected in shown.output
    assert "Hello (e2e fixture)" in shown.output  # the NAME column
    as_json = json.loads(cnbsdk("inspect", "e2e/builder:labels", "--json").output)
    assert as_json["detectionOrder"] == order

    # read_builder + extract_buildpacks: the buildpacks back, by their layers' diffIDs.
    info = read_builder("e2e/builder:labels")
    assert info.uid == uid and info.run_images[0].mirrors == ("e2e/run-mirror:bookworm",)
    extracted = extract_buildpacks("e2e/builder:labels", info, tmp_path / "extracted")
    assert sorted(p.parent.parent.name for p in extracted.glob("*/*/buildpack.toml")) == [
        "e2e_composite", "e2e_hello", "e2e_optional-member", "e2e_processes",
    ]  # fmt: skip
    assert not (tmp_path / "extracted" / "cnb" / "order.toml").exists()


def _arm64_image(path: Path) -> str:
    ref = f"oci:{path}:run"
    dest = open_destination(ref)
    try:
        write_image(dest, ImageConfig(architecture="arm64", env=("PATH=/bin",)), [])
    finally:
        dest.close()
    return ref


def _changed_hello(directory: Path) -> Path:
    copy = directory / "hello-changed"
    shutil.copytree(FIXTURE_BUILDPACKS / "hello", copy)
    with open(copy / "bin" / "build", "a") as stream:
        stream.write("# changed\n")
    return copy


@pytest.mark.parametrize("case", ["missing", "duplicate", "arch"])
def test_bad_builder_toml_is_one_line_and_writes_nothing(
    stack: DefaultStack, tmp_path: Path, case: str
) -> None:
    if case == "missing":
        config = write_builder_inputs(
            tmp_path,
            order='[[order]]\n  [[order.group]]\n  id = "e2e/not-there"\n',
        )
        expected = "order[0].group[0]: names buildpack e2e/not-there, which is not in the builder"
    elif case == "duplicate":
        changed = _changed_hello(tmp_path)
        config = write_builder_inputs(
            tmp_path, extra_buildpacks=f'\n[[buildpacks]]\nuri = "{changed}"\n'
        )
        expected = "buildpack e2e/hello@1.0.0 is given twice with different content"
    else:
        config = write_builder_inputs(tmp_path)
        arm = _arm64_image(tmp_path / "arm-run")
        text = config.read_text().replace('image = "cnbsdk/run:bookworm"', f'image = "{arm}"')
        config.write_text(text)
        expected = "run.images[0]: run image " + arm + " is for linux/arm64"
    result = package_builder(config, f"e2e/bad:{case}")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.output
    assert str(config) in errors[0] or "buildpacks[" in errors[0]
    assert all(image.reference != f"e2e/bad:{case}" for image in ImageStore().list())


def test_same_buildpack_twice_with_the_same_content_is_kept_once(
    stack: DefaultStack, tmp_path: Path
) -> None:
    copy = tmp_path / "hello-copy"
    shutil.copytree(FIXTURE_BUILDPACKS / "hello", copy)
    config = write_builder_inputs(tmp_path, extra_buildpacks=f'\n[[buildpacks]]\nuri = "{copy}"\n')
    result = package_builder(config, "e2e/builder:dedup")
    assert result.exit_code == 0, result.output
    config_json, _ = read_config("e2e/builder:dedup")
    layers = json.loads(config_json.labels[BUILDPACK_LAYERS_LABEL])
    assert list(layers["e2e/hello"]) == ["1.0.0"]


def test_default_builder_is_made_once_and_remade_when_a_plugin_changes(
    stack: DefaultStack,
) -> None:
    from cnbsdk.buildpack.plugin import installed_buildpacks

    plugins = [PluginState.of(p) for p in installed_buildpacks()]
    assert plugins, "the tutorial buildpack (examples/hello-buildpack) is installed"
    kwargs = {
        "build_image": stack.build_image,
        "run_image": stack.run_image,
        "stack_lock": stack.lock_file,
        "lifecycle": own_lifecycle(),
        "reference": "e2e/default-builder:test",
    }
    lines: list[str] = []
    first = ensure_default_builder(plugins=plugins, log=lines.append, **kwargs)
    assert first.created and any("first use" in line for line in lines)
    config, _ = read_config("e2e/default-builder:test")
    assert config.labels[FINGERPRINT_LABEL] == first.fingerprint
    order = json.loads(config.labels[BUILDPACK_ORDER_LABEL])
    assert order == [{"group": [{"id": p.id, "version": p.version}]} for p in plugins]

    again = ensure_default_builder(plugins=plugins, **kwargs)
    assert not again.created and again.fingerprint == first.fingerprint

    changed = [PluginState(p.id, p.version, "0" * 64) for p in plugins]
    lines.clear()
    remade = ensure_default_builder(plugins=changed, log=lines.append, **kwargs)
    assert remade.created and remade.fingerprint != first.fingerprint
    assert any("changed" in line for line in lines)


def test_a_broken_plugin_is_left_out_of_the_default_builder_with_a_warning_naming_it(
    stack: DefaultStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "broken_bp-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-bp\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[cnbsdk]\nbroken = broken_bp_missing_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    kwargs = {
        "build_image": stack.build_image,
        "run_image": stack.run_image,
        "stack_lock": stack.lock_file,
        "lifecycle": own_lifecycle(),
        "reference": "e2e/default-builder:broken",
    }
    lines: list[str] = []
    made = ensure_default_builder(log=lines.append, **kwargs)
    assert made.created
    warning = next(line for line in lines if line.startswith("Warning: installed buildpack"))
    assert warning.startswith(
        "Warning: installed buildpack 'broken' is left out of the default builder: "
        "entry point 'broken' (broken_bp_missing_module)"
    )
    config, _ = read_config("e2e/default-builder:broken")
    order = json.loads(config.labels[BUILDPACK_ORDER_LABEL])
    assert {"id": "examples/hello", "version": "0.1.0"} in [g["group"][0] for g in order]

    lines.clear()  # the tutorial buildpack's entry point removed: it does not vanish silently
    assert ensure_default_builder(plugins=[], log=lines.append, **kwargs).created
    assert (
        "Warning: buildpack examples/hello was in the default builder but is no longer "
        "installed (or its entry point is gone): it is left out"
    ) in lines


def test_default_builder_is_remade_when_cnbsdk_or_the_lifecycle_apis_change(
    stack: DefaultStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnbsdk.buildpack.plugin import installed_buildpacks
    from cnbsdk.distribution import vendor

    plugins = [PluginState.of(p) for p in installed_buildpacks()]
    reference = "e2e/default-builder:upgrade"
    kwargs = {
        "build_image": stack.build_image,
        "run_image": stack.run_image,
        "stack_lock": stack.lock_file,
        "plugins": plugins,
        "reference": reference,
    }
    lifecycle = own_lifecycle()
    assert ensure_default_builder(lifecycle=lifecycle, **kwargs).created

    # cnbsdk is upgraded: the author API vendored into every plugin buildpack changed, while
    # the plugins' own files did not. The builder must carry the new runtime.
    upgraded = tmp_path / "cnbsdk"
    shutil.copytree(vendor.locate("cnbsdk"), upgraded, ignore=shutil.ignore_patterns("__pycache__"))
    with open(upgraded / "buildpack" / "__init__.py", "a") as stream:
        stream.write("# cnbsdk upgraded\n")
    real_locate = vendor.locate
    monkeypatch.setattr(
        vendor, "locate", lambda name: upgraded if name == "cnbsdk" else real_locate(name)
    )
    assert ensure_default_builder(lifecycle=lifecycle, **kwargs).created
    escaped = plugins[0].id.replace("/", "_")
    vendored = f"/cnb/buildpacks/{escaped}/{plugins[0].version}/lib/cnbsdk/buildpack/__init__.py"
    assert file_text(reference, vendored).endswith("# cnbsdk upgraded\n")

    # A lifecycle declaring other Buildpack APIs: the builder's labels must follow.
    narrower = replace(lifecycle, buildpack_apis=("0.12",))
    assert ensure_default_builder(lifecycle=narrower, **kwargs).created
    config, _ = read_config(reference)
    apis = json.loads(config.labels[BUILDER_METADATA_LABEL])["lifecycle"]["apis"]
    assert apis["buildpack"]["supported"] == ["0.12"]


def test_builder_default_command_shows_sets_and_unsets(stack: DefaultStack) -> None:
    shown = cnbsdk("builder", "default")
    assert shown.output.startswith("cnbsdk/builder:bookworm  (built in")
    assert cnbsdk("builder", "default", "example/builder:1").exit_code == 0
    assert cnbsdk("builder", "default", "--show").output.startswith(
        "example/builder:1  (configured"
    )
    assert cnbsdk("builder", "default", "--unset").exit_code == 0
    assert cnbsdk("builder", "default", "--show").output.startswith("cnbsdk/builder:bookworm")
    bad = cnbsdk("builder", "default", "Not A Ref")
    assert bad.exit_code == 1 and bad.output.startswith("error:")


def test_lifecycle_release_tarball_named_by_uri_goes_to_cnb_lifecycle(
    stack: DefaultStack, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    (release / "lifecycle").mkdir(parents=True)
    for name in ("launcher", "creator", "detector"):
        (release / "lifecycle" / name).write_text(f"#!/bin/sh\necho {name}\n")
    (release / "lifecycle.toml").write_text(
        '[apis.buildpack]\ndeprecated = []\nsupported = ["0.10", "0.11"]\n'
        '[apis.platform]\ndeprecated = ["0.9"]\nsupported = ["0.10", "0.11", "0.12"]\n'
        '[lifecycle]\nversion = "0.20.0"\n'
    )
    tarball = tmp_path / "lifecycle-v0.20.0+linux.x86-64.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(release / "lifecycle", arcname="lifecycle")
        tar.add(release / "lifecycle.toml", arcname="lifecycle.toml")
    config = write_builder_inputs(tmp_path)
    config.write_text(config.read_text() + f'\n[lifecycle]\nuri = "file://{tarball}"\n')
    made = package_builder(config, "e2e/builder:lifecycle")
    assert made.exit_code == 0, made.output
    image_config, _ = read_config("e2e/builder:lifecycle")
    lifecycle = json.loads(image_config.labels[BUILDER_METADATA_LABEL])["lifecycle"]
    assert lifecycle["version"] == "0.20.0"
    assert lifecycle["apis"]["platform"] == {
        "deprecated": ["0.9"],
        "supported": ["0.10", "0.11", "0.12"],
    }
    assert image_config.labels["io.buildpacks.lifecycle.version"] == "0.20.0"
    members = layer_members("e2e/builder:lifecycle")
    for name in ("launcher", "creator", "detector"):
        assert members[f"/cnb/lifecycle/{name}"].mode == 0o755
    assert (
        file_text("e2e/builder:lifecycle", "/cnb/lifecycle/creator") == "#!/bin/sh\necho creator\n"
    )
