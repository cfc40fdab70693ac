"""Bad input: one-line errors naming the file and field, exit 1, nothing at the output."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import cnbsdk, copy_shipped_stack

from cnbsdk.errors import StackError
from cnbsdk.stacks.definition import StackDefinition
from cnbsdk.stacks.lock import StackLock


def _stack(tmp_path: Path, old: str = "", new: str = "", *, keep_lock: bool = False) -> Path:
    stack_file = copy_shipped_stack(tmp_path)
    if not keep_lock:
        (tmp_path / "stack.lock").unlink()
    text = stack_file.read_text()
    if old:
        assert old in text
        stack_file.write_text(text.replace(old, new, 1))
    return stack_file


def _fails(stack_file: Path, *extra: str) -> str:
    out = stack_file.parent / "out"
    result = cnbsdk(
        "stack", "create", str(stack_file),
        "--run-image", f"oci:{out}:run", "--build-image", f"oci:{out}:build", *extra,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), "nothing may be written at the output reference"
    return result.stderr


def test_unknown_package_names_the_package_and_field(tmp_path: Path) -> None:
    stack_file = _stack(tmp_path, '"libcrypt1",', '"libcrypt1", "no-such-package-cnbsdk",')
    error = _fails(stack_file)
    assert "run.packages" in error and "'no-such-package-cnbsdk'" in error
    assert str(stack_file) in error
    assert not (tmp_path / "stack.lock").exists()


def test_unknown_distribution(tmp_path: Path) -> None:
    error = _fails(_stack(tmp_path, 'name = "debian"', 'name = "fedora"'))
    assert "distribution.name" in error and "fedora" in error


def test_malformed_stack_file(tmp_path: Path) -> None:
    error = _fails(_stack(tmp_path, "[run]", "[run"))
    assert "invalid TOML" in error and "stack-definition.toml" in error


def test_apt_unreachable(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = f'[apt]\nsources = ["deb http://127.0.0.1:{port}/debian bookworm main"]\n\n[filter]'
    error = _fails(_stack(tmp_path, "[filter]", source))
    assert "apt-get update failed" in error and "apt.sources" in error
    assert f"127.0.0.1:{port}" in error


def test_a_bad_image_reference_fails_before_apt_is_asked(tmp_path: Path) -> None:
    with socket.socket() as probe:  # apt would fail on this port: it must not be reached
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = f'[apt]\nsources = ["deb http://127.0.0.1:{port}/debian bookworm main"]\n\n[filter]'
    stack_file = _stack(tmp_path, "[filter]", source)
    out = tmp_path / "out"
    result = cnbsdk(
        "stack", "create", str(stack_file),
        "--build-image", f"oci:{out}:build", "--run-image", "Team/Run:1",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        "error: invalid image reference 'Team/Run:1': invalid name 'Team/Run' "
        "(lowercase letters, digits, '.', '_', '-', '/')\n"
    )
    assert not out.exists() and not (tmp_path / "stack.lock").exists()


def test_a_bad_source_date_epoch_fails_before_apt_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read as ``cnbsdk build`` reads it: a value that is no time is refused, not ignored."""
    with socket.socket() as probe:  # apt would fail on this port: it must not be reached
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = f'[apt]\nsources = ["deb http://127.0.0.1:{port}/debian bookworm main"]\n\n[filter]'
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    error = _fails(_stack(tmp_path, "[filter]", source))
    assert "SOURCE_DATE_EPOCH" in error and "'yesterday'" in error
    assert "apt" not in error


def test_pinned_version_gone_from_the_mirror_says_to_update(tmp_path: Path) -> None:
    stack_file = _stack(tmp_path, keep_lock=True)
    lock_file = tmp_path / "stack.lock"
    lock = StackLock.read(lock_file)
    zlib = lock.by_name()["zlib1g"]
    text = lock_file.read_text()
    entry = f'version = "{zlib.version}"'
    assert entry in text
    text = text.replace(entry, 'version = "1:0.0-gone"').replace(zlib.sha256, "0" * 64)
    lock_file.write_text(text)
    error = _fails(stack_file)
    assert "zlib1g 1:0.0-gone" in error and "`cnbsdk stack update`" in error


def test_lock_for_other_packages_says_to_update(tmp_path: Path) -> None:
    stack_file = _stack(tmp_path, '"libcrypt1",', '"libcrypt1", "libzstd1",', keep_lock=True)
    error = _fails(stack_file)
    assert "stack.lock" in error and "`cnbsdk stack update`" in error


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("uid = 1001", "uid = 1000", "run.uid"),
        ("uid = 1001", 'uid = "1001"', "run.uid"),
        ("uid = 1000", "uid = 0", "build.uid"),
        ('"bash", "dash"', '"Bash", "dash"', "build.packages[5]"),
        ('version = "12"', 'version = "42"', "distribution.version"),
        ('codename = "bookworm"', 'codename = "trixie"', "distribution.codename"),
        ('id = "io.cnbsdk.stacks.bookworm"', 'id = "bad id!"', "stack.id"),
        ("[filter]", "[filters]", "filters"),
        ('exclude = ["debconf", "dpkg", "perl-base"]', 'exlude = ["debconf"]', "run.exlude"),
        ("packages = [\n    # the shell", "pakages = [\n    # the shell", "build.pakages"),
        ('maintainer = "', 'maintaner = "', "stack.maintaner"),
        ('architecture = "amd64"', 'architecture = "x86_64"', "distribution.architecture"),
        ("path-exclude = [", "path-exclde = [", "filter.path-exclde"),
    ],
)
def test_bad_stack_fields_are_one_line_errors(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    stack_file = _stack(tmp_path, old, new)
    with pytest.raises(StackError) as caught:
        StackDefinition.read(stack_file)
    assert caught.value.field == field
    assert caught.value.file == str(stack_file)
    assert "\n" not in str(caught.value)
    if field.endswith(("exlude", "pakages", "maintaner", "path-exclde")):
        assert "unknown key (did you mean " in str(caught.value)
    if field == "distribution.architecture" and "x86_64" in new:
        assert "amd64" in str(caught.value)


def test_shipped_stack_round_trips() -> None:
    from cnbsdk.stacks import shipped_stack

    definition = StackDefinition.read(shipped_stack())
    assert StackDefinition.from_toml(definition.to_toml()) == definition
    lock = StackLock.read(shipped_stack().with_name("stack.lock"))
    assert StackLock.from_toml(lock.to_toml()) == lock
    assert lock.requirements == definition.requirements_digest()
