"""Where each layer of a rebuilt app image comes from, and when it is gzipped: the policy of
export, kept apart from the tarring and writing so it can be read and tested on its own.

- A layer whose fingerprint (``layer_fingerprint``) equals the previous image's layer is
  that layer: the previous image's blob goes into the new image as it is, untarred.
- Else a ``cache=true`` layer unchanged since it was restored from the cache is the cache's
  committed tar.
- Else the layer is tarred (once), and still reused from the previous image when its diffID
  turns out equal.
- For a registry (``compress``) a new layer is gzipped in the tar pass itself only when the
  previous image has no layer it could equal; otherwise it is tarred plain first, so an
  unchanged layer is never compressed. Tars the cache also keeps stay plain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

from cnbsdk.lifecycle.analyze import PreviousImage
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import Descriptor


class Source(Enum):
    """Where a launch layer with contents comes from."""

    PREVIOUS_IMAGE = "the previous image's blob"
    CACHE = "the cache's committed tar, if the cache still has it"
    TAR = "a new tar"


@dataclass(frozen=True)
class ReusePolicy:
    previous: PreviousImage | None
    compress: bool  # new layers go into the image gzipped (a registry)

    def previous_blob(self, diff_id: str | None) -> Descriptor | None:
        """The previous image's blob of layer ``diff_id`` (OCI media type), if it has it."""
        if self.previous is None or not diff_id:
            return None
        diff_ids = tuple(self.previous.config.diff_ids)
        layers = tuple(self.previous.manifest.layers)
        if diff_id not in diff_ids or len(layers) != len(diff_ids):
            return None
        descriptor: Descriptor = layers[diff_ids.index(diff_id)]
        return replace(
            descriptor,
            media_type=mt.DOCKER_TO_OCI.get(descriptor.media_type, descriptor.media_type),
        )

    def launch_layer_source(
        self, known: str | None, previous_sha: str | None, *, cache: bool
    ) -> Source:
        """For a launch layer whose fingerprint names diffID ``known`` (None: unknown or
        changed) and that the previous image recorded as ``previous_sha``."""
        if known and known == previous_sha and self.previous_blob(known) is not None:
            return Source.PREVIOUS_IMAGE
        if known and cache:
            return Source.CACHE
        return Source.TAR

    def reuses(self, diff_id: str, previous_sha: str | None) -> bool:
        """Whether a freshly tarred layer is the previous image's (same diffID, blob there)."""
        return (
            bool(previous_sha)
            and diff_id == previous_sha
            and self.previous_blob(diff_id) is not None
        )

    def gzip_while_tarring(self, previous_sha: str | None) -> bool:
        """Gzip in the tar pass itself: for a registry, when the previous image has no layer
        this one could equal."""
        return self.compress and self.previous_blob(previous_sha) is None

    def gzip_launch_tar(self, known: str | None, previous_sha: str | None, *, cache: bool) -> bool:
        """Whether a launch layer being tarred is gzipped in that pass (a cache layer never
        is: the cache keeps plain tars, the image's blob is gzipped from it)."""
        return not cache and self.gzip_while_tarring(None if known else previous_sha)

    def gzip_app_while_tarring(self, previous_app: Iterable[str]) -> bool:
        """App layers are gzipped as they are tarred when no previous app layer is there."""
        return self.compress and not any(self.previous_blob(d) for d in previous_app)
