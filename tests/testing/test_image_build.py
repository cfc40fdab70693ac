"""The ``cnb_build`` harness end to end: real images built by the creator (bubblewrap, the
default stack in the user's cnbsdk store, shared across sessions and xdist workers), started
under bubblewrap as ``cnbsdk run`` starts them, answered over loopback HTTP.

The bash buildpacks under ``fixtures/buildpacks`` compile ``hello-server`` (a small C HTTP
server) with the build image's gcc into a cached launch layer.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
import zipfile
from pathlib import Path

import pytest

from cnbsdk.cache_dir import cache_root
from cnbsdk.oci.store import cnbsdk_home

pytest_plugins = ["pytester"]

FIXTURES = Path(__file__).parent / "fixtures"
HTTP_HELLO = FIXTURES / "buildpacks" / "http-hello"
GREETING = FIXTURES / "buildpacks" / "greeting"
CARELESS = FIXTURES / "buildpacks" / "careless"
TYPO = FIXTURES / "plugins" / "typo_bp"
HELLO_APP = FIXTURES / "apps" / "hello"
# pytester gives each inner session a new HOME: keep the store and cache of this one.
STORE_AND_CACHE = {"CNBSDK_HOME": str(cnbsdk_home()), "CNBSDK_CACHE_DIR": str(cache_root())}


def test_build_start_request_and_rebuild_reusing_every_layer(cnb_build) -> None:
    result = cnb_build(HELLO_APP, [HTTP_HELLO])
    assert result.exit_code == 0
    assert list(result.phases)[1:] == [
        "ANALYZING",
        "DETECTING",
        "RESTORING",
        "BUILDING",
        "EXPORTING",
    ]
    assert "Creating layer 'server'" in result.buildpack_output["fixtures/http-hello"]
    assert "Creating layer 'server'" in result.phases["BUILDING"]

    image = result.image
    assert image.entrypoint == ("/cnb/process/web",)
    assert image.env["CNB_LAYERS_DIR"] == "/layers"
    assert image.buildpacks == ("fixtures/http-hello",)
    server = image.layer("fixtures/http-hello", "server")
    assert (server.launch, server.cache, server.build) == (True, True, False)
    assert len(server.data["source-sha256"]) == 64
    assert image.processes["web"].command == ("hello-server",)
    assert image.processes["web"].args == ("hello.txt",)
    assert result.sbom("fixtures/http-hello", "server")["components"][0]["name"] == "hello-server"
    assert result.report.digest == image.digest

    app = result.start()
    response = app.get("/")
    assert response.status == 200
    assert response.body == "Hello, world!\nThis app was built in a test.\n"
    assert f"listening on port {app.port}" in app.logs
    assert app.exec("cat hello.txt").output == "This app was built in a test.\n"
    assert app.stop() == 143  # SIGTERM
    assert not app.running
    assert f"listening on port {app.port}" in app.logs  # kept after the stop

    again = result.rebuild()
    again.assert_all_layers_reused()
    again.assert_layer_reused("fixtures/http-hello:server", because="unchanged")
    assert 'Restoring data for "fixtures/http-hello:server" from cache' in again.phases["RESTORING"]

    changed = again.rebuild(files={"hello.txt": "Changed.\n"})
    changed.assert_layer_reused("fixtures/http-hello:server")
    assert "Added 1/1 app layer(s)" in changed.phases["EXPORTING"]
    assert changed.image.digest != image.digest
    assert changed.start().get("/").body == "Hello, world!\nChanged.\n"
    # Each result keeps naming its own image: the first one still serves the first app.
    assert result.spec.image != changed.spec.image
    assert result.start().get("/").body == "Hello, world!\nThis app was built in a test.\n"


def test_layer_rebuilt_because_is_read_from_the_buildpack_log(cnb_build, tmp_path: Path) -> None:
    buildpack = tmp_path / "http-hello"
    subprocess.run(["cp", "-a", str(HTTP_HELLO), str(buildpack)], check=True)
    first = cnb_build(HELLO_APP, [buildpack])
    source = buildpack / "hello-server.c"
    source.write_text(source.read_text().replace(': "Hello"', ': "Hi"'))
    second = first.rebuild(buildpacks=[buildpack])
    second.assert_layer_rebuilt("fixtures/http-hello:server", because="the source changed")
    with pytest.raises(AssertionError, match="was not reused"):
        second.assert_layer_reused("fixtures/http-hello:server")
    with pytest.raises(AssertionError, match="not every layer was reused"):
        second.assert_all_layers_reused()
    assert second.start().get("/").body.startswith("Hi, world!")


def test_two_buildpacks_in_one_group_one_providing_what_the_other_requires(cnb_build) -> None:
    result = cnb_build(HELLO_APP, [HTTP_HELLO, GREETING], env={"BP_GREETING": "Howdy"})
    assert result.image.buildpacks == ("fixtures/http-hello", "fixtures/greeting")
    assert "Set HELLO_GREETING" in result.buildpack_output["fixtures/greeting"]
    assert result.start().get("/").body.startswith("Howdy, world!\n")
    greet = result.run("echo $HELLO_GREETING; exit 3")
    assert (greet.exit_code, greet.output) == (3, "Howdy\n")


def test_other_processes_start_without_a_port(cnb_build) -> None:
    result = cnb_build(HELLO_APP, [HTTP_HELLO, GREETING])
    app = result.start("greet", port=False)
    assert app._started.process.wait(timeout=30) == 0
    assert app.logs == "Howdy from greet\n"


def test_a_failing_detect_is_a_result_when_expected(cnb_build) -> None:
    result = cnb_build({"index.html": "<p>no hello</p>"}, [HTTP_HELLO], expect_failure=True)
    assert result.exit_code == 20
    assert result.failure.phase == "DETECTING"
    assert "no hello.txt in the app" in str(result.failure)
    assert "no hello.txt in the app" in result.buildpack_output["fixtures/http-hello"]
    (attempt,) = result.detect_report.attempts
    assert attempt.verdicts[0].outcome == "fail"


def test_a_failing_build_is_a_result_when_expected(cnb_build) -> None:
    result = cnb_build(HELLO_APP, [HTTP_HELLO], env={"HELLO_FAIL": "1"}, expect_failure=True)
    assert result.exit_code == 51
    assert result.failure.phase == "BUILDING"
    assert result.failure.buildpack == "fixtures/http-hello@1.0.0"
    assert "HELLO_FAIL is set: failing as asked" in str(result.failure)
    with pytest.raises(AssertionError, match="cannot start the image: the build failed"):
        result.start()


def test_apps_as_files_zips_and_with_project_toml(cnb_build, tmp_path: Path) -> None:
    archive = tmp_path / "app.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("hello.txt", "From a zip.\n")
    assert cnb_build(archive, [HTTP_HELLO]).run("cat hello.txt").output == "From a zip.\n"
    project = {"_": {"schema-version": "0.2"}, "io": {"buildpacks": {"build": {
        "env": [{"name": "BP_GREETING", "value": "Ahoy"}]}}}}  # fmt: skip
    result = cnb_build({"hello.txt": "x\n"}, [HTTP_HELLO, GREETING], project_toml=project)
    assert result.run("echo $HELLO_GREETING").output == "Ahoy\n"
    offline = cnb_build(HELLO_APP, [HTTP_HELLO], network="none")
    cleared = offline.rebuild(clear_cache=True)
    assert "Skipping buildpack layer analysis and restore (--clear-cache)" in cleared.log
    assert "Creating layer 'server'" in cleared.buildpack_output["fixtures/http-hello"]


def test_files_written_where_nothing_keeps_them_and_no_process_are_warned_at_build(
    cnb_build,
) -> None:
    result = cnb_build(HELLO_APP, [CARELESS])
    building = result.phases["BUILDING"]
    assert (
        "Warning: buildpack fixtures/careless@1.0.0 wrote /home/cnb/careless/data, "
        "/layers/careless-stray, /tmp/careless-output.txt outside its layers directory "
        "(/layers/fixtures_careless): those files are not kept in the image or the cache"
    ) in building
    assert (
        "Warning: buildpack fixtures/careless@1.0.0 made /layers/fixtures_careless/no-toml "
        "without no-toml.toml: it is not a layer, so it is not kept"
    ) in building
    assert "Warning: no buildpack declared a process, so the image has no default process" in (
        building
    )
    assert result.created.build.warnings  # also in the build's outcome


def test_cnbsdk_run_of_an_image_without_a_default_process_says_what_to_do(cnb_build) -> None:
    from click.testing import CliRunner

    from cnbsdk.cli.main import cli

    plain = cnb_build(HELLO_APP, [CARELESS])
    ran = CliRunner().invoke(cli, ["run", plain.spec.image])
    assert ran.exit_code == 1
    assert ran.output == (
        f"error: config.Entrypoint: {plain.spec.image} has no default process: give --process "
        "TYPE (it has no process types) or a command after --, or rebuild it with "
        "--default-process TYPE (or a buildpack that declares a default process)\n"
    )
    two = cnb_build(HELLO_APP, [HTTP_HELLO], default_process=None)
    assert two.image.entrypoint == ("/cnb/process/web",)  # a default: nothing to say


def test_a_plugin_exception_names_its_type_and_the_author_line_and_debug_shows_it_all(
    cnb_build,
) -> None:
    failed = cnb_build(HELLO_APP, [TYPO], expect_failure=True)
    assert failed.failure.phase == "BUILDING"
    line = (TYPO / "__init__.py").read_text().splitlines().index(
        '    context.layer("greeting")  # the typo'
    ) + 1
    output = failed.buildpack_output["fixtures/typo"]
    assert re.search(
        r"^error: AttributeError: 'BuildContext' object has no attribute 'layer' "
        rf"\(at /cnb/buildpacks/fixtures_typo/0\.1\.0/lib/typo_bp/__init__\.py:{line} in build\)$",
        output,
        re.MULTILINE,
    ), output
    assert "Traceback" not in output
    debug = cnb_build(HELLO_APP, [TYPO], env={"BP_LOG_LEVEL": "DEBUG"}, expect_failure=True)
    assert "Traceback (most recent call last):" in debug.buildpack_output["fixtures/typo"]


def test_cnbsdk_verbose_gives_buildpacks_debug_logging() -> None:
    import click

    from cnbsdk.cli.detect import verbose_buildpacks
    from cnbsdk.cli.main import cli

    with click.Context(cli, obj={"verbose": True}):
        assert verbose_buildpacks(("A=1",)) == ("A=1", "BP_LOG_LEVEL=DEBUG")
        assert verbose_buildpacks(("BP_LOG_LEVEL=INFO",)) == ("BP_LOG_LEVEL=INFO",)
    with click.Context(cli, obj={"verbose": False}):
        assert verbose_buildpacks(()) == ()


def test_an_unknown_buildpack_toml_key_is_warned_at_build(cnb_build, tmp_path: Path) -> None:
    buildpack = tmp_path / "http-hello"
    subprocess.run(["cp", "-a", str(HTTP_HELLO), str(buildpack)], check=True)
    descriptor = buildpack / "buildpack.toml"
    descriptor.write_text(descriptor.read_text().replace("sbom-formats", "sbom-format"))
    result = cnb_build(HELLO_APP, [buildpack], expect_failure=True)
    assert (
        "Warning: buildpack fixtures/http-hello@1.0.0: buildpack.toml: buildpack.sbom-format: "
        "unknown key (did you mean 'sbom-formats'?)"
    ) in result.phases["PREPARING"]
    # ... and the SBOM it writes is then refused, which the warning explains.
    assert result.failure.phase == "BUILDING"


def test_buildpacks_from_a_cnb_file_and_from_the_default_builder(cnb_build, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cnbsdk.cli.main import cli

    cnb = tmp_path / "http-hello.cnb"
    packaged = CliRunner().invoke(
        cli, ["package", "buildpack", str(HTTP_HELLO), "--format", "cnb", "--output", str(cnb)]
    )
    assert packaged.exit_code == 0, packaged.output
    from_cnb = cnb_build(HELLO_APP, [cnb])
    assert from_cnb.start().get("/").body.startswith("Hello, world!")

    # No buildpacks: the default builder (every installed plugin, one group each).
    from_builder = cnb_build(HELLO_APP)
    assert from_builder.image.buildpacks == ("examples/hello",)
    assert from_builder.run("hello").output.startswith("Hello, world!")


# -- what a failure looks like in the author's pytest output -----------------------------------


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name, value in STORE_AND_CACHE.items():
        monkeypatch.setenv(name, value)
    return pytester


def run_inner(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makepyfile(
        test_inner=f"from pathlib import Path\nHTTP_HELLO = Path({str(HTTP_HELLO)!r})\n"
        f"HELLO_APP = Path({str(HELLO_APP)!r})\n" + textwrap.dedent(body)
    )
    return pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")


def assert_one_clear_line(result: pytest.RunResult, line: str) -> None:
    output = result.stdout.str()
    result.assert_outcomes(failed=1)
    assert line in output, output
    assert "cnbsdk/lifecycle" not in output and "cnbsdk/testing" not in output, output
    assert "Traceback" not in output, output


def test_an_unexpected_build_failure_shows_the_phase_and_the_buildpack_last_lines(
    inner: pytest.Pytester,
) -> None:
    result = run_inner(
        inner,
        """
        def test_it(cnb_build):
            cnb_build(HELLO_APP, [HTTP_HELLO], env={"HELLO_FAIL": "1"})
        """,
    )
    assert_one_clear_line(
        result,
        "cnb_build: the build failed in BUILDING (buildpack fixtures/http-hello@1.0.0)",
    )
    result.stdout.fnmatch_lines(["*| HTTP hello 1.0.0", "*|   HELLO_FAIL is set: failing as asked"])


def test_an_unknown_buildpack_id_is_one_line(inner: pytest.Pytester) -> None:
    result = run_inner(
        inner,
        """
        def test_it(cnb_build):
            cnb_build(HELLO_APP, ["examples/no-such-buildpack"])
        """,
    )
    assert_one_clear_line(result, "cnb_build: no installed buildpack 'examples/no-such-buildpack'")


def test_a_missing_app_is_one_line(inner: pytest.Pytester) -> None:
    result = run_inner(
        inner,
        """
        def test_it(cnb_build):
            cnb_build(Path("no/such/app"), [HTTP_HELLO])
        """,
    )
    assert_one_clear_line(result, "cnb_build: the app no/such/app does not exist")


def test_a_start_that_never_listens_shows_the_output_and_exit_code_and_leaves_nothing(
    inner: pytest.Pytester,
) -> None:
    result = run_inner(
        inner,
        """
        def test_it(cnb_build):
            cnb_build(HELLO_APP, [HTTP_HELLO]).start("greet", timeout=20)
        """,
    )
    output = result.stdout.str()
    assert_one_clear_line(result, "before listening on port")
    assert "exited with code 0 before listening" in output
    assert "|  from greet" in output  # what it printed (HELLO_GREETING unset)
    assert "cnbsdk-run-" not in subprocess.run(["ps", "-eo", "args"], capture_output=True,
                                               text=True).stdout  # fmt: skip


def test_an_app_started_by_a_failing_test_is_stopped(inner: pytest.Pytester) -> None:
    marker = inner.path / "pid"
    result = run_inner(
        inner,
        f"""
        def test_it(cnb_build):
            app = cnb_build(HELLO_APP, [HTTP_HELLO]).start()
            Path({str(marker)!r}).write_text(str(app._started.process.pid))
            assert False, "the test fails while the app runs"
        """,
    )
    result.assert_outcomes(failed=1)
    pid = int(marker.read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
