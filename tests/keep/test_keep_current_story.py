"""The whole keep-current story as a user lives it, as one test of steps in order:

create the image → build 1 CONFIG; commit → build 2 COMMIT; a patched OS package in the
stack (``cnbsdk stack update``) → build 3 STACK, a rebase (no app layer moved, under a
second); a newer buildpack in the builder → build 4 BUILDPACK, a rebuild; ``image trigger``
→ build 5 TRIGGER; ``build list`` shows the five, ``build logs -b 2`` shows build 2's log,
and the history limit prunes the oldest records with their logs. Then: ``image create
--wait``; ``cnbsdk serve`` SIGKILLed mid-build and restarted (the build marked failed and
built again, the previous image readable throughout); ``image export --format kpack``
checked against kpack's schemas; a failed build; an unreachable source; the delivery hook;
``build logs --follow``; an image on the default builder through a run-image patch.

Starts: git (a repository the test makes), apt-get/dpkg-deb/apt-ftparchive (a local apt
repository for the run image's stack, as tests/stacks does), bubblewrap (the tiny bash
buildpack runs in the default build image), ``cnbsdk serve`` as a process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from cnbsdk.cli.main import cli
from cnbsdk.oci.open import read_manifest_and_config
from cnbsdk.spec.labels import LIFECYCLE_METADATA_LABEL, LifecycleMetadata
from tests.keep.world import BUILDER, World, make_world, ok
from tests.stacks.local_apt import ChangelogEntry

IMAGE = "keep-test/app"

pytestmark = pytest.mark.slow


def cnbsdk(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def story_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The stack, the builder and the Git repository, made once; its CNBSDK_HOME is set
    only while the story runs (``world``)."""
    return make_world(tmp_path_factory.mktemp("keep-story"))


