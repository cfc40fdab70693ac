"""What a rebuild gets back of a layer, by the flags it was written with (cnb-spec-digest
§3.4, buildpack.md §Layer Types): the one rule that ``restore.py`` applies and the test
harness (``testing/inputs.py``) imitates, so the two cannot drift apart.

============================  ================================
flags                         restored
============================  ================================
launch, not build/cache       the metadata (``<layer>.toml``)
launch + build, no cache      nothing: the buildpack recreates it
cache (any launch/build)      the metadata and the contents
build only / none             nothing
============================  ================================
"""

from __future__ import annotations

from enum import Enum


class Restored(Enum):
    NOTHING = "nothing"
    METADATA = "metadata"
    CONTENTS = "metadata and contents"


def restored(*, launch: bool, build: bool, cache: bool) -> Restored:
    """What comes back of a layer written with these flags."""
    if cache:
        return Restored.CONTENTS
    if launch and not build:
        return Restored.METADATA
    return Restored.NOTHING
