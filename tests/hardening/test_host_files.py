"""Host files a buildpack cannot reach through cnbsdk (issue #11 classes 7 and 10).

A buildpack's links are never followed by the host-side reads of what it wrote: env files
(and their directories, delimiters, suffixes), launch/build/store/layer tomls, SBOMs. Real
bash buildpacks run through the build phase (``HostRunner``: the sandbox is not what is
tested here, cnbsdk's own reads are); the direct cases call the readers. And cnbsdk's home
and cache are private (0700) and ours.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from cnbsdk.errors import BuildError, CnbError
from cnbsdk.lifecycle.build import build, read_buildpack_output
from cnbsdk.lifecycle.build_env import with_build_layer, with_buildpack_layers
from cnbsdk.lifecycle.buildpack_files import read_bytes
from cnbsdk.lifecycle.export import _read_layer_toml, _read_store
from cnbsdk.lifecycle.order import BuildpackIndex, GroupElement
from cnbsdk.lifecycle.plan import ResolvedPlan
from cnbsdk.lifecycle.sandbox import HostRunner
from cnbsdk.lifecycle.workspace import Workspace
from cnbsdk.oci.store import private_directory
from cnbsdk.spec.target import Target
from tests.hardening.conftest import assert_one_line_error, run_cli

SECRET = "HOST-ONLY-SECRET-CONTENT"


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    """Stands for /etc/shadow: a host file the buildpack must never get through cnbsdk."""
    secret_dir = tmp_path / "host"
    secret_dir.mkdir()
    (secret_dir / "shadow").write_text(SECRET)
    (secret_dir / "NAME").write_text(SECRET)
    return secret_dir / "shadow"


def _bash_buildpack(root: Path, bp_id: str, script: str) -> Path:
    directory = root / bp_id.replace("/", "_") / "1.0.0"
    (directory / "bin").mkdir(parents=True)
    (directory / "buildpack.toml").write_text(
        f'api = "0.12"\n[buildpack]\nid = "{bp_id}"\nversion = "1.0.0"\n'
    )
    build_script = directory / "bin" / "build"
    header = '#!/usr/bin/env bash\nset -euo pipefail\nlayers="${CNB_LAYERS_DIR:-$1}"\n'
    build_script.write_text(header + script)
    build_script.chmod(0o755)
    return directory


# What the first buildpack makes (its layer "evil" is a build layer); the second prints NAME.
ATTACKS = {
    "env-file-abs-link": 'ln -s "$SECRET_PATH" "$layers/evil/env.build/NAME"',
    "env-file-rel-link": 'ln -s "$(realpath --relative-to="$layers/evil/env.build" '
    '"$SECRET_PATH")" "$layers/evil/env.build/NAME"',
    "env-dir-link": 'rmdir "$layers/evil/env.build"; ln -s "$(dirname "$SECRET_PATH")" '
    '"$layers/evil/env.build"',
    "env-shared-dir-link": 'rmdir "$layers/evil/env"; '
    'ln -s "$(dirname "$SECRET_PATH")" "$layers/evil/env"',
    "append-suffix-link": 'ln -s "$SECRET_PATH" "$layers/evil/env.build/NAME.append"',
    "default-suffix-link": 'ln -s "$SECRET_PATH" "$layers/evil/env.build/NAME.default"',
    "delim-link": 'printf x > "$layers/evil/env.build/NAME.prepend"; '
    'ln -s "$SECRET_PATH" "$layers/evil/env.build/NAME.delim"',
    "fifo-env-file": 'mkfifo "$layers/evil/env.build/NAME"',
    "launch-toml-link": 'ln -s "$SECRET_PATH" "$layers/launch.toml"',
    "build-toml-link": 'ln -s "$SECRET_PATH" "$layers/build.toml"',
    "store-toml-link": 'ln -s "$SECRET_PATH" "$layers/store.toml"',
    "layer-toml-link": 'rm "$layers/evil.toml"; ln -s "$SECRET_PATH" "$layers/evil.toml"',
    "layer-dir-link": 'rm -r "$layers/evil"; ln -s "$(dirname "$SECRET_PATH")" "$layers/evil"',
    "sbom-link": 'ln -s "$SECRET_PATH" "$layers/evil.sbom.cdx.json"',
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_buildpack_cannot_read_a_host_file_through_its_links(
    tmp_path: Path, host_secret: Path, attack: str
) -> None:
    workspace = Workspace.create(tmp_path / "ws")
    evil = _bash_buildpack(
        workspace.buildpacks,
        "tests/evil",
        'mkdir -p "$layers/evil/env.build" "$layers/evil/env"\n'
        "printf '[types]\\nbuild = true\\n' > \"$layers/evil.toml\"\n"
        + ATTACKS[attack].replace("$SECRET_PATH", str(host_secret))
        + "\n",
    )
    reader = _bash_buildpack(workspace.buildpacks, "tests/reader", 'echo "NAME=[${NAME:-}]"\n')
    index = BuildpackIndex.from_directories([evil, reader])
    group = tuple(
        GroupElement(bp.descriptor.buildpack.id, bp.descriptor.buildpack.version, False, bp)
        for bp in index
    )
    lines: list[str] = []
    with pytest.raises(BuildError) as raised:
        build(
            ResolvedPlan(group=group, entries=()),
            HostRunner(workspace),
            workspace,
            base_env={"PATH": os.environ["PATH"]},
            target=Target(os="linux", arch="amd64"),
            log=lines.append,
        )
    message = str(raised.value)
    assert "\n" not in message and SECRET not in message
    assert "symlink" in message or "regular file" in message, (message, lines)
    assert "tests/evil" in message or "tests_evil" in message, message
    assert not any(SECRET in line for line in lines), lines


def _layers(tmp_path: Path) -> Path:
    bp = tmp_path / "layers" / "tests_evil"
    (bp / "evil" / "env.build").mkdir(parents=True)
    (bp / "evil.toml").write_text("[types]\nbuild = true\n")
    return bp


def test_with_build_layer_refuses_a_linked_env_file(tmp_path: Path, host_secret: Path) -> None:
    bp = _layers(tmp_path)
    (bp / "evil" / "env.build" / "NAME").symlink_to(host_secret)
    with pytest.raises(BuildError) as raised:
        with_build_layer({}, bp / "evil")
    assert "symlink" in str(raised.value) and SECRET not in str(raised.value)
    with pytest.raises(BuildError):
        with_buildpack_layers({}, bp)


def test_the_readers_of_tomls_refuse_links(tmp_path: Path, host_secret: Path) -> None:
    bp = _layers(tmp_path)
    host_toml = host_secret.with_name("x.toml")
    host_toml.write_text('[metadata]\nsecret = "' + SECRET + '"\n')
    (bp / "store.toml").symlink_to(host_toml)
    (bp / "other.toml").symlink_to(host_toml)
    for read in (
        lambda: _read_store(bp / "store.toml", "tests/evil"),
        lambda: _read_layer_toml(bp / "other.toml", "tests/evil"),
    ):
        with pytest.raises(CnbError) as raised:
            read()
        assert SECRET not in str(raised.value)


def test_read_bytes_refuses_every_kind_of_escape(tmp_path: Path, host_secret: Path) -> None:
    root = tmp_path / "root"
    (root / "dir").mkdir(parents=True)
    (root / "file").write_text("fine")
    (root / "link").symlink_to(host_secret)
    (root / "dirlink").symlink_to(host_secret.parent, target_is_directory=True)
    os.mkfifo(root / "fifo")
    assert read_bytes(root / "file", root=root) == b"fine"
    for path in (
        root / "link",
        root / "dirlink" / "shadow",
        root / "fifo",
        root / "dir",
        root / ".." / "host" / "shadow",
        host_secret,
    ):
        with pytest.raises(BuildError) as raised:
            read_bytes(path, root=root)
        assert "\n" not in str(raised.value)
    with pytest.raises(BuildError, match="larger"):
        read_bytes(root / "file", root=root, limit=2)


def test_read_buildpack_output_refuses_a_linked_layer_toml(
    tmp_path: Path, host_secret: Path
) -> None:
    bp = _layers(tmp_path)
    (bp / "evil.toml").unlink()
    (bp / "evil.toml").symlink_to(host_secret)
    element = GroupElement("tests/evil", "1.0.0", False, None)  # type: ignore[arg-type]
    with pytest.raises(BuildError) as raised:
        read_buildpack_output(element, bp)
    assert SECRET not in str(raised.value)


# -- class 10: home and cache private --------------------------------------------------------


def test_home_and_cache_are_created_private(private_dirs: Path) -> None:
    result = run_cli("images")
    assert result.exit_code == 0, result.output
    for name in ("home", "cache"):
        mode = stat.S_IMODE((private_dirs / name).stat().st_mode)
        assert mode == 0o700, (name, oct(mode))


def test_an_existing_open_home_and_cache_are_made_private(private_dirs: Path) -> None:
    for name in ("home", "cache"):
        (private_dirs / name).mkdir(parents=True)
        (private_dirs / name).chmod(0o777)
    assert run_cli("images").exit_code == 0
    for name in ("home", "cache"):
        assert stat.S_IMODE((private_dirs / name).stat().st_mode) == 0o700


def test_a_home_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a directory another user's needs root")
    other = tmp_path / "other"
    other.mkdir()
    os.chown(other, 65534, 65534)
    monkeypatch.setenv("CNBSDK_CACHE_DIR", str(other))
    assert_one_line_error(run_cli("images"), contains="belongs to uid 65534")
    with pytest.raises(CnbError, match="not to you"):
        private_directory(other, name="x")


def test_a_home_that_is_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("CNBSDK_HOME", str(tmp_path / "file"))
    assert_one_line_error(run_cli("images"), contains="not a directory")
    shutil.rmtree(tmp_path / "private", ignore_errors=True)


@pytest.mark.parametrize("toml_name", ["..toml", "...toml", "a\u202eb.toml", "a\tb.toml"])
def test_a_layer_name_that_is_no_directory_name_is_refused(tmp_path: Path, toml_name: str) -> None:
    bp = _layers(tmp_path)
    (bp / toml_name).write_text("[types]\nlaunch = true\n")
    element = GroupElement("tests/evil", "1.0.0", False, None)  # type: ignore[arg-type]
    with pytest.raises(BuildError) as raised:
        read_buildpack_output(element, bp)
    assert "layer name" in str(raised.value) and "\n" not in str(raised.value)


def test_an_images_passwd_linked_to_a_host_file_is_not_read(
    tmp_path: Path, host_secret: Path
) -> None:
    from cnbsdk.lifecycle.run import _colon_file
    from cnbsdk.lifecycle.sandbox import home_directory

    host_secret.write_text("cnb:x:1000:1000::/HOST-SECRET-HOME:/bin/sh\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "passwd").symlink_to(host_secret)
    assert home_directory(rootfs, 1000) == "/"
    assert _colon_file(rootfs / "etc" / "passwd") == []
    (rootfs / "etc" / "passwd").unlink()
    (rootfs / "etc" / "passwd").write_text("cnb:x:1000:1000::/home/cnb:/bin/sh\n")
    assert home_directory(rootfs, 1000) == "/home/cnb"