@pytest.fixture
def world(story_world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("CNBSDK_HOME", str(story_world.root / "home"))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.chdir(story_world.root)
    return story_world


def reconcile() -> str:
    return ok("reconcile")


def build(number: int) -> dict:
    return json.loads(ok("build", "status", "app", "-b", str(number), "--json"))


def app_layers(reference: str) -> list[str]:
    resolved, config = read_manifest_and_config(reference)
    metadata = LifecycleMetadata.from_json(config.labels[LIFECYCLE_METADATA_LABEL])
    top = list(config.diff_ids).index(metadata.run_image.top_layer)
    return [layer.digest for layer in resolved.manifest.layers[top + 1 :]]


def step_1_create_builds_with_config(world: World) -> None:
    out = ok("image", "create", "app", "--tag", IMAGE, "--git", f"file://{world.repo}",
             "--builder", BUILDER)  # fmt: skip
    assert out == 'Image Resource "app" created\n'
    out = reconcile()
    assert "Build reason(s): CONFIG" in out
    assert "app: build 1 SUCCESS" in out
    first = build(1)
    assert first["status"] == "success" and first["reasons"] == ["CONFIG"]
    assert first["changes"][0]["old"] == {}
    assert first["result"]["buildpacks"] == ["keep/tiny@1.0.0"]
    assert first["inputs"]["revision"] == world.git("rev-parse", "HEAD")
    tags = first["result"]["tags"]
    assert tags[0] == IMAGE and tags[1].startswith(f"{IMAGE}:b1.")
    assert read_manifest_and_config(tags[1])[0].digest == first["result"]["digest"]
    assert "Every image is up to date" in reconcile()


def step_2_a_commit_builds_with_commit(world: World) -> None:
    old = world.git("rev-parse", "HEAD")
    new = world.commit("hello 2\n")
    reconcile()
    second = build(2)
    assert second["reasons"] == ["COMMIT"] and second["kind"] == "build"
    assert (second["changes"][0]["old"], second["changes"][0]["new"]) == (old, new)
    assert "tiny build: greeting is hello 2" in ok("build", "logs", "app", "-b", "2")


def step_3_a_patched_stack_is_a_rebase_in_under_a_second(world: World) -> None:
    before = app_layers(IMAGE)
    old_run = build(2)["result"]["run_image"]
    world.apt.add("keep-probe", "1.0-2", changelog=[
        ChangelogEntry("1.0-2", "Fix a parser overflow (CVE-2099-0002)."),
        ChangelogEntry("1.0-1", "Initial release."),
    ])  # fmt: skip
    world.apt.remove("keep-probe", "1.0-1")
    world.apt.publish()
    assert "CVE-2099-0002" in world.stack_command("update")
    reconcile()
    third = build(3)
    assert third["reasons"] == ["STACK"] and third["kind"] == "rebase"
    assert third["changes"][0]["old"] == old_run
    assert third["changes"][0]["new"] == third["result"]["run_image"] != old_run
    assert third["result"]["seconds"] < 1.0
    assert app_layers(IMAGE) == before  # no app layer moved
    assert "===> REBASE" in ok("build", "logs", "app", "-b", "3")


def step_4_a_newer_buildpack_in_the_builder_rebuilds(world: World) -> None:
    world.package_builder("1.1.0")
    reconcile()
    fourth = build(4)
    assert fourth["reasons"] == ["BUILDPACK"] and fourth["kind"] == "build"
    change = fourth["changes"][0]
    assert (change["old"], change["new"]) == (["keep/tiny@1.0.0"], ["keep/tiny@1.1.0"])
    assert fourth["result"]["buildpacks"] == ["keep/tiny@1.1.0"]


def step_5_trigger_builds_with_trigger(world: World) -> None:
    assert ok("image", "trigger", "app") == (
        'Triggered build for Image Resource "app" with Build Number 5\n'
    )
    reconcile()
    assert build(5)["reasons"] == ["TRIGGER"]
    status = json.loads(ok("image", "status", "app", "--json"))
    assert status["ready"] == "True" and status["latestImage"] == build(5)["result"]["image"]


def step_6_build_list_shows_the_five_with_reasons_and_images(world: World) -> None:
    lines = ok("build", "list", "app").splitlines()
    assert lines[0].split() == ["BUILD", "STATUS", "BUILT", "IMAGE", "REASON", "IMAGE", "RESOURCE"]
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("1", "SUCCESS", "CONFIG"),
        ("2", "SUCCESS", "COMMIT"),
        ("3", "SUCCESS", "STACK"),
        ("4", "SUCCESS", "BUILDPACK"),
        ("5", "SUCCESS", "TRIGGER"),
    ]
    assert all(r[2].startswith(f"{IMAGE}:latest@sha256:") for r in rows)
    log = ok("build", "logs", "app", "-b", "2")
    assert log.startswith("Build reason(s): COMMIT\n")


def step_7_history_limits_prune_the_oldest_with_their_logs(world: World) -> None:
    ok("image", "patch", "app", "--success-build-history-limit", "3")
    ok("image", "trigger", "app")
    reconcile()
    numbers = [b["number"] for b in json.loads(ok("build", "list", "app", "--json"))]
    assert numbers == [4, 5, 6]
    gone = cnbsdk("build", "logs", "app", "-b", "2")
    assert gone.exit_code == 1 and "has no build 2" in gone.output
    from cnbsdk.keep.store import Store

    with Store() as store:
        assert store._db.execute("SELECT COUNT(*) FROM logs").fetchone()[0] == 3


# -- the service: --wait, SIGKILL mid-build, restart -----------------------------------------


