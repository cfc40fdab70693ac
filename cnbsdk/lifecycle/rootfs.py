"""The build image unpacked as a directory tree, for the sandbox's read-only ``/``.

Trees are cached per manifest digest under ``cache_root()/rootfs/<digest hex>/``. One is
unpacked into a temporary sibling and renamed into place only when complete, under a
per-digest lock: a concurrent unpack waits and then reuses the tree, and a killed one leaves
only a temporary directory that the next unpack removes — never a half tree under the final
name. Each layer's content is checked against its digest while it is extracted.

Extraction keeps the images' uid/gid only when cnbsdk runs as root; otherwise every file is
owned by the invoking user (nothing to chown), which is also what the sandbox's user
namespace maps to the CNB user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.cache_dir import cache_root
from cnbsdk.errors import BuildError, ImageError
from cnbsdk.lifecycle.file_lock import locked
from cnbsdk.lifecycle.sandbox import ensure_mount_points, home_directory
from cnbsdk.oci.digest import Descriptor, digest_hex
from cnbsdk.oci.extract import extract_image_layer
from cnbsdk.oci.models import ImageConfig
from cnbsdk.oci.open import open_image
from cnbsdk.oci.store import private_directory
from cnbsdk.oci.transport import ImageSource

_TEMP_PREFIX = ".partial-"


@dataclass(frozen=True)
class UnpackedImage:
    """An image's root filesystem on disk, its config and its manifest digest."""

    rootfs: Path
    config: ImageConfig
    digest: str

    @property
    def user_ids(self) -> tuple[int, int]:
        """``CNB_USER_ID`` and ``CNB_GROUP_ID`` from the image's env (a build image must
        set both: platform.md §Build Image)."""
        env = self.config.env_dict()
        ids = []
        for name in ("CNB_USER_ID", "CNB_GROUP_ID"):
            value = env.get(name, "")
            number = numeric_id(value)
            if number is None:
                problem = "is not set" if not value else f"is not a uid/gid: {value[:40]!r}"
                raise BuildError(f"the build image's {name} {problem}", field=f"config.Env.{name}")
            ids.append(number)
        return ids[0], ids[1]


def numeric_id(text: str) -> int | None:
    """A uid or gid written in an image (config, /etc/passwd): ASCII digits up to
    4294967294, else None (``"²"`` and a 5000-digit number are no ids)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    value = int(text)
    return value if value <= 2**32 - 2 else None


def unpacked_rootfs(image_ref: str, *, cache_dir: Path | None = None) -> UnpackedImage:
    """The image at ``image_ref`` unpacked (or the cached tree), for this platform.

    ``cache_dir`` defaults to ``cache_root()/rootfs``.
    """
    if cache_dir is None:
        # Unpacked images keep their setuid files: the cache is the user's alone.
        private_directory(cache_root(), name="cnbsdk's cache")
    base = cache_dir if cache_dir is not None else cache_root() / "rootfs"
    with open_image(image_ref) as image:
        final = base / digest_hex(image.resolved.digest)
        compiled = base / f"{final.name}.compiled"
        if not final.is_dir() or not compiled.exists():
            base.mkdir(parents=True, exist_ok=True)
            with locked(base / f"{final.name}.lock"):
                if not final.is_dir():
                    _unpack(image.source, image.resolved.manifest.layers, image.config, final)
                if not compiled.exists():  # a tree an older cnbsdk unpacked
                    compile_python_stdlib(final)
                    compiled.touch()
    return UnpackedImage(final, image.config, image.resolved.digest)


def compile_python_stdlib(rootfs: Path) -> None:
    """Byte-compile the image's Python standard library, as Debian's python3 postinst
    (py3compile) would have: no maintainer script ran in a stack image, and without .pyc
    files every Python buildpack phase spent ~0.15 s compiling the modules it imports.
    Run once per image, by the image's own python3 in a sandbox with only that tree
    writable; best effort (an image without python3, or a failure, changes nothing)."""
    python = rootfs / "usr" / "bin" / "python3"
    stdlib = sorted(p for p in (rootfs / "usr" / "lib").glob("python3*") if p.is_dir())
    bwrap = shutil.which("bwrap")
    if not (python.exists() or python.is_symlink()) or not stdlib or bwrap is None:
        return
    targets = [f"/usr/lib/{p.name}" for p in stdlib]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [
                bwrap, "--bind", str(rootfs), "/", "--proc", "/proc", "--dev", "/dev",
                "--tmpfs", "/tmp", "--unshare-all", "--die-with-parent", "--clearenv",
                "--setenv", "PATH", "/usr/bin:/bin",
                "/usr/bin/python3", "-m", "compileall", "-q", "-j", "0", *targets,
            ],
            capture_output=True,
            timeout=300,
            check=False,
        )  # fmt: skip


def _unpack(
    source: ImageSource, layers: tuple[Descriptor, ...], config: ImageConfig, final: Path
) -> None:
    # Holding the lock: leftovers of a killed unpack of this digest are ours to remove.
    for stale in final.parent.glob(f"{_TEMP_PREFIX}{final.name}-*"):
        remove_tree(stale)
    partial = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{final.name}-", dir=final.parent))
    try:
        if len(config.diff_ids) != len(layers):
            raise ImageError(
                f"the image has {len(layers)} layers but its config {len(config.diff_ids)} diff_ids"
            )
        for layer, diff_id in zip(layers, config.diff_ids, strict=True):
            extract_image_layer(source, layer, diff_id, partial)
        partial.chmod(0o755)
        uid = numeric_id(config.env_dict().get("CNB_USER_ID", ""))
        home = home_directory(partial, uid) if uid is not None else "/"
        ensure_mount_points(partial, home=home)
        os.rename(partial, final)
    except BaseException:
        remove_tree(partial)
        raise


def remove_tree(path: Path) -> None:
    """Remove an unpacked tree, including directories an image made read-only."""

    def make_writable(function: object, failed: str, _info: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, stat.S_IRWXU)
            shutil.rmtree(failed, onerror=make_writable)
        else:
            os.unlink(failed)

    if path.exists() or path.is_symlink():
        shutil.rmtree(path, onerror=make_writable)
