"""The platform's own files (platform.md §Data Format): order.toml, group.toml, plan.toml,
run.toml and stack.toml. The lifecycle reads and writes these between its phases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnbsdk.spec.fields import Fields, drop_empty
from cnbsdk.spec.ids import ApiVersion, BuildpackId, BuildpackVersion
from cnbsdk.spec.order import OrderGroup, parse_order
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_io import TomlFileModel


@dataclass(frozen=True)
class OrderToml(TomlFileModel):
    """``order.toml``: the groups the detector tries, buildpacks and image extensions."""

    DEFAULT_FILE: ClassVar[str] = "order.toml"

    order: tuple[OrderGroup, ...] = ()
    order_extensions: tuple[OrderGroup, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> OrderToml:
        validate(data, "order", file=file)
        f = Fields(data, file=file)
        # platform.md §order.toml: every entry names an id and a version.
        return cls(
            order=parse_order(f, "order"),
            order_extensions=parse_order(f, "order-extensions"),
        )

    def to_dict(self) -> dict[str, Any]:
        return drop_empty(
            {
                "order": [group.to_dict() for group in self.order],
                "order-extensions": [group.to_dict() for group in self.order_extensions],
            }
        )


@dataclass(frozen=True)
class GroupMember:
    """One buildpack (or extension) of the group the detector chose."""

    id: BuildpackId
    version: BuildpackVersion
    api: ApiVersion
    homepage: str = ""
    # Lifecycles before Platform 0.10 wrote extensions into [[group]] with extension = true.
    extension: bool = False

    @classmethod
    def from_fields(cls, f: Fields) -> GroupMember:
        return cls(
            id=f.value("id", BuildpackId, required=True),  # type: ignore[arg-type]
            version=f.value("version", BuildpackVersion, required=True),  # type: ignore[arg-type]
            api=f.value("api", ApiVersion.parse, required=True),  # type: ignore[arg-type]
            homepage=f.str("homepage", ""),
            extension=f.bool("extension"),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "version": str(self.version),
            "api": str(self.api),
        }
        if self.homepage:
            data["homepage"] = self.homepage
        if self.extension:
            data["extension"] = True
        return data


@dataclass(frozen=True)
class GroupToml(TomlFileModel):
    """``group.toml``: the detector's chosen group, in build order."""

    DEFAULT_FILE: ClassVar[str] = "group.toml"

    group: tuple[GroupMember, ...] = ()
    group_extensions: tuple[GroupMember, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> GroupToml:
        validate(data, "group", file=file)
        f = Fields(data, file=file)
        return cls(
            group=tuple(GroupMember.from_fields(m) for m in f.each("group")),
            group_extensions=tuple(GroupMember.from_fields(m) for m in f.each("group-extensions")),
        )

    def to_dict(self) -> dict[str, Any]:
        return drop_empty(
            {
                "group": [member.to_dict() for member in self.group],
                "group-extensions": [member.to_dict() for member in self.group_extensions],
            }
        )


@dataclass(frozen=True)
class PlanProvider:
    """A buildpack (or extension) that provides a plan entry."""

    id: BuildpackId
    version: BuildpackVersion
    extension: bool = False

    @classmethod
    def from_fields(cls, f: Fields) -> PlanProvider:
        return cls(
            id=f.value("id", BuildpackId, required=True),  # type: ignore[arg-type]
            version=f.value("version", BuildpackVersion, required=True),  # type: ignore[arg-type]
            extension=f.bool("extension"),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(self.id), "version": str(self.version)}
        if self.extension:
            data["extension"] = True
        return data


@dataclass(frozen=True)
class PlanRequirement:
    """A requirement of a plan entry: a name and free-form metadata."""

    name: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, f: Fields) -> PlanRequirement:
        name = f.str("name", required=True)
        if not name:
            raise f.error("name", "must not be empty")
        return cls(name=name, metadata=f.table_of("metadata"))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.metadata:
            data["metadata"] = self.metadata
        return data