def wait_for(predicate, timeout: float = 120.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def builds_of(name: str) -> list[dict]:
    return json.loads(ok("build", "list", name, "--json"))


def serve(root: Path, log_name: str) -> subprocess.Popen[bytes]:
    log = (root / log_name).open("wb")
    # port 0: the web pages on any free port, never a clash with another serve
    args = ["serve", "--poll-interval", "1", "--jobs", "2", "--listen", "127.0.0.1:0"]
    return subprocess.Popen(
        [sys.executable, "-m", "cnbsdk.cli.main", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )


def step_8_create_wait_streams_the_first_build(world: World) -> None:
    app = world.root / "slow-app"
    app.mkdir()
    (app / "hello.txt").write_text("slow hello\n")
    out = ok("image", "create", "slow", "--tag", "keep-test/slow", "--local-path", str(app),
             "--builder", BUILDER, "--wait")  # fmt: skip
    assert "Build reason(s): CONFIG" in out and "tiny build: greeting is slow hello" in out
    assert builds_of("slow")[0]["status"] == "success"


def step_9_serve_killed_mid_build_recovers_and_builds_again(world: World) -> None:
    app = world.root / "slow-app"
    previous = read_manifest_and_config("keep-test/slow")[0].digest
    (app / "sleep.txt").write_text("60\n")
    service = serve(world.root, "serve-1.log")
    try:

        def sleeping() -> bool:
            builds = builds_of("slow")
            if len(builds) < 2 or builds[-1]["status"] != "building":
                return False
            return "tiny build: sleeping" in ok("build", "logs", "slow")

        wait_for(sleeping, what="build 2 to be sleeping")
        assert read_manifest_and_config("keep-test/slow")[0].digest == previous
    finally:
        service.send_signal(signal.SIGKILL)
        service.wait()
    assert builds_of("slow")[-1]["status"] == "building"  # what a SIGKILL leaves
    assert read_manifest_and_config("keep-test/slow")[0].digest == previous
    (app / "sleep.txt").unlink()
    service = serve(world.root, "serve-2.log")
    try:
        wait_for(
            lambda: any(b["number"] == 3 and b["status"] == "success" for b in builds_of("slow")),
            what="build 3 to succeed",
        )
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=120)
    killed = build_of("slow", 2)
    assert killed["status"] == "failure"
    assert "ended before the build did" in killed["statusMessage"]
    assert "tiny build: sleeping" in ok("build", "logs", "slow", "-b", "2")
    again = build_of("slow", 3)
    assert again["reasons"] == killed["reasons"] == ["COMMIT"]
    assert read_manifest_and_config("keep-test/slow")[0].digest == again["result"]["digest"]
    assert "build 2 was cut off; queued as build 3" in (world.root / "serve-2.log").read_text()


def build_of(name: str, number: int) -> dict:
    return json.loads(ok("build", "status", name, "-b", str(number), "--json"))


# -- moving the image to kpack ---------------------------------------------------------------

KPACK = Path(__file__).parent / "kpack"


def kpack_validator(kind: str):  # type: ignore[no-untyped-def]
    """kpack's published schema for ``kind``, strict about unknown fields (SOURCE.md)."""
    import jsonschema

    definitions = json.loads((KPACK / "kpack-v1alpha2-definitions.json").read_text())
    strict = _strict(definitions["definitions"])
    root = dict(strict[f"kpack.build.v1alpha2.{kind}"])
    root["required"] = [r for r in root.get("required", []) if r != "status"]  # set by kpack
    return jsonschema.Draft4Validator({**root, "definitions": strict})


def _strict(node):  # type: ignore[no-untyped-def]
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def crd(kind: str) -> dict:
    return yaml.safe_load((KPACK / f"crd-{kind.lower()}.yaml").read_text())


def step_10_export_writes_kpack_resources_that_kpacks_schemas_accept(world: World) -> None:
    ok("image", "create", "web", "--tag", "keep-test/web",
       "--blob", "https://files.example/web.tgz", "--sub-path", "app", "--builder", BUILDER,
       "-e", "BP_X=1", "--additional-tag", "keep-test/web:prod")  # fmt: skip
    out = ok("image", "export", "web", "--format", "kpack", "--registry", "registry.example/cnb")
    documents = list(yaml.safe_load_all(out))
    kinds = [d["kind"] for d in documents]
    assert kinds == ["ClusterStack", "ClusterStore", "ClusterBuilder", "Image"]
    for document in documents:
        errors = sorted(kpack_validator(document["kind"]).iter_errors(document), key=str)
        assert errors == [], [e.message for e in errors]
        definition = crd(document["kind"])["spec"]
        group, _, version = document["apiVersion"].partition("/")
        assert group == definition["group"]
        assert version in [v["name"] for v in definition["versions"] if v["served"]]
        namespaced = definition["scope"] == "Namespaced"
        assert ("namespace" in document["metadata"]) == namespaced
    stack, store, builder, image = documents
    assert image["spec"]["source"] == {
        "blob": {"url": "https://files.example/web.tgz"},
        "subPath": "app",
    }
    assert image["spec"]["build"]["env"] == [{"name": "BP_X", "value": "1"}]
    assert image["spec"]["tag"] == "registry.example/cnb/keep-test/web:latest"
    assert image["spec"]["additionalTags"] == ["registry.example/cnb/keep-test/web:prod"]
    assert image["spec"]["builder"] == {
        "kind": "ClusterBuilder",
        "name": builder["metadata"]["name"],
    }
    assert builder["spec"]["order"] == [{"group": [{"id": "keep/tiny", "version": "1.1.0"}]}]
    assert store["spec"]["sources"] == [{"image": "registry.example/cnb/keep-test/builder:1"}]
    assert stack["spec"]["runImage"]["image"] == "registry.example/cnb/stack-images:run"
    assert (
        f"# Push these images first:\n#   cnbsdk copy {BUILDER} docker://registry.example/cnb/keep-test/builder:1"
        in out
    )


def step_11_export_refuses_what_a_cluster_cannot_reach(world: World) -> None:
    result = cnbsdk("image", "export", "app", "--format", "kpack")
    assert result.exit_code == 1
    assert result.output.startswith("error: the Git URL file://") and result.output.count("\n") == 1
    result = cnbsdk("image", "export", "web", "--format", "kpack")
    assert result.exit_code == 1
    assert "give --registry HOST[/PREFIX]" in result.output and result.output.count("\n") == 1


# -- when things go wrong -----------------------------------------------------------------


def step_12_a_failed_build_keeps_its_log_and_leaves_the_image(world: World) -> None:
    app = world.root / "slow-app"
    before = read_manifest_and_config("keep-test/slow")[0].digest
    (app / "fail.txt").write_text("please\n")
    result = cnbsdk("reconcile", "slow")
    assert result.exit_code == 1 and "FAILURE" in result.output
    failed = builds_of("slow")[-1]
    assert failed["status"] == "failure" and failed["reasons"] == ["COMMIT"]
    assert "failing as fail.txt asks" in ok("build", "logs", "slow")
    assert read_manifest_and_config("keep-test/slow")[0].digest == before
    status = json.loads(ok("image", "status", "slow", "--json"))
    assert status["ready"] == "False" and f"build {failed['number']} failed" in status["message"]
    assert "Every image is up to date" in ok("reconcile", "slow")  # kpack: no retry by itself
    (app / "fail.txt").unlink()
    out = ok("image", "patch", "slow", "--wait")  # nothing to patch: just build what changed
    assert out.startswith('Image Resource "slow" is unchanged\nBuild reason(s): COMMIT\n')
    assert builds_of("slow")[-1]["status"] == "success"


def step_13_an_unreachable_source_is_shown_and_backs_off_without_blocking_others(
    world: World,
) -> None:
    gone = world.root / "gone-repo"
    shutil.copytree(world.repo, gone)
    ok("image", "create", "gone", "--tag", "keep-test/gone", "--git", f"file://{gone}",
       "--builder", BUILDER)  # fmt: skip
    shutil.rmtree(gone)
    ok("image", "trigger", "slow")
    result = cnbsdk("reconcile")
    assert result.exit_code == 1
    assert "gone: cannot resolve: cannot read the Git repository" in result.output
    assert "slow: build" in result.output and "SUCCESS" in result.output
    status = json.loads(ok("image", "status", "gone", "--json"))
    assert "cannot read the Git repository" in status["message"]
    assert "cannot resolve the inputs" in ok("image", "status", "gone")
    from cnbsdk.keep.reconcile import plan_image
    from cnbsdk.keep.store import Store

    with Store() as store:
        row = store.image_row("gone")
        assert row["resolution_failures"] == 1 and row["next_attempt_at"] > time.time() + 20
        # within the back-off, serve's pass leaves it alone
        assert plan_image(store, store.image("gone"), {}) is None
        assert store.image_row("gone")["resolution_failures"] == 1
    ok("image", "delete", "gone")


def step_14_the_delivery_hook_gets_the_record_and_its_failure_is_recorded(world: World) -> None:
    received = world.root / "delivered.json"
    ok("image", "patch", "slow", "--delivery-command", f"cat > {received}")
    ok("image", "trigger", "slow")
    ok("reconcile", "slow")
    delivered = json.loads(received.read_text())
    last = builds_of("slow")[-1]
    assert delivered["number"] == last["number"] and delivered["reasons"] == ["TRIGGER"]
    assert delivered["result"]["digest"] == last["result"]["digest"]
    assert last["result"]["delivery"] == "delivered (attempt 1)"
    ok("image", "patch", "slow", "--delivery-command", "echo refused >&2; exit 3")
    ok("image", "trigger", "slow")
    ok("reconcile", "slow")
    last = builds_of("slow")[-1]
    assert last["status"] == "success"
    assert last["result"]["delivery"] == "failed after 3 attempts: exit 3: refused"
    assert re.search(r"\nDelivery:\s+failed after 3 attempts", ok("build", "status", "slow"))


def step_15_build_logs_follow_prints_a_running_build_to_its_end(world: World) -> None:
    app = world.root / "slow-app"
    ok("image", "patch", "slow", "--delivery-command", "")
    (app / "sleep.txt").write_text("3\n")
    service = serve(world.root, "serve-3.log")
    try:
        wait_for(lambda: builds_of("slow")[-1]["status"] == "building", what="a running build")
        followed = ok("build", "logs", "slow", "--follow")
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=120)
        (app / "sleep.txt").unlink()
    assert "Build reason(s): COMMIT" in followed
    assert "tiny build: sleeping 3s" in followed
    assert followed.rstrip().endswith(
        "Build successful: " + builds_of("slow")[-1]["result"]["image"]
    )


