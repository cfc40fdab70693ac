"""cnbsdk's local image store: one OCI layout at ``$CNBSDK_HOME/images`` shared by every
command (``$CNBSDK_HOME`` defaults to ``~/.local/share/cnbsdk``). Tags are full
``name:tag`` strings, so ``skopeo inspect oci:$CNBSDK_HOME/images:app:latest`` reads them too.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.errors import CnbError, ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import Descriptor
from cnbsdk.oci.layout import OciLayout, OciLayoutDestination, OciLayoutSource
from cnbsdk.oci.models import ImageConfig, Index, Manifest, running_platform
from cnbsdk.oci.reference import ImageRef


def cnbsdk_home() -> Path:
    """``$CNBSDK_HOME``, or ``~/.local/share/cnbsdk``."""
    home = os.environ.get("CNBSDK_HOME")
    return Path(home) if home else Path.home() / ".local" / "share" / "cnbsdk"


def private_directory(path: Path, *, name: str) -> Path:
    """``path`` as a directory only its owner can enter (0700): created so, or an existing
    one of ours made so. Unpacked images keep setuid files there, and credentials-bearing
    configs sit beside: another local user must not reach them. Owned by someone else is
    refused (CnbError naming ``name``)."""
    try:
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)  # mkdir's mode is cut by the umask, never widened
        return path
    except FileExistsError:
        pass
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        info = path.stat()  # a link to a directory of ours is fine; its target is checked
    if not stat.S_ISDIR(info.st_mode):
        raise CnbError(f"{name} ({path}) is not a directory", hint="point it at a directory")
    if info.st_uid != os.geteuid():
        raise CnbError(
            f"{name} ({path}) belongs to uid {info.st_uid}, not to you",
            hint="point it at a directory of your own",
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def store_path() -> Path:
    return cnbsdk_home() / "images"


@dataclass(frozen=True)
class StoredImage:
    """One tag in the store, as ``cnbsdk images`` lists it."""

    name: str
    tag: str
    digest: str
    media_type: str
    size: int
    created: str

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}"


def store_tag(ref: ImageRef) -> str:
    """The ref-name annotation a store reference is kept under."""
    return ref.name_with_tag


class ImageStore:
    """The local image store."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            private_directory(cnbsdk_home(), name="cnbsdk's home")
        self.layout = OciLayout(path or store_path())

    def source(self, ref: ImageRef) -> OciLayoutSource:
        if not self.layout.exists():
            raise ImageError(f"no image {ref.name_with_tag} in the local store (it is empty)")
        if ref.digest and not ref.tag:
            return OciLayoutSource(self.layout.path, digest=ref.digest)
        if self.layout.find(store_tag(ref)) is None:
            raise ImageError(f"no image {store_tag(ref)} in the local store")
        return OciLayoutSource(self.layout.path, tag=store_tag(ref))

    def destination(self, ref: ImageRef) -> OciLayoutDestination:
        if ref.digest:
            raise ImageError(f"cannot write to a digest reference: {ref}")
        self.layout.path.parent.mkdir(parents=True, exist_ok=True)
        return OciLayoutDestination(self.layout.path, tag=store_tag(ref))

    def list(self) -> list[StoredImage]:
        if not self.layout.exists():
            return []
        images = []
        for tag, descriptor in self.layout.tags():
            name, _, version = tag.rpartition(":")
            size, created, kind = self._summary(descriptor)
            images.append(StoredImage(name, version, descriptor.digest, kind, size, created))
        return sorted(images, key=lambda i: (i.name, i.tag))

    def _summary(self, descriptor: Descriptor) -> tuple[int, str, str]:
        """(total size of manifest, config and layers; created; media type)."""
        try:
            raw, kind = self.layout.manifest_of(descriptor)
            if mt.is_index(kind):
                chosen = Index.from_json(raw, kind).select(running_platform())
                raw, kind = self.layout.manifest_of(chosen)
            manifest = Manifest.from_json(raw, kind)
            config = ImageConfig.from_json(self.layout.read_blob(manifest.config.digest))
        except ImageError:
            return 0, "", descriptor.media_type
        size = len(raw) + manifest.config.size + sum(d.size for d in manifest.layers)
        return size, config.created, descriptor.media_type or kind

    def remove(self, ref: ImageRef) -> tuple[Descriptor, int, int]:
        """Untag; delete blobs no other tag uses. Returns (removed entry, blobs, bytes)."""
        if not self.layout.exists():
            raise ImageError(f"no image {store_tag(ref)} in the local store")
        try:
            removed = self.layout.remove_tag(store_tag(ref))
        except ImageError:
            raise ImageError(f"no image {store_tag(ref)} in the local store") from None
        count, size = self.layout.garbage_collect()
        return removed, count, size