@dataclass(frozen=True)
class PlatformPlanEntry:
    """One resolved entry: who provides it and who requires it."""

    providers: tuple[PlanProvider, ...] = ()
    requires: tuple[PlanRequirement, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> PlatformPlanEntry:
        return cls(
            providers=tuple(PlanProvider.from_fields(p) for p in f.each("providers")),
            requires=tuple(PlanRequirement.from_fields(r) for r in f.each("requires")),
        )

    def to_dict(self) -> dict[str, Any]:
        return drop_empty(
            {
                "providers": [p.to_dict() for p in self.providers],
                "requires": [r.to_dict() for r in self.requires],
            }
        )


@dataclass(frozen=True)
class PlatformPlan(TomlFileModel):
    """The detector's ``plan.toml`` (not a buildpack's build plan, which shares the name)."""

    DEFAULT_FILE: ClassVar[str] = "plan.toml"

    entries: tuple[PlatformPlanEntry, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> PlatformPlan:
        validate(data, "platform-plan", file=file)
        f = Fields(data, file=file)
        return cls(entries=tuple(PlatformPlanEntry.from_fields(e) for e in f.each("entries")))

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"entries": [entry.to_dict() for entry in self.entries]})

    def entries_for(self, buildpack_id: str) -> tuple[PlatformPlanEntry, ...]:
        """The entries a buildpack provides: the input for its buildpack plan."""
        return tuple(
            entry
            for entry in self.entries
            if any(provider.id == buildpack_id for provider in entry.providers)
        )


@dataclass(frozen=True)
class RunImage:
    """A run image and its mirrors (run.toml ``[[images]]``, builder.toml ``[[run.images]]``)."""

    image: str
    mirrors: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> RunImage:
        image = f.str("image", required=True)
        if not image:
            raise f.error("image", "must not be empty")
        mirrors = f.str_list("mirrors")
        for index, mirror in enumerate(mirrors):
            if not mirror:
                raise f.error(f"mirrors[{index}]", "must not be empty")
        return cls(image=image, mirrors=tuple(mirrors))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"image": self.image}
        if self.mirrors:
            data["mirrors"] = list(self.mirrors)
        return data

    def image_references(self, where: str) -> list[tuple[str, str]]:
        """(field, reference) of the image and each mirror, for checking them as refs."""
        return [(f"{where}.image", self.image)] + [
            (f"{where}.mirrors[{i}]", mirror) for i, mirror in enumerate(self.mirrors)
        ]

    @property
    def candidates(self) -> tuple[str, ...]:
        """The image then its mirrors, the order run-image resolution tries them in."""
        return (self.image, *self.mirrors)


@dataclass(frozen=True)
class RunToml(TomlFileModel):
    """``run.toml`` (Platform >= 0.12): the run images an app may use."""

    DEFAULT_FILE: ClassVar[str] = "run.toml"

    images: tuple[RunImage, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> RunToml:
        validate(data, "run", file=file)
        f = Fields(data, file=file)
        return cls(images=tuple(RunImage.from_fields(i) for i in f.each("images")))

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"images": [image.to_dict() for image in self.images]})

    def image_references(self) -> list[tuple[str, str]]:
        """Every image reference in the file, as (field, text)."""
        return [
            pair
            for i, image in enumerate(self.images)
            for pair in image.image_references(f"images[{i}]")
        ]


@dataclass(frozen=True)
class StackToml(TomlFileModel):
    """``stack.toml`` (Platform < 0.12, still written by pack): the one run image."""

    DEFAULT_FILE: ClassVar[str] = "stack.toml"

    run_image: RunImage | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> StackToml:
        validate(data, "stack", file=file)
        f = Fields(data, file=file)
        run = f.sub("run-image")
        if run is None:
            return cls()
        if not run.table:
            # pack writes an empty [run-image] table for builders without a run image.
            return cls()
        return cls(run_image=RunImage.from_fields(run))

    def image_references(self) -> list[tuple[str, str]]:
        """Every image reference in the file, as (field, text)."""
        return self.run_image.image_references("run-image") if self.run_image else []

    def to_dict(self) -> dict[str, Any]:
        if self.run_image is None:
            return {}
        return {"run-image": self.run_image.to_dict()}
