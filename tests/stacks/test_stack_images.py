"""The shipped bookworm stack: both images open in skopeo, run under bubblewrap, carry the
CNB labels and env. Starts: apt-get (isolated), skopeo, umoci, bubblewrap."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

from conftest import StackImages, in_image

RUN_UID, BUILD_UID, GID = 1001, 1000, 1000


def skopeo_inspect(ref: str, *extra: str) -> dict:
    result = subprocess.run(
        ["skopeo", "inspect", *extra, ref], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_both_images_open_in_skopeo_with_cnb_labels(stack_images: StackImages) -> None:
    for kind in ("run", "build"):
        info = skopeo_inspect(stack_images.ref(kind))
        assert info["Digest"] == stack_images.image(kind).digest
        labels = info["Labels"]
        assert labels["io.buildpacks.base.distro.name"] == "debian"
        assert labels["io.buildpacks.base.distro.version"] == "12"
        assert labels["io.buildpacks.stack.id"] == "io.cnbsdk.stacks.bookworm"
        assert labels["io.buildpacks.base.maintainer"]
        assert labels["io.buildpacks.base.homepage"]
        assert labels["io.buildpacks.base.released"] == stack_images.result.lock.released
        assert info["Created"] == stack_images.result.lock.released
        assert (labels.get("io.buildpacks.rebasable") == "true") == (kind == "run")
        assert len(info["Layers"]) == len(stack_images.image(kind).layers)


def test_build_image_has_cnb_user_env_and_run_image_another_user(stack_images: StackImages) -> None:
    build = skopeo_inspect(stack_images.ref("build"), "--config")["config"]
    run = skopeo_inspect(stack_images.ref("run"), "--config")["config"]
    env = dict(item.split("=", 1) for item in build["Env"])
    assert env["CNB_USER_ID"] == str(BUILD_UID)
    assert env["CNB_GROUP_ID"] == str(GID)
    assert env["CNB_STACK_ID"] == "io.cnbsdk.stacks.bookworm"
    assert "/usr/bin" in env["PATH"]
    assert build["User"] == f"{BUILD_UID}:{GID}"
    assert run["User"] == f"{RUN_UID}:{GID}"
    assert any(item.startswith("PATH=") for item in run["Env"])


def test_run_image_runs_as_cnb_user_on_debian_12(run_rootfs: Path) -> None:
    result = in_image(run_rootfs, RUN_UID, GID, "sh", "-c", "id; cat /etc/os-release")
    print(result.stdout)
    assert result.returncode == 0, result.stderr
    assert f"uid={RUN_UID}(cnb) gid={GID}(cnb)" in result.stdout
    assert 'VERSION_ID="12"' in result.stdout
    assert "ID=debian" in result.stdout


def test_run_image_has_what_language_runtimes_load(run_rootfs: Path) -> None:
    result = in_image(
        run_rootfs, RUN_UID, GID, "bash", "-c",
        "openssl version && TZ=Europe/Paris date +%Z && test -r /etc/ssl/certs/ca-certificates.crt",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OpenSSL 3.")
    assert result.stdout.split()[-1] in ("CET", "CEST")  # tzdata is there
    bundle = (run_rootfs / "etc/ssl/certs/ca-certificates.crt").read_text()
    assert bundle.count("BEGIN CERTIFICATE") > 100  # the Mozilla set update-ca-certificates uses
    libs = run_rootfs / "usr/lib/x86_64-linux-gnu"
    for soname in (
        "libssl.so.3", "libcrypto.so.3", "libz.so.1", "libstdc++.so.6", "libgcc_s.so.1",
        "libffi.so.8", "libbz2.so.1.0", "liblzma.so.5", "libsqlite3.so.0", "libexpat.so.1",
        "libuuid.so.1", "libncursesw.so.6", "libreadline.so.8", "libcrypt.so.1",
    ):  # fmt: skip
        assert (libs / soname).exists(), soname


def test_run_image_is_under_80_mb_uncompressed(stack_images: StackImages, run_rootfs: Path) -> None:
    unpacked = 0
    for directory, _dirs, files in os.walk(run_rootfs):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                unpacked += os.lstat(path).st_size
    image = stack_images.image("run")
    print(
        f"run image: {unpacked / 1e6:.1f} MB unpacked, {image.compressed_size / 1e6:.1f} MB"
        f" compressed, {len(image.layers)} layers"
    )
    assert unpacked < 80_000_000
    assert not [p for p in (run_rootfs / "usr/share/man").rglob("*") if not p.is_dir()]
    assert not list((run_rootfs / "usr/share/doc").glob("*/changelog*"))
    assert (run_rootfs / "usr/share/doc/libc6/copyright").is_file()


def test_build_image_runs_buildpack_tools(build_rootfs: Path) -> None:
    expected = {
        "python3 --version": "Python 3.11",
        "gcc --version": "gcc (Debian 12",
        "git --version": "git version 2.",
        "curl --version": "curl 7.",
        "make --version": "GNU Make",
    }
    for command, output in expected.items():
        result = in_image(build_rootfs, BUILD_UID, GID, "sh", "-c", command)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert output in result.stdout, command
    who = in_image(build_rootfs, BUILD_UID, GID, "id")
    assert f"uid={BUILD_UID}(cnb)" in who.stdout


def test_build_image_compiles_c_and_cpp(build_rootfs: Path) -> None:
    script = (
        "cd /tmp && printf '#include <stdio.h>\\nint main(){puts(\"c ok\");}\\n' > t.c"
        " && gcc t.c -o t && ./t"
        " && printf '#include <iostream>\\nint main(){std::cout<<\"c++ ok\\\\n\";}\\n' > t.cc"
        " && g++ t.cc -o tt && ./tt"
    )
    result = in_image(build_rootfs, BUILD_UID, GID, "sh", "-c", script)
    assert result.stdout.split("\n")[:2] == ["c ok", "c++ ok"], result.stderr


def test_cnb_home_belongs_to_the_cnb_user_in_the_layer(stack_images: StackImages) -> None:
    for kind, uid in (("build", BUILD_UID), ("run", RUN_UID)):
        config = next(layer for layer in stack_images.image(kind).layers if layer.name == "config")
        with tarfile.open(config.layer.path) as archive:
            members = {member.name.lstrip("/"): member for member in archive}
        assert (members["home/cnb"].uid, members["home/cnb"].gid) == (uid, GID)
        passwd = archive_text(config.layer.path, "etc/passwd")
        assert f"cnb:x:{uid}:{GID}:" in passwd
        assert "root:x:0:0:" in passwd


def archive_text(path: Path, name: str) -> str:
    with tarfile.open(path) as archive:
        for member in archive:
            if member.name.lstrip("/") == name:
                extracted = archive.extractfile(member)
                assert extracted is not None
                return extracted.read().decode()
    raise AssertionError(f"{name} not in {path}")
