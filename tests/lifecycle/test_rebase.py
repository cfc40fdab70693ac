"""``cnbsdk rebase`` end to end: apps built by ``cnbsdk build`` (the e2e fixture buildpacks,
sandboxed) on the shipped stack's run image, then rebased on a changed run image (an extra
``/etc/motd`` layer and a new ``io.buildpacks.base.released``), in the local store
(CNBSDK_HOME in tmp) and on the real docker-registry on loopback. The rebased image is
unpacked and its process started under bubblewrap to show it still runs.

Starts: bubblewrap, docker-registry (tests/registry_server.py).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import Result

from cnbsdk.cli.sizes import human_size
from cnbsdk.lifecycle.default_stack import DEFAULT_RUN_IMAGE
from cnbsdk.lifecycle.rootfs import unpacked_rootfs
from cnbsdk.oci.copy import copy_image
from cnbsdk.oci.digest import sha256_digest
from cnbsdk.oci.image import read_image
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import TarEntry, write_layer_from_entries
from cnbsdk.oci.models import ImageConfig, Manifest
from cnbsdk.oci.open import open_destination, open_source
from cnbsdk.oci.store import store_path
from cnbsdk.spec.labels import LIFECYCLE_METADATA_LABEL, LifecycleMetadata
from tests.image_helpers import cnbsdk, private_home, read_image_ref, relabel
from tests.registry_server import RegistryServer

BUILDPACKS = Path(__file__).parent / "e2e" / "fixtures" / "buildpacks"
RELEASED = "io.buildpacks.base.released"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private CNBSDK_HOME whose store holds the default stack (created once)."""
    path = tmp_path_factory.mktemp("rebase-home")
    with private_home(path):
        yield path


