"""``cnbsdk image ...`` as a user types it: records created, listed and patched in kp's
shape; bad input (an existing name, a bad Git URL, an unknown builder, a destination we
cannot write, a corrupt store) is one ``error:`` line and nothing is written.
Starts: git (a repository the test makes)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from cnbsdk.cli.main import cli


def cnbsdk(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app"
    path.mkdir()
    (path / "hello.txt").write_text("hi\n")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    run = lambda *a: subprocess.run(["git", "-C", str(path), *a], check=True, capture_output=True)  # noqa: E731
    run("init", "-q", "-b", "main")
    (path / "hello.txt").write_text("hi\n")
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    return path


def test_create_list_status_in_every_output(home: Path, app: Path, tmp_path: Path) -> None:
    tag = f"oci:{tmp_path}/out:app"
    created = cnbsdk("image", "create", "app", "--tag", tag, "--local-path", str(app),
                     "-e", "BP_X=1", "--additional-tag", "demo/app:extra")  # fmt: skip
    assert created.exit_code == 0, created.output
    assert created.output == 'Image Resource "app" created\n'
    listed = cnbsdk("image", "list")
    assert listed.output.split("\n")[0].split() == [
        "NAME",
        "READY",
        "LATEST",
        "REASON",
        "LATEST",
        "IMAGE",
    ]
    assert listed.output.split("\n")[1].split() == ["app", "Unknown"]
    as_json = json.loads(cnbsdk("image", "status", "app", "--json").output)
    as_yaml = yaml.safe_load(cnbsdk("image", "status", "app", "--output", "yaml").output)
    assert as_json == as_yaml
    assert as_json["spec"]["env"] == [{"name": "BP_X", "value": "1"}]
    assert as_json["spec"]["additionalTags"] == ["demo/app:extra"]
    assert as_json["spec"]["source"] == {
        "kind": "local",
        "url": str(app),
        "revision": "",
        "sub_path": "",
    }
    text = cnbsdk("image", "status", "app").output
    assert "Type:" in text and "Local Source" in text and str(app) in text


def test_patch_changes_only_what_is_given(home: Path, repo: Path) -> None:
    assert cnbsdk("image", "create", "app", "--tag", "demo/app", "--git", f"file://{repo}",
                  "-e", "A=1", "-e", "B=2").exit_code == 0  # fmt: skip
    patched = cnbsdk("image", "patch", "app", "--git-revision", "v1", "-d", "A", "-e", "C=3",
                     "--success-build-history-limit", "3")  # fmt: skip
    assert patched.exit_code == 0, patched.output
    spec = json.loads(cnbsdk("image", "status", "app", "--json").output)["spec"]
    assert spec["source"]["revision"] == "v1" and spec["source"]["url"] == f"file://{repo}"
    assert spec["env"] == [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}]
    assert spec["successBuildHistoryLimit"] == 3 and spec["failedBuildHistoryLimit"] == 10
    assert cnbsdk("image", "patch", "app").output == 'Image Resource "app" is unchanged\n'


def test_trigger_says_the_next_build_number(home: Path, app: Path) -> None:
    cnbsdk("image", "create", "app", "--tag", "demo/app", "--local-path", str(app))
    result = cnbsdk("image", "trigger", "app")
    assert result.output == 'Triggered build for Image Resource "app" with Build Number 1\n'
    assert json.loads(cnbsdk("image", "status", "app", "--json").output)["triggerRequested"]


def test_delete_forgets_the_record(home: Path, app: Path) -> None:
    cnbsdk("image", "create", "app", "--tag", "demo/app", "--local-path", str(app))
    assert cnbsdk("image", "delete", "app").output == 'Image Resource "app" deleted\n'
    assert "no image named 'app'" in one_error_line(cnbsdk("image", "status", "app"))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--git", "file:///nonexistent/repo"], "--git: cannot read the Git repository"),
        (["--git", "--upload-pack=touch /tmp/x"], "is not a Git URL"),
        (["--local-path", "/nonexistent"], "--local-path: '/nonexistent' is not a directory"),
        (["--blob", "/nonexistent.tgz"], "neither a file nor a URL"),
        (["--builder", "nosuch/builder:1"], "--builder: unknown builder 'nosuch/builder:1'"),
        (["--tag", "oci:/nonexistent/out:app"], "--tag: cannot write the destination"),
        (["--tag", "NOT A REF"], "--tag:"),
        (["--success-build-history-limit", "0"], "at least 1"),
        (["-e", "NOVALUE"], "is not NAME=VALUE"),
        ([], None),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    home: Path, app: Path, args: list[str], words: str | None
) -> None:
    if "--tag" not in args:
        args = [*args, "--tag", "demo/app"]
    if not any(a in args for a in ("--git", "--local-path", "--blob")):
        args = [*args, "--local-path", str(app)]
    result = cnbsdk("image", "create", "new", *args)
    if words is None:  # the control: the same command with good input works
        assert result.exit_code == 0, result.output
        return
    assert words in one_error_line(result)
    assert json.loads(cnbsdk("image", "list", "--json").output) == []


def test_a_local_path_holding_cnbsdks_home_is_refused(home: Path, app: Path) -> None:
    """The store and the images would be part of the source: every build would change it
    (and the source digest would open the store under serve's feet)."""
    home.mkdir()
    result = cnbsdk("image", "create", "new", "--tag", "demo/app", "--local-path", str(home.parent))
    assert f"--local-path: '{home.parent}' holds cnbsdk's home" in one_error_line(result)
    assert json.loads(cnbsdk("image", "list", "--json").output) == []


def test_an_existing_name_is_refused(home: Path, app: Path) -> None:
    cnbsdk("image", "create", "app", "--tag", "demo/app", "--local-path", str(app))
    line = one_error_line(
        cnbsdk("image", "create", "app", "--tag", "other/app", "--local-path", str(app))
    )
    assert "image 'app' already exists" in line
    assert (
        json.loads(cnbsdk("image", "status", "app", "--json").output)["spec"]["tag"] == "demo/app"
    )


def test_a_corrupt_store_is_one_line(home: Path) -> None:
    home.mkdir(mode=0o700)
    (home / "keep.db").write_bytes(b"\x00garbage" * 500)
    line = one_error_line(cnbsdk("image", "list"))
    assert f"{home / 'keep.db'}: is not a usable cnbsdk store" in line


@pytest.mark.registry
def test_a_registry_we_may_not_push_to_is_refused_before_anything_is_written(
    home: Path,
    app: Path,
    registry,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    tag = f"{registry.host}/team/app"
    line = one_error_line(cnbsdk("image", "create", "app", "--tag", tag, "--local-path", str(app)))
    assert f"--tag: cannot write the destination '{tag}'" in line
    assert registry.password not in line
    assert json.loads(cnbsdk("image", "list", "--json").output) == []
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    created = cnbsdk("image", "create", "app", "--tag", tag, "--local-path", str(app))
    assert created.exit_code == 0, created.output
