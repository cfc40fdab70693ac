"""Same inputs, same image digests, release after release: a fixed app exported on a
hand-made run image, rebased on a patched one, copied to a layout, a docker-archive, the
local store and the registry, and a fixed buildpackage. The digests below were recorded from
the code before the image writer and the blob mover were made one (issue 16); any change to
them changes every image users have and must be deliberate.

Starts: docker-registry (the session fixture of tests/registry_server.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cnbsdk.oci.layer_tar import TarEntry, write_layer_from_entries
from cnbsdk.oci.open import open_destination
from tests.distribution.test_buildpackage import COMPOSITE, component, package
from tests.image_helpers import cnbsdk, read_image_ref
from tests.lifecycle.test_export import RUN_LABELS, make_workspace, run_export
from tests.registry_server import RegistryServer

pytestmark = pytest.mark.registry

PINNED = {
    "run": "sha256:2bea0b9e844df86450ecbaeb8b7a1aad1bea25a84e6ee3349ca7c960a4859ac3",
    "run-patched": "sha256:49d69db2ac0e882c3c4a478d663a85bad2fe5bafe2613ed19862b800a52e4096",
    "app": "sha256:9a113f38a866031e9e8d7b3329d80310f81cb6ccb13207dd94d7106b3f9817b2",
    "rebased": "sha256:f668f6e5e5d88cae5019a31d09600600544e4c4d32908653ffda0c2a49a08567",
    "copy-oci": "sha256:f668f6e5e5d88cae5019a31d09600600544e4c4d32908653ffda0c2a49a08567",
    "copy-archive": "sha256:65782eb2c1463ac24ef2d28b79099e8b56e56434ac626a937a22a252a4f2f84f",
    "copy-store": "sha256:9a113f38a866031e9e8d7b3329d80310f81cb6ccb13207dd94d7106b3f9817b2",
    "copy-registry": "sha256:b475cdfad1cac20487665e3fe1da035626cd8926ec6b3b15d4cf54549db34cab",
    "export-registry": "sha256:b475cdfad1cac20487665e3fe1da035626cd8926ec6b3b15d4cf54549db34cab",
    "rebased-in-registry": (
        "sha256:8792324c41d481e24e0c243d98ac0d0994d980b740d9861c60312efa3d6d202c"
    ),
    "buildpackage": "sha256:35c8ecab296d84e9b6b7d8cff12e155d29ac5f795fd6cb797f09c6c442ebf0f2",
}


def _write_run_image(ref: str, work: Path, *, patched: bool) -> None:
    from cnbsdk.oci.image_writer import write_image
    from cnbsdk.oci.models import ImageConfig

    blobs = work / "blobs"
    entries = [
        [TarEntry.dir("/etc"), TarEntry.file("/etc/os-release", b"ID=debian\n")],
        [TarEntry.dir("/home/cnb", uid=1002, gid=1002)],
    ]
    if patched:
        entries.append([TarEntry.dir("/etc"), TarEntry.file("/etc/motd", b"patched\n")])
    labels = dict(RUN_LABELS)
    if patched:
        labels["io.buildpacks.base.released"] = "2026-01-02"
    config = ImageConfig(
        env=("PATH=/usr/local/bin:/usr/bin:/bin", "CNB_USER_ID=1002"),
        user="1002:1002",
        labels=labels,
        created="2026-01-01T00:00:00Z",
    )
    dest = open_destination(ref)
    try:
        write_image(dest, config, [write_layer_from_entries(e, blobs) for e in entries])
    finally:
        dest.close()


def _digest(ref: str) -> str:
    from cnbsdk.oci.digest import sha256_digest

    return sha256_digest(read_image_ref(ref)[2])


def _without_host(ref: str, host: str) -> str:
    """The digest of the manifest's layers and the config with the registry's address (a
    free port, so another each run) written as ``REGISTRY``."""
    from cnbsdk.oci.digest import sha256_digest

    manifest, config, _ = read_image_ref(ref)
    config_text = config.to_json().decode().replace(host, "REGISTRY")
    layers = "".join(f"{d.media_type} {d.digest} {d.size}\n" for d in manifest.layers)
    return sha256_digest((layers + config_text).encode())


@pytest.fixture(scope="module")
def digests(
    tmp_path_factory: pytest.TempPathFactory, registry: RegistryServer
) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("digests")
    out: dict[str, str] = {}
    layout = Path("layout")  # relative: image names recorded in labels must not vary
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("CNBSDK_HOME", str(root / "home"))
        patch.delenv("SOURCE_DATE_EPOCH", raising=False)
        for key, value in registry.auth_env().items():
            patch.setenv(key, value)
        _write_run_image(f"oci:{layout}:run", root / "run", patched=False)
        _write_run_image(f"oci:{layout}:run-patched", root / "run-patched", patched=True)
        out["run"] = _digest(f"oci:{layout}:run")
        out["run-patched"] = _digest(f"oci:{layout}:run-patched")

        launcher = root / "launcher-bin"
        launcher.write_bytes(b"#!/bin/sh\necho launcher\n")
        launcher.chmod(0o700)
        report, _ = run_export(make_workspace(root / "ws"), f"oci:{layout}:run",
                               f"oci:{layout}:app", launcher)  # fmt: skip
        out["app"] = report.digest

        def run(*args: str) -> None:
            result = cnbsdk(*args)
            assert result.exit_code == 0, result.output

        run("rebase", f"oci:{layout}:app", "--run-image", f"oci:{layout}:run-patched",
            "--output", f"oci:{layout}:rebased", "--force")  # fmt: skip
        out["rebased"] = _digest(f"oci:{layout}:rebased")
        run("copy", f"oci:{layout}:rebased", f"oci:{root / 'copy'}:app")
        out["copy-oci"] = _digest(f"oci:{root / 'copy'}:app")
        run("copy", f"oci:{layout}:rebased", f"docker-archive:{root / 'app.tar'}:app:1")
        out["copy-archive"] = _digest(f"docker-archive:{root / 'app.tar'}")
        run("copy", f"oci:{layout}:app", "app/digests:1")
        out["copy-store"] = _digest("app/digests:1")
        remote = f"{registry.host}/digests"
        run("copy", "app/digests:1", f"{remote}/app:1")
        run("copy", f"oci:{layout}:run-patched", f"{remote}/run:2")
        out["copy-registry"] = _digest(f"{remote}/app:1")
        report, _ = run_export(make_workspace(root / "ws2"), f"oci:{layout}:run",
                               f"{remote}/direct:1", launcher)  # fmt: skip
        out["export-registry"] = report.digest
        run("rebase", f"{remote}/app:1", "--run-image", f"{remote}/run:2", "--force")
        out["rebased-in-registry"] = _without_host(f"{remote}/app:1", registry.host)

        project = root / "project"
        project.mkdir()
        (project / "buildpack.toml").write_text(COMPOSITE)
        component(project / "components", "first", "1.0.0")
        component(project / "components", "second", "1.1.0")
        (project / "package.toml").write_text(
            '[buildpack]\nuri = "."\n\n[[dependencies]]\nuri = "components/first"\n\n'
            '[[dependencies]]\nuri = "components/second"\n\n[platform]\nos = "linux"\n'
        )
        result = package(str(project / "package.toml"), "--format", "image",
                         "--output", f"oci:{layout}:bp")  # fmt: skip
        assert result.exit_code == 0, result.output
        out["buildpackage"] = _digest(f"oci:{layout}:bp")
        yield out


@pytest.mark.parametrize("name", sorted(PINNED))
def test_digest_is_the_recorded_one(digests: dict[str, str], name: str) -> None:
    assert digests[name] == PINNED[name]
