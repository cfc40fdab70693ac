"""The ``cache=true`` layers of an export handed to the cache writer: the tar already written
for the image when there is one, else the committed tar of a layer unchanged since it was
restored, else a new tar; a tar whose content the committed cache already holds is not
staged again (the committed one is kept, hard-linked)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cnbsdk.lifecycle.cache import CacheWriter
from cnbsdk.oci.layer_tar import Layer

Log = Callable[[str], None]


class CacheStaging:
    """Stages one export's cache layers; ``tmp`` is where export writes its own tars."""

    def __init__(self, cache: CacheWriter, tmp: Path, log: Log) -> None:
        self.cache = cache
        self.tmp = tmp
        self.log = log

    def layer(
        self,
        name: str,
        tar: Layer | None,
        known: Callable[[], str | None],
        write_tar: Callable[[], Layer],
    ) -> str:
        """Stage layer ``name`` and return its diffID: ``tar`` is the one export wrote for the
        image (or the committed cache tar it reused), ``known`` the diffID its fingerprint
        names, ``write_tar`` tars it when neither serves."""
        if tar is not None and tar.path.parent == self.tmp:
            return self.stage(name, tar)
        if tar is not None:  # already the staged committed tar
            self.log(f"Reusing cache layer '{name}'")
            return tar.diff_id
        sha = known()
        if sha and self.cache.reuse(sha, name=name, quiet=True):
            self.log(f"Reusing cache layer '{name}'")
            return sha
        return self.stage(name, write_tar())

    def stage(self, name: str, tar: Layer) -> str:
        """Stage a freshly written tar, unless the committed cache holds the same content
        (same diffID): then that tar is kept (hard-linked) and the new one dropped."""
        if self.cache.reuse(tar.diff_id, name=name, quiet=True):
            self.log(f"Reusing cache layer '{name}'")
            return tar.diff_id
        self.cache.add_tar(tar.path, tar.diff_id)
        self.log(f"Adding cache layer '{name}'")
        return tar.diff_id