def build_app(tmp_path: Path, image: str, run_image: str) -> None:
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    (app / "hello.txt").write_text("hello from the app\n")
    result = cnbsdk(
        "build", str(app), "--image", image, "--run-image", run_image,
        "--cache-dir", str(tmp_path / "cache"), "--buildpack", str(BUILDPACKS / "hello"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def read(ref: str) -> tuple[Manifest, ImageConfig, str]:
    manifest, config, raw = read_image_ref(ref)
    return manifest.as_oci(), config, sha256_digest(raw)


def lifecycle(config: ImageConfig) -> LifecycleMetadata:
    return LifecycleMetadata.from_json(config.labels[LIFECYCLE_METADATA_LABEL])


def changed_run_image(
    source_ref: str,
    dest_ref: str,
    work: Path,
    *,
    motd: str = "a patched base\n",
    labels: Mapping[str, str] | None = None,
    **config_changes: str,
) -> str:
    """``source_ref`` with one more layer (``/etc/motd``) and label/config changes, written
    to ``dest_ref``, as a CVE fix of the stack would be; returns its digest."""
    work.mkdir(parents=True, exist_ok=True)
    motd_file = work / "motd"
    motd_file.write_text(motd)
    layer = write_layer_from_entries(
        [TarEntry.dir("/etc", mode=0o755), TarEntry.file("/etc/motd", source=motd_file)],
        work,
        compress=True,
    )
    source = open_source(source_ref)
    dest = open_destination(dest_ref)
    try:
        manifest, config = read_image(source)
        new_labels = {**config.labels, RELEASED: "2030-01-01T00:00:00Z", **(labels or {})}
        config = replace(config, labels=new_labels, **config_changes)  # type: ignore[arg-type]
        return write_image(dest, config, [layer], base=(source, manifest))
    finally:
        dest.close()
        source.close()


def run_in_image(ref: str, argv: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    """Start ``argv`` in the image's root filesystem under bubblewrap, as its user, with its
    env and working directory (what a container runtime would do)."""
    unpacked = unpacked_rootfs(ref, cache_dir=cache)
    config = unpacked.config
    uid, _, gid = config.user.partition(":")
    env_args = [arg for k, v in config.env_dict().items() for arg in ("--setenv", k, v)]
    return subprocess.run(
        ["bwrap", "--ro-bind", str(unpacked.rootfs), "/", "--proc", "/proc", "--dev", "/dev",
         "--tmpfs", "/tmp", "--unshare-all", "--unshare-user", "--uid", uid, "--gid", gid or uid,
         "--die-with-parent", "--chdir", config.working_dir, "--clearenv", *env_args,
         "--", *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def assert_rebased_from(
    old: tuple[Manifest, ImageConfig, str], new_ref: str, run_ref: str
) -> tuple[Manifest, ImageConfig, str]:
    old_manifest, old_config, _ = old
    new_manifest, new_config, new_digest = read(new_ref)
    run_manifest, run_config, run_digest = read(run_ref)
    old_base = lifecycle(old_config).run_image
    cut = old_config.diff_ids.index(old_base.top_layer) + 1
    base = len(run_config.diff_ids)
    # App layers: the very same blobs, on top of every layer of the new run image.
    assert new_manifest.layers[base:] == old_manifest.layers[cut:]
    assert new_config.diff_ids[base:] == old_config.diff_ids[cut:]
    assert new_manifest.layers[:base] == run_manifest.layers
    assert new_config.diff_ids[:base] == run_config.diff_ids
    assert len(new_config.history) == len(new_config.diff_ids)
    assert new_config.history[:base] == run_config.history
    assert new_config.history[base:] == old_config.history[cut:]
    # runImage and the base labels follow the new run image.
    run_meta = lifecycle(new_config).run_image
    assert run_meta.top_layer == run_config.diff_ids[-1]
    assert run_meta.reference.endswith(run_digest)
    assert new_config.labels[RELEASED] == run_config.labels[RELEASED]
    assert lifecycle(new_config).app == lifecycle(old_config).app
    # Everything else is kept, created included (a constant, not the time of the rebase).
    for name in ("created", "env", "entrypoint", "cmd", "working_dir", "user", "os"):
        assert getattr(new_config, name) == getattr(old_config, name), name
    unsynced = {
        k: v for k, v in old_config.labels.items() if not k.startswith("io.buildpacks.base")
    }
    unsynced.pop(LIFECYCLE_METADATA_LABEL)
    for key, value in unsynced.items():
        assert new_config.labels[key] == value, key
    return new_manifest, new_config, new_digest


def store_blobs() -> set[str]:
    return {p.name for p in (store_path() / "blobs" / "sha256").iterdir()}


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: "), result.output
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


# -- the local store ------------------------------------------------------------------------------


def test_rebase_in_the_store_swaps_the_base_keeps_the_app_and_still_runs(
    home: Path, tmp_path: Path
) -> None:
    name = f"rb-{uuid.uuid4().hex[:6]}"
    run, app = f"{name}/run:bookworm", f"{name}/app:latest"
    copy_image(DEFAULT_RUN_IMAGE, run)
    build_app(tmp_path, app, run)
    old = read(app)
    changed_run_image(run, run, tmp_path / "patch")  # the same tag, a new digest
    blobs_before = store_blobs()

    result = cnbsdk("rebase", app)  # no --run-image: the recorded tag's newest image

    assert result.exit_code == 0, result.output
    new_manifest, new_config, new_digest = assert_rebased_from(old, app, run)
    assert f"Rebased {app}: {new_digest} (was {old[2]})" in result.output
    assert "app layers kept: 5" in result.output
    assert "(app layers: 0 B)" in result.output
    # Nothing unchanged was copied: the store gained only the new config and manifest.
    new_blobs = {digest.split(":")[1] for digest in (new_manifest.config.digest, new_digest)}
    assert store_blobs() - blobs_before == new_blobs
    assert lifecycle(new_config).run_image.image == run

    web = run_in_image(app, ["/cnb/process/web"], tmp_path / "rootfs")
    assert web.returncode == 0, web.stderr
    assert web.stdout == "hello from the app image\nhello from the app\n"
    motd = run_in_image(
        app, ["/cnb/lifecycle/launcher", "--", "cat", "/etc/motd"], tmp_path / "rootfs"
    )
    assert motd.stdout == "a patched base\n", motd.stderr

    again = cnbsdk("rebase", app)  # nothing new: the same image, nothing moved
    assert again.exit_code == 0, again.output
    assert read(app)[2] == new_digest
    assert "The image is already based on" in again.output

    # The rebased image is exactly what a rebuild on the new run image gives.
    build_app(tmp_path, f"{name}/rebuilt:latest", run)
    assert read(f"{name}/rebuilt:latest")[2] == new_digest


def test_another_tag_of_the_same_repository_is_accepted_and_recorded(
    home: Path, tmp_path: Path
) -> None:
    name = f"rb-{uuid.uuid4().hex[:6]}"
    run, app = f"{name}/run:1", f"{name}/app:latest"
    copy_image(DEFAULT_RUN_IMAGE, run)
    build_app(tmp_path, app, run)
    old = read(app)
    changed_run_image(run, f"{name}/run:2", tmp_path / "patch")

    result = cnbsdk("rebase", app, "--run-image", f"{name}/run:2", "--output", f"{name}/app:v2")

    assert result.exit_code == 0, result.output
    assert_rebased_from(old, f"{name}/app:v2", f"{name}/run:2")
    assert lifecycle(read(f"{name}/app:v2")[1]).run_image.image == f"{name}/run:2"
    assert read(app)[2] == old[2]  # --output leaves the original alone


def test_a_mirror_is_accepted_and_the_names_kept(home: Path, tmp_path: Path) -> None:
    name = f"rb-{uuid.uuid4().hex[:6]}"
    run, mirror, app = f"{name}/run:1", f"{name}-mirror/run:1", f"{name}/app:latest"
    copy_image(DEFAULT_RUN_IMAGE, run)
    build_app(tmp_path, app, run)
    # Record a mirror in the app image, as a build with run.toml mirrors would.
    metadata = lifecycle(read(app)[1])
    metadata = replace(metadata, run_image=replace(metadata.run_image, mirrors=(mirror,)))
    relabel(app, app, {LIFECYCLE_METADATA_LABEL: metadata.to_json()})
    old = read(app)
    changed_run_image(run, mirror, tmp_path / "patch")

    result = cnbsdk("rebase", app, "--run-image", mirror)

    assert result.exit_code == 0, result.output
    _, config, _ = assert_rebased_from(old, app, mirror)
    assert lifecycle(config).run_image.image == run
    assert lifecycle(config).run_image.mirrors == (mirror,)


# -- refusals -------------------------------------------------------------------------------------


@pytest.fixture
def built(home: Path, tmp_path: Path) -> tuple[str, str]:
    """(app, run): an app built on its own copy of the stack's run image, in the store."""
    name = f"rb-{uuid.uuid4().hex[:6]}"
    run, app = f"{name}/run:bookworm", f"{name}/app:latest"
    copy_image(DEFAULT_RUN_IMAGE, run)
    build_app(tmp_path, app, run)
    return app, run


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"architecture": "arm64"}, "architecture: the new run image has architecture 'arm64' "
                                    "but the app image has architecture 'amd64'"),
        ({"os": "windows"}, "os: the new run image has os 'windows' but the app image has "
                            "os 'linux'"),
        ({"labels": {"io.buildpacks.base.distro.version": "13"}},
         "io.buildpacks.base.distro.version: the new run image has '13' but the app image "
         "has '12'"),
        ({"labels": {"io.buildpacks.base.distro.name": "ubuntu"}},
         "io.buildpacks.base.distro.name: the new run image has 'ubuntu' but the app image "
         "has 'debian'"),
    ],
    ids=["arch", "os", "distro-version", "distro-name"],
)  # fmt: skip
def test_a_run_image_for_another_target_is_refused(
    built: tuple[str, str], tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    app, run = built
    before = read(app)[2]
    changed_run_image(run, run, tmp_path / "patch", **change)  # type: ignore[arg-type]

    error = one_line_error(cnbsdk("rebase", app))

    assert expected in error
    assert "(use --force to rebase anyway)" in error
    assert read(app)[2] == before


def test_force_rebases_anyway_with_a_warning(built: tuple[str, str], tmp_path: Path) -> None:
    app, run = built
    old = read(app)
    labels = {"io.buildpacks.base.distro.version": "13"}
    changed_run_image(run, run, tmp_path / "patch", labels=labels)

    result = cnbsdk("rebase", app, "--force")

    assert result.exit_code == 0, result.output
    assert "Warning: " in result.output and "(ignored: --force)" in result.output
    _, config, _ = assert_rebased_from(old, app, run)
    assert config.labels["io.buildpacks.base.distro.version"] == "13"


def test_an_app_image_marked_not_rebasable_is_refused(home: Path, tmp_path: Path) -> None:
    name = f"rb-{uuid.uuid4().hex[:6]}"
    run, app = f"{name}/run:bookworm", f"{name}/app:latest"
    changed_run_image(
        DEFAULT_RUN_IMAGE, run, tmp_path / "base", labels={"io.buildpacks.rebasable": "false"}
    )
    build_app(tmp_path, app, run)
    before = read(app)[2]
    changed_run_image(run, run, tmp_path / "patch", labels={"io.buildpacks.rebasable": "true"})

    error = one_line_error(cnbsdk("rebase", app))

    assert 'io.buildpacks.rebasable: is "false": the app image is marked as not rebasable' in error
    assert read(app)[2] == before


def test_a_run_image_of_another_repository_needs_force(
    built: tuple[str, str], tmp_path: Path
) -> None:
    app, run = built
    before = read(app)
    other = f"other-{uuid.uuid4().hex[:6]}/run:bookworm"
    changed_run_image(run, other, tmp_path / "patch")

    error = one_line_error(cnbsdk("rebase", app, "--run-image", other))

    assert f"the new run image {other} is not the app's run image" in error
    assert f"(recorded: {run})" in error and "use --force" in error
    assert read(app)[2] == before[2]

    forced = cnbsdk("rebase", app, "--run-image", other, "--force")
    assert forced.exit_code == 0, forced.output
    _, config, _ = assert_rebased_from(before, app, other)
    assert lifecycle(config).run_image.image == other
    assert lifecycle(config).run_image.mirrors == ()
    assert json.loads(config.labels[LIFECYCLE_METADATA_LABEL])["stack"] == {
        "runImage": {"image": other}
    }


def test_bad_input_is_one_line_and_writes_nothing(built: tuple[str, str], tmp_path: Path) -> None:
    app, run = built
    before = read(app)[2]
    not_app = one_line_error(cnbsdk("rebase", run))
    assert "not an app image: it has no io.buildpacks.lifecycle.metadata label" in not_app
    publish = one_line_error(cnbsdk("rebase", app, "--publish"))
    assert "--publish needs a registry reference" in publish
    missing = one_line_error(cnbsdk("rebase", app, "--run-image", "no-such/run:1"))
    assert "no image no-such/run:1 in the local store" in missing
    assert read(app)[2] == before


# -- a registry -----------------------------------------------------------------------------------


@pytest.mark.registry
def test_rebase_on_a_registry_moves_no_app_layer_bytes(
    home: Path, tmp_path: Path, registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in registry.auth_env().items():
        monkeypatch.setenv(key, value)
    repo = f"{registry.host}/rb-{uuid.uuid4().hex[:6]}"
    run, app = f"{repo}/run:bookworm", f"{repo}/app:latest"
    copy_image(DEFAULT_RUN_IMAGE, run)
    build_app(tmp_path, app, run)
    old = read(app)
    changed_run_image(run, run, tmp_path / "patch")

    mark = registry.log_mark()
    result = cnbsdk("rebase", app, "--publish")

    assert result.exit_code == 0, result.output
    _, new_config, _ = assert_rebased_from(old, app, run)
    requests = registry.requests(since=mark)
    uploads = [r for r in requests if r.method == "POST" and "/blobs/uploads/" in r.path]
    mounts = [r for r in uploads if r.is_mount and r.status == 201]
    plain = [r for r in uploads if not r.is_mount]
    # The new base layer came by mount from the run repository; only the config was sent.
    assert len(mounts) == 1 and f"/v2/{app.split('/', 1)[1].split(':')[0]}/" in mounts[0].path
    assert len(plain) == 1, requests
    config_size = len(new_config.to_json())
    assert f"bytes moved:  {human_size(config_size)} in 1 blob(s) (app layers: 0 B); mounted 1" in (
        result.output
    )
    web = run_in_image(app, ["/cnb/process/web"], tmp_path / "rootfs")
    assert web.stdout == "hello from the app image\nhello from the app\n", web.stderr
    motd = run_in_image(
        app, ["/cnb/lifecycle/launcher", "--", "cat", "/etc/motd"], tmp_path / "rootfs"
    )
    assert motd.stdout == "a patched base\n", motd.stderr

    # Into another repository: every layer is mounted, still no app-layer bytes.
    mark = registry.log_mark()
    other = f"{repo}/app-copy:rebased"
    result = cnbsdk("rebase", app, "--output", other)
    assert result.exit_code == 0, result.output
    requests = registry.requests(since=mark)
    plain = [r for r in requests if r.method == "POST" and "/blobs/uploads/" in r.path
             and not r.is_mount]  # fmt: skip
    assert len(plain) <= 1  # the config, unless it was mounted too
    assert "(app layers: 0 B)" in result.output
    assert read(other)[0].layers == read(app)[0].layers


def test_report_toml_is_written(built: tuple[str, str], tmp_path: Path) -> None:
    app, run = built
    changed_run_image(run, run, tmp_path / "patch")
    report = tmp_path / "report.toml"
    result = cnbsdk("rebase", app, "--report", str(report))
    assert result.exit_code == 0, result.output
    text = report.read_text()
    assert f'digest = "{read(app)[2]}"' in text
    assert f'tags = [\n    "{app}",\n]' in text or f'tags = ["{app}"]' in text