def step_16_the_default_builder_is_followed_and_any_destination_works(world: World) -> None:
    """No --builder: the default builder. A new default run image (what `stack update
    --default` writes) remakes it, and the next pass rebases the image. The destination is
    an OCI layout, with the build-number tag beside it."""
    from cnbsdk.lifecycle.default_stack import DEFAULT_RUN_IMAGE
    from tests.image_helpers import relabel

    app = world.root / "hello-app"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "apps" / "hello-app", app)
    layout = world.root / "out"
    layout.mkdir()
    ok("image", "create", "dflt", "--tag", f"oci:{layout}:dflt", "--local-path", str(app))
    ok("reconcile", "dflt")
    first = build_of("dflt", 1)
    assert first["status"] == "success" and first["inputs"]["builder"] == "cnbsdk/builder:bookworm"
    assert first["result"]["tags"][1].startswith(f"oci:{layout}:dflt-b1.")
    assert (
        read_manifest_and_config(first["result"]["tags"][1])[0].digest == first["result"]["digest"]
    )
    relabel(DEFAULT_RUN_IMAGE, DEFAULT_RUN_IMAGE, {"dev.cnbsdk.tests.patched": "1"})
    out = ok("reconcile", "dflt")
    assert "Creating the default builder" in out or "dflt: build 2 SUCCESS" in out
    second = build_of("dflt", 2)
    assert second["reasons"] == ["STACK"] and second["kind"] == "rebase"
    assert second["inputs"]["builder_digest"] != first["inputs"]["builder_digest"]
    assert second["result"]["run_image"] != first["result"]["run_image"]


