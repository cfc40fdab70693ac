"""pack's ``builder.toml``: what goes into a builder image (pack ``builder/config_reader.go``).

Both shapes pack reads are accepted: ``[build] image`` + ``[[run.images]]`` (RFC 0096) and the
legacy ``[stack]`` table; ``build_image`` and ``run_images`` give the merged view pack uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cnbsdk.errors import SpecError
from cnbsdk.spec.exclusive import at_most_one_of, one_of
from cnbsdk.spec.fields import Fields, drop_empty
from cnbsdk.spec.ids import BuildpackId, BuildpackVersion, EnvVarName, StackId
from cnbsdk.spec.order import GroupEntry, OrderGroup, parse_order
from cnbsdk.spec.pack_targets import pack_target_to_dict, parse_pack_targets
from cnbsdk.spec.platform_files import RunImage
from cnbsdk.spec.schema import validate
from cnbsdk.spec.target import Target
from cnbsdk.spec.toml_io import TomlFileModel

# platform.md §Build-time environment: how /cnb/build-config/env/<name>.<suffix> is applied.
ENV_SUFFIXES = ("default", "override", "append", "prepend")


@dataclass(frozen=True)
class BuilderModule:
    """A buildpack or extension to put into the builder, from a ``uri`` or an ``image``."""

    uri: str = ""
    image: str = ""
    id: BuildpackId | None = None
    version: BuildpackVersion | None = None

    @classmethod
    def from_fields(cls, f: Fields) -> BuilderModule:
        key = one_of(f, ("uri", "image"))
        location = f.str(key, required=True)
        if not location:
            raise f.error(key, "must not be empty")
        return cls(
            uri=location if key == "uri" else "",
            image=location if key == "image" else "",
            id=f.value("id", BuildpackId),
            version=f.value("version", BuildpackVersion),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.id is not None:
            data["id"] = str(self.id)
        if self.version is not None:
            data["version"] = str(self.version)
        if self.uri:
            data["uri"] = self.uri
        else:
            data["image"] = self.image
        return data

    @property
    def location(self) -> str:
        return self.uri or self.image


def _env_value(f: Fields) -> str:
    value: str = f.str("value", "")
    if "\0" in value:
        raise f.error("value", "holds a NUL byte, which no environment variable can")
    return value


@dataclass(frozen=True)
class BuildEnv:
    """One ``[[build.env]]``: written to ``/cnb/build-config/env/<name>[.<suffix>]``."""

    name: str
    value: str = ""
    suffix: str = ""  # "" (override), default, override, append or prepend
    delim: str = ""
    exec_env: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> BuildEnv:
        name = str(f.value("name", EnvVarName, required=True))
        suffix = f.str("suffix", "")
        if suffix and suffix not in ENV_SUFFIXES:
            allowed = ", ".join(repr(s) for s in ENV_SUFFIXES)
            raise f.error("suffix", f"expected one of {allowed}, got str {suffix!r}")
        delim = f.str("delim", "")
        if suffix in ("append", "prepend") and not delim:
            # pack refuses this: without a delimiter the values would run together.
            raise f.error("delim", f"is required with suffix {suffix!r}")
        return cls(
            name=name,
            value=_env_value(f),
            suffix=suffix,
            delim=delim,
            exec_env=tuple(f.str_list("exec-env")),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "value": self.value}
        if self.suffix:
            data["suffix"] = self.suffix
        if self.delim:
            data["delim"] = self.delim
        if self.exec_env:
            data["exec-env"] = list(self.exec_env)
        return data

    @property
    def file_name(self) -> str:
        """The file under ``/cnb/build-config/env`` that holds the value."""
        return f"{self.name}.{self.suffix}" if self.suffix else self.name


@dataclass(frozen=True)
class LegacyStack:
    """The deprecated ``[stack]`` table: still read by pack and needed by kpack."""

    id: str = ""
    build_image: str = ""
    run_image: str = ""
    run_image_mirrors: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> LegacyStack:
        return cls(
            id=f.value("id", StackId) or "",
            build_image=f.str("build-image", ""),
            run_image=f.str("run-image", ""),
            run_image_mirrors=tuple(f.str_list("run-image-mirrors")),
        )

    def to_dict(self) -> dict[str, Any]:
        return drop_empty(
            {
                "id": self.id,
                "build-image": self.build_image,
                "run-image": self.run_image,
                "run-image-mirrors": list(self.run_image_mirrors),
            }
        )


@dataclass(frozen=True)
class LifecycleSource:
    """``[lifecycle]``: a release by ``version`` or a tarball/image by ``uri``."""

    uri: str = ""
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri} if self.uri else {"version": self.version}


@dataclass(frozen=True)
class BuilderToml(TomlFileModel):
    """``builder.toml``."""

    DEFAULT_FILE: ClassVar[str] = "builder.toml"

    description: str = ""
    buildpacks: tuple[BuilderModule, ...] = ()
    extensions: tuple[BuilderModule, ...] = ()
    order: tuple[OrderGroup, ...] = ()
    order_extensions: tuple[OrderGroup, ...] = ()
    system_pre: tuple[GroupEntry, ...] = ()
    system_post: tuple[GroupEntry, ...] = ()
    stack: LegacyStack | None = None
    build_image_ref: str = ""  # [build] image as written; see .build_image
    build_env: tuple[BuildEnv, ...] = ()
    run_images_declared: tuple[RunImage, ...] = ()  # [[run.images]]; see .run_images
    lifecycle: LifecycleSource | None = None
    targets: tuple[Target, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> BuilderToml:
        validate(data, "builder", file=file)
        f = Fields(data, file=file)
        stack_f = f.sub("stack")
        stack = LegacyStack.from_fields(stack_f) if stack_f is not None else None
        build = f.sub("build")
        run = f.sub("run")
        system = f.sub("system")
        builder = cls(
            description=f.str("description", ""),
            buildpacks=tuple(BuilderModule.from_fields(b) for b in f.each("buildpacks")),
            extensions=tuple(BuilderModule.from_fields(e) for e in f.each("extensions")),
            # pack fills in a missing order version from the buildpacks it was given.
            order=parse_order(f, "order", version_required=False),
            order_extensions=parse_order(f, "order-extensions", version_required=False),
            system_pre=_system_entries(system, "pre"),
            system_post=_system_entries(system, "post"),
            stack=stack,
            build_image_ref=build.str("image", "") if build else "",
            build_env=tuple(BuildEnv.from_fields(e) for e in build.each("env")) if build else (),
            run_images_declared=(
                tuple(RunImage.from_fields(i) for i in run.each("images")) if run else ()
            ),
            lifecycle=_lifecycle(f.sub("lifecycle")),
            targets=parse_pack_targets(f),
        )
        builder._check_images(file)
        return builder

    def _check_images(self, file: str) -> None:
        """pack's ValidateConfig: a build image and run images, agreeing with [stack]."""
        stack = self.stack or LegacyStack()
        if not self.build_image_ref and not stack.build_image:
            raise SpecError(
                "is required (the build image; the legacy form is stack.build-image)",
                file=file,
                field="build.image",
            )
        if self.build_image_ref and stack.build_image and self.build_image_ref != stack.build_image:
            raise SpecError(
                f"{self.build_image_ref!r} differs from stack.build-image {stack.build_image!r}",
                file=file,
                field="build.image",
            )
        if not self.run_images_declared and not (stack.run_image and stack.id):
            raise SpecError(
                "are required (a [[run.images]] entry; the legacy form is stack.id"
                " with stack.run-image)",
                file=file,
                field="run.images",
            )
        first = self.run_images_declared[0].image if self.run_images_declared else ""
        if first and stack.run_image and first != stack.run_image:
            raise SpecError(
                f"{first!r} differs from stack.run-image {stack.run_image!r}",
                file=file,
                field="run.images[0].image",
            )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.description:
            data["description"] = self.description
        if self.buildpacks:
            data["buildpacks"] = [b.to_dict() for b in self.buildpacks]
        if self.extensions:
            data["extensions"] = [e.to_dict() for e in self.extensions]
        if self.order:
            data["order"] = [g.to_dict() for g in self.order]
        if self.order_extensions:
            data["order-extensions"] = [g.to_dict() for g in self.order_extensions]
        system = drop_empty(
            {
                "pre": {"buildpacks": [e.to_dict() for e in self.system_pre]}
                if self.system_pre
                else {},
                "post": {"buildpacks": [e.to_dict() for e in self.system_post]}
                if self.system_post
                else {},
            }
        )
        if system:
            data["system"] = system
        if self.stack is not None:
            data["stack"] = self.stack.to_dict()
        build = drop_empty(
            {"image": self.build_image_ref, "env": [e.to_dict() for e in self.build_env]}
        )
        if build:
            data["build"] = build
        if self.run_images_declared:
            data["run"] = {"images": [i.to_dict() for i in self.run_images_declared]}
        if self.lifecycle is not None:
            data["lifecycle"] = self.lifecycle.to_dict()
        if self.targets:
            data["targets"] = [pack_target_to_dict(t) for t in self.targets]
        return data

    def image_references(self) -> list[tuple[str, str]]:
        """Every image reference in the file, as (field, text): what must parse as one."""
        pairs: list[tuple[str, str]] = []
        if self.build_image_ref:
            pairs.append(("build.image", self.build_image_ref))
        for i, run_image in enumerate(self.run_images_declared):
            pairs += run_image.image_references(f"run.images[{i}]")
        if self.stack is not None:
            if self.stack.build_image:
                pairs.append(("stack.build-image", self.stack.build_image))
            if self.stack.run_image:
                pairs.append(("stack.run-image", self.stack.run_image))
            pairs += [
                (f"stack.run-image-mirrors[{i}]", mirror)
                for i, mirror in enumerate(self.stack.run_image_mirrors)
            ]
        for key, modules in (("buildpacks", self.buildpacks), ("extensions", self.extensions)):
            for i, module in enumerate(modules):
                if module.image:
                    pairs.append((f"{key}[{i}].image", module.image))
                elif module.uri.startswith("docker://"):
                    pairs.append((f"{key}[{i}].uri", module.uri))
        return pairs

    @property
    def build_image(self) -> str:
        """The build image: ``[build] image``, else the legacy ``stack.build-image``."""
        return self.build_image_ref or (self.stack.build_image if self.stack else "")

    @property
    def run_images(self) -> tuple[RunImage, ...]:
        """The run images: ``[[run.images]]``, else the legacy ``stack.run-image`` + mirrors."""
        if self.run_images_declared:
            return self.run_images_declared
        if self.stack and self.stack.run_image:
            return (RunImage(self.stack.run_image, self.stack.run_image_mirrors),)
        return ()

    @property
    def stack_id(self) -> str:
        return self.stack.id if self.stack else ""


def _system_entries(system: Fields | None, key: str) -> tuple[GroupEntry, ...]:
    """``[[system.pre.buildpacks]]`` / ``[[system.post.buildpacks]]``."""
    if system is None:
        return ()
    part = system.sub(key)
    if part is None:
        return ()
    return tuple(GroupEntry.from_fields(e, version_required=False) for e in part.each("buildpacks"))


def _lifecycle(f: Fields | None) -> LifecycleSource | None:
    if f is None:
        return None
    key = at_most_one_of(f, ("uri", "version"))
    if key is None:
        return None
    value = f.str(key, required=True)
    if not value:
        raise f.error(key, "must not be empty")
    return LifecycleSource(**{key: value})
