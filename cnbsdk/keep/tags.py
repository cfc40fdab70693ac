"""The tags a build writes besides the image's own: kpack's build-number tag
``<tag>-b<N>.<YYYYMMDD>.<HHMMSS>`` (no prefix when the tag is ``latest``) and the image's
additional tags."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from cnbsdk.oci.reference import DEFAULT_TAG, parse_reference


def build_tag(destination: str, number: int, when: datetime) -> str:
    ref = parse_reference(destination)
    stamp = f"b{number}.{when:%Y%m%d}.{when:%H%M%S}"
    tag = ref.tag_or_default
    new = stamp if tag == DEFAULT_TAG else f"{tag}-{stamp}"
    return str(replace(ref, tag=new, digest=""))
