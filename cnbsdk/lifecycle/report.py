"""``report.toml``: what the exporter wrote (platform.md §report.toml, digest §4.4).

``[image]`` holds the tags the image went to, its manifest digest (registry and layout
exports) or image ID, and the manifest's size. The lifecycle writes ``manifest-size`` as an
integer (the spec's example shows a string), so both are read and an integer is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnbsdk.spec.fields import Fields, drop_empty
from cnbsdk.spec.toml_io import TomlFileModel


@dataclass(frozen=True)
class ImageReport:
    """The ``[image]`` table."""

    tags: tuple[str, ...] = ()
    digest: str = ""
    image_id: str = ""
    manifest_size: int = 0

    @classmethod
    def from_fields(cls, f: Fields) -> ImageReport:
        size = f.table.get("manifest-size", 0)
        if isinstance(size, str) and size.isascii() and size.isdigit() and len(size) <= 19:
            size = int(size)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise f.error("manifest-size", f"expected a non-negative integer, got {size!r}")
        return cls(
            tags=tuple(f.str_list("tags")),
            digest=f.str("digest", ""),
            image_id=f.str("image-id", ""),
            manifest_size=size,
        )

    def to_dict(self) -> dict[str, Any]:
        data = drop_empty(
            {"tags": list(self.tags), "digest": self.digest, "image-id": self.image_id}
        )
        if self.manifest_size:
            data["manifest-size"] = self.manifest_size
        return data


@dataclass(frozen=True)
class ReportToml(TomlFileModel):
    """The whole ``report.toml``."""

    DEFAULT_FILE: ClassVar[str] = "report.toml"

    image: ImageReport = field(default_factory=ImageReport)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> ReportToml:
        f = Fields(data, file=file)
        image = f.sub("image")
        return cls(image=ImageReport.from_fields(image) if image else ImageReport())

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image.to_dict()}
