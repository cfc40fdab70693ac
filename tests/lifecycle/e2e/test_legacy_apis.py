"""Buildpacks of Buildpack API 0.7, 0.8 and 0.9 (bash, in the buildpacks/samples style) build
and run as under the reference lifecycle: each checks its own inputs (the build fails
otherwise), the image records every process with the right command form and ``direct``, and
the launcher runs each with the semantics of its buildpack's API.

Starts: bubblewrap (the build's sandbox and every run of the image), the C compiler (once, for
the launcher).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnbsdk.lifecycle.default_stack import DefaultStack
from cnbsdk.lifecycle.run import run_image
from cnbsdk.spec.labels import BUILD_METADATA_LABEL
from tests.lifecycle.e2e.conftest import ImageInfo, build_args, cnbsdk, read_app_image

LEGACY = ("legacy-07", "legacy-08", "legacy-09")


@dataclass(frozen=True)
class Built:
    image: str
    output: str
    app: ImageInfo
    run_cache: Path


@pytest.fixture(scope="module")
def built(e2e_home: DefaultStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    out = tmp_path_factory.mktemp("legacy")
    app = out / "app"
    (app / "sub").mkdir(parents=True)
    (app / "hello.txt").write_text("hi\n")
    (app / ".profile").write_text("export APP_PROFILE=app-profile\n")
    image = f"oci:{out}/layout:app"
    result = cnbsdk(*build_args(app, image, out / "cache", *LEGACY))
    assert result.exit_code == 0, result.output
    yield Built(image, result.output, read_app_image(image), out / "run-cache")


def run(built: Built, process: str, *args: str) -> str:
    """What ``/cnb/process/<process> ARGS`` prints (stdout and stderr) in the image."""
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryFile() as captured:
        patch.setenv("CNBSDK_CACHE_DIR", str(built.run_cache))
        code = run_image(built.image, process=process, args=args, stdout=captured, stderr=captured)
        captured.seek(0)
        output = captured.read().decode()
    assert code == 0, output
    return output


def test_each_api_got_its_own_inputs(built: Built) -> None:
    # The buildpacks exit non-zero when an input is missing or one is there too early, so a
    # passing detect (whose output is shown only on failure) checked its inputs too.
    assert "e2e/legacy-07 0.0.7" in built.output
    for line in (
        "legacy-08 build: CNB_* inputs",
        "legacy-09 build: array command",
    ):
        assert line in built.output
    # [[stacks]] era: the build image's CNB_STACK_ID is passed through.
    assert "legacy-07 build: CNB_STACK_ID=io.cnbsdk.stacks." in built.output


def test_working_dir_before_api_0_8_is_ignored_with_a_warning(built: Built) -> None:
    assert (
        "Warning: buildpack e2e/legacy-07@0.0.7: process 'wd-07' sets working-dir, which "
        "Buildpack API 0.7 does not have: ignored"
    ) in built.output
    assert run(built, "wd-07") == "/workspace\n"
    assert run(built, "wd-08") == "/workspace/sub\n"


def test_the_image_records_array_commands_and_direct_per_api(built: Built) -> None:
    metadata = built.app.label_json(BUILD_METADATA_LABEL)
    processes = {p["type"]: p for p in metadata["processes"]}
    shown = {
        kind: (p["command"], p["args"], p["direct"], p["buildpackID"], p.get("working-dir"))
        for kind, p in processes.items()
    }
    assert shown == {
        "shell-07": (
            ["echo shell-07 $FROM_PROFILE_07 $APP_PROFILE"],
            [],
            False,
            "e2e/legacy-07",
            None,
        ),
        "wd-07": (["pwd"], [], False, "e2e/legacy-07", None),
        "greet-08": (["echo"], ["hello", "$GREETING"], False, "e2e/legacy-08", None),
        "direct-08": (["echo"], ["direct", "$GREETING"], True, "e2e/legacy-08", None),
        "profile-08": (
            ["echo profile-08 ${FROM_PROFILE_08:-none} ${APP_PROFILE:-none}"],
            [],
            False,
            "e2e/legacy-08",
            None,
        ),
        "wd-08": (["pwd"], [], True, "e2e/legacy-08", "/workspace/sub"),
        "array-09": (["echo", "fixed"], ["default-arg", "$GREETING"], True, "e2e/legacy-09", None),
    }
    assert metadata["buildpack-default-process-type"] == "greet-08"
    assert built.app.config.entrypoint == ("/cnb/process/greet-08",)


def test_a_shell_process_before_0_9_evaluates_its_args_and_appends_the_users(
    built: Built,
) -> None:
    assert run(built, "greet-08") == "hello from-08\n"
    assert run(built, "greet-08", "extra", "$GREETING") == "hello from-08 extra from-08\n"


def test_a_direct_process_before_0_9_has_no_shell(built: Built) -> None:
    assert run(built, "direct-08") == "direct $GREETING\n"
    assert run(built, "direct-08", "only") == "direct $GREETING only\n"


def test_shell_processes_source_profile_d_and_the_app_profile(built: Built) -> None:
    assert run(built, "shell-07") == "shell-07 profile-07 app-profile\n"
    assert run(built, "profile-08") == "profile-08 profile-08 app-profile\n"


def test_an_array_command_of_api_0_9_is_direct_and_user_args_replace_args(built: Built) -> None:
    assert run(built, "array-09") == "fixed default-arg $GREETING\n"
    assert run(built, "array-09", "user-arg") == "fixed user-arg\n"
