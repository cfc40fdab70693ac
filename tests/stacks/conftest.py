"""Both stack images, created ONCE per session from the shipped stack file.

Downloads (and layers) are cached under the user's cache dir (``CNBSDK_CACHE_DIR`` or
``~/.cache/cnbsdk``), so only the first run on a machine fetches packages from the mirror
the host's apt sources name. Starts: apt-get (isolated), umoci, bubblewrap.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnbsdk.stacks import shipped_stack
from cnbsdk.stacks.create import ImageResult, StackResult, create_stack


@dataclass(frozen=True)
class StackImages:
    work: Path
    stack_file: Path
    lock_file: Path
    layout: Path
    result: StackResult

    def ref(self, kind: str) -> str:
        return f"oci:{self.layout}:{kind}"

    def image(self, kind: str) -> ImageResult:
        return next(image for image in self.result.images if image.kind == kind)


def copy_shipped_stack(dest: Path) -> Path:
    """A copy of the shipped stack file and lock in ``dest`` (tests never write the package)."""
    source = shipped_stack()
    shutil.copy(source, dest / "stack-definition.toml")
    shutil.copy(source.with_name("stack.lock"), dest / "stack.lock")
    return dest / "stack-definition.toml"


@pytest.fixture(scope="session")
def stack_images(tmp_path_factory: pytest.TempPathFactory) -> StackImages:
    """The shipped stack file resolved against what Debian serves today (never the shipped
    lock, which goes stale within days), once per session."""
    work = tmp_path_factory.mktemp("stack")
    stack_file = copy_shipped_stack(work)
    (work / "stack.lock").unlink()
    layout = work / "layout"
    result = create_stack(
        stack_file,
        build_image=f"oci:{layout}:build",
        run_image=f"oci:{layout}:run",
    )
    assert result.lock_written
    return StackImages(work, stack_file, work / "stack.lock", layout, result)


def umoci_unpack(layout: Path, tag: str, dest: Path) -> Path:
    """Unpack an image with umoci (an independent reader); return its rootfs."""
    subprocess.run(
        ["umoci", "unpack", "--rootless", "--image", f"{layout}:{tag}", str(dest)],
        check=True,
        capture_output=True,
    )
    return dest / "rootfs"


@pytest.fixture(scope="session")
def run_rootfs(stack_images: StackImages, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return umoci_unpack(stack_images.layout, "run", tmp_path_factory.mktemp("run") / "bundle")


@pytest.fixture(scope="session")
def build_rootfs(stack_images: StackImages, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return umoci_unpack(stack_images.layout, "build", tmp_path_factory.mktemp("build") / "bundle")


def in_image(rootfs: Path, uid: int, gid: int, *command: str) -> subprocess.CompletedProcess[str]:
    """Run a command inside an unpacked image under bubblewrap as uid:gid."""
    return subprocess.run(
        [
            "bwrap",
            "--bind", str(rootfs), "/",
            "--proc", "/proc",
            "--dev", "/dev",
            "--unshare-user", "--uid", str(uid), "--gid", str(gid),
            "--clearenv",
            "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--setenv", "HOME", "/home/cnb",
            *command,
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def cnbsdk(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "cnbsdk.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )
