"""Tests for examples/hello, written with the cnbsdk pytest plugin's fixtures."""

BUILDPACK = "hello_buildpack"


def test_detect_passes_when_the_app_has_hello_txt(cnb_app, run_detect):
    result = run_detect(BUILDPACK, cnb_app({"hello.txt": "Hi there\n"}))
    assert result.passed, result.output
    assert [p.name for p in result.plan.provides] == ["hello"]
    assert [r.name for r in result.plan.requires] == ["hello"]


def test_detect_fails_without_hello_txt(cnb_app, run_detect):
    result = run_detect(BUILDPACK, cnb_app({"index.html": "<h1>Hi</h1>\n"}))
    assert result.exit_code == 100
    assert "no hello.txt" in result.output


def test_build_contributes_a_cached_launch_layer(cnb_app, run_build):
    result = run_build(BUILDPACK, cnb_app({"hello.txt": "Hi there\n"}), plan=["hello"])
    assert result.exit_code == 0, result.output
    layer = result.layers["hello"]
    assert (layer.types.launch, layer.types.build, layer.types.cache) == (True, False, True)
    assert (layer.path / "bin" / "hello").stat().st_mode & 0o111
    assert layer.env_files() == {"env.launch/HELLO_GREETING.default": "Hello"}
    assert layer.sboms["cdx.json"]["components"][0]["name"] == "hello"
    web, http = result.launch.processes
    assert (web.type, web.command, web.default) == ("web", ("hello",), True)
    assert (http.type, http.command, http.args) == ("http", ("hello-server",), ("hello.txt",))
    assert (layer.path / "bin" / "hello-server").stat().st_mode & 0o111


def test_rebuild_reuses_the_cached_layer(cnb_app, run_build):
    app = cnb_app({"hello.txt": "Hi there\n"})
    first = run_build(BUILDPACK, app, plan=["hello"])
    second = run_build(BUILDPACK, app, plan=["hello"], restore=first)
    assert second.exit_code == 0, second.output
    assert "Reusing layer 'hello'" in second.output
    assert second.layers["hello"].types.launch


def test_the_packaged_buildpack_builds_the_same(cnb_app, cnb_package, run_build):
    packaged = cnb_package(BUILDPACK)
    result = run_build(packaged, cnb_app({"hello.txt": "Hi there\n"}), plan=["hello"])
    assert result.exit_code == 0, result.output
    assert result.layers["hello"].types.launch
    assert result.launch.processes[0].command == ("hello",)
