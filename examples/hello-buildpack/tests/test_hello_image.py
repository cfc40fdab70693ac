"""Integration tests for examples/hello: whole images built, started and rebuilt by cnb_build."""

BUILDPACK = "examples/hello"
APP = {"hello.txt": "This app was built by your first buildpack.\n"}
ANSWER = "Hello, world!\nThis app was built by your first buildpack.\n"


def test_the_image_runs_hello_as_its_default_process(cnb_build):
    result = cnb_build(APP, [BUILDPACK])
    assert result.image.entrypoint == ("/cnb/process/web",)
    assert result.image.processes["web"].command == ("hello",)
    assert result.image.layer("examples/hello", "hello").data == {"version": "1.0.0"}
    assert result.sbom("examples/hello", "hello")["components"][0]["name"] == "hello"
    assert result.run("hello").output == ANSWER


def test_the_http_process_answers(cnb_build):
    app = cnb_build(APP, [BUILDPACK]).start("http")
    assert app.get("/").body == ANSWER


def test_a_rebuild_reuses_every_layer_and_sees_app_changes(cnb_build):
    again = cnb_build(APP, [BUILDPACK]).rebuild()
    again.assert_all_layers_reused()
    again.assert_layer_reused("examples/hello:hello", because="version 1.0.0 unchanged")
    changed = again.rebuild(files={"hello.txt": "Changed.\n"})
    changed.assert_layer_reused("examples/hello:hello")
    assert changed.start("http").get("/").body == "Hello, world!\nChanged.\n"


def test_an_app_without_hello_txt_fails_detection(cnb_build):
    result = cnb_build({"index.html": "<h1>Hi</h1>\n"}, [BUILDPACK], expect_failure=True)
    assert result.failure.phase == "DETECTING"
    assert "no hello.txt in the app directory" in str(result.failure)