def step_17_signed_and_scanned_images_record_what_a_rebase_fixed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image with a signing key and an advisory database: each build and rebase is signed
    (the build number in the payload) and scanned; the STACK rebase lists what it fixed."""
    monkeypatch.setenv("COSIGN_PASSWORD", "keep-pw")
    ok("generate-key-pair", "--output-key-prefix", str(world.root / "keep"))
    osv = world.root / "osv"
    osv.mkdir()
    (osv / "DSA-9999-9.json").write_text(json.dumps({
        "id": "DSA-9999-9", "modified": "2026-01-01T00:00:00Z",
        "database_specific": {"severity": "HIGH"},
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "keep-probe"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": "1.0-3"}]}]}],
    }))  # fmt: skip
    tag = f"oci:{world.root / 'signed'}:app"
    ok("image", "create", "signed", "--tag", tag, "--git", f"file://{world.repo}",
       "--builder", BUILDER, "--signing-key", str(world.root / "keep.key"),
       "--advisory-db", str(osv))  # fmt: skip
    ok("reconcile", "signed")
    status = ok("build", "status", "signed", "-b", "1")
    assert re.search(r"\nSignature:\s+oci:.*sha256-[0-9a-f]{64}\.sig", status), status
    assert re.search(r"\nVulnerabilities:\s+1 high", status), status
    key = str(world.root / "keep.pub")
    assert "verified" in ok("verify", tag, "--key", key, "-a", "buildNumber=1")
    world.apt.add("keep-probe", "1.0-3")
    world.apt.remove("keep-probe", "1.0-2")
    world.apt.publish()
    world.stack_command("update")
    ok("reconcile", "signed")
    second = build_of("signed", 2)
    assert second["reasons"] == ["STACK"] and second["kind"] == "rebase"
    assert second["result"]["advisories_fixed"] == ["keep-probe DSA-9999-9"]
    assert second["result"]["vulnerabilities"] == {}
    status = ok("build", "status", "signed", "-b", "2")
    assert re.search(r"\nAdvisories Fixed:\s+keep-probe DSA-9999-9", status), status
    assert "verified" in ok("verify", tag, "--key", key, "-a", "buildNumber=2")


STEPS = [
    step_1_create_builds_with_config,
    step_2_a_commit_builds_with_commit,
    step_3_a_patched_stack_is_a_rebase_in_under_a_second,
    step_4_a_newer_buildpack_in_the_builder_rebuilds,
    step_5_trigger_builds_with_trigger,
    step_6_build_list_shows_the_five_with_reasons_and_images,
    step_7_history_limits_prune_the_oldest_with_their_logs,
    step_8_create_wait_streams_the_first_build,
    step_9_serve_killed_mid_build_recovers_and_builds_again,
    step_10_export_writes_kpack_resources_that_kpacks_schemas_accept,
    step_11_export_refuses_what_a_cluster_cannot_reach,
    step_12_a_failed_build_keeps_its_log_and_leaves_the_image,
    step_13_an_unreachable_source_is_shown_and_backs_off_without_blocking_others,
    step_14_the_delivery_hook_gets_the_record_and_its_failure_is_recorded,
    step_15_build_logs_follow_prints_a_running_build_to_its_end,
    step_16_the_default_builder_is_followed_and_any_destination_works,
]


def test_the_story(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The steps above, in order, as one test: each builds on the state the previous ones
    left (so no test runner can split them across workers). A failure names its step."""
    for step in STEPS:
        step(world)
    step_17_signed_and_scanned_images_record_what_a_rebase_fixed(world, monkeypatch)
