"""``<layers>/config/metadata.toml``: what the build phase hands to the exporter (platform.md
§metadata.toml, digest §3.11, lifecycle ``platform/files/metadata.go``).

It lists the group that built (with each buildpack's API), the processes of every buildpack
merged by type (sorted by type, each with the buildpack that defined it), the labels and
slices in group order, and the buildpack-provided default process type. ``default`` is never
written per process: the default is ``buildpack-default-process-type``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

from cnbsdk.spec.fields import Fields
from cnbsdk.spec.ids import ApiVersion, BuildpackId, BuildpackVersion, ProcessType
from cnbsdk.spec.launch_toml import Label, Slice
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_file import write_toml
from cnbsdk.spec.toml_io import TomlFileModel

# platform.md 0.10: `command` became an array; before, a string with the rest moved to `args`.
ARRAY_COMMAND_PLATFORM_API = ApiVersion(0, 10)


@dataclass(frozen=True)
class MetadataBuildpack:
    """One buildpack of the group that built, as in ``group.toml``."""

    id: BuildpackId
    version: BuildpackVersion
    api: ApiVersion | None = None
    homepage: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> MetadataBuildpack:
        return cls(
            id=f.value("id", BuildpackId, required=True),  # type: ignore[arg-type]
            version=f.value("version", BuildpackVersion, required=True),  # type: ignore[arg-type]
            api=f.value("api", ApiVersion.parse),
            homepage=f.str("homepage", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(self.id), "version": str(self.version)}
        if self.api is not None:
            data["api"] = str(self.api)
        if self.homepage:
            data["homepage"] = self.homepage
        return data


@dataclass(frozen=True)
class MetadataProcess:
    """A process of the app image, with the buildpack that defined it last."""

    type: ProcessType
    command: tuple[str, ...]
    buildpack_id: BuildpackId
    args: tuple[str, ...] = ()
    direct: bool = True  # Buildpack API >= 0.9: every process is direct
    working_dir: str = ""
    exec_env: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> MetadataProcess:
        command = f.table.get("command")
        # A Platform API < 0.10 file holds the command as one string.
        commands = [command] if isinstance(command, str) else f.str_list("command")
        if not commands or not commands[0]:
            raise f.error("command", "must name an executable")
        return cls(
            type=f.value("type", ProcessType, required=True),  # type: ignore[arg-type]
            command=tuple(commands),
            buildpack_id=f.value("buildpack-id", BuildpackId, required=True),  # type: ignore[arg-type]
            args=tuple(f.str_list("args")),
            direct=f.bool("direct", True),
            working_dir=f.str("working-dir", ""),
            exec_env=tuple(f.str_list("exec-env")),
        )

    def to_dict(self, *, string_command: bool = False) -> dict[str, Any]:
        """``string_command``: the Platform API < 0.10 form, where ``command`` is a string
        and the rest of the array goes in front of ``args``."""
        data: dict[str, Any] = {"type": str(self.type)}
        if string_command:
            data["command"] = self.command[0]
            data["args"] = [*self.command[1:], *self.args]
        else:
            data["command"] = list(self.command)
            data["args"] = list(self.args)
        data["direct"] = self.direct
        data["buildpack-id"] = str(self.buildpack_id)
        if self.working_dir:
            data["working-dir"] = self.working_dir
        if self.exec_env:
            data["exec-env"] = list(self.exec_env)
        return data


@dataclass(frozen=True)
class MetadataToml(TomlFileModel):
    """The whole ``metadata.toml``; processes are kept sorted by type."""

    DEFAULT_FILE: ClassVar[str] = "metadata.toml"

    buildpacks: tuple[MetadataBuildpack, ...] = ()
    processes: tuple[MetadataProcess, ...] = ()
    labels: tuple[Label, ...] = ()
    slices: tuple[Slice, ...] = ()
    buildpack_default_process_type: str = ""

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.processes, key=lambda p: str(p.type)))
        object.__setattr__(self, "processes", ordered)

    def process(self, type: str) -> MetadataProcess | None:
        return next((p for p in self.processes if p.type == type), None)

    @property
    def default_process(self) -> MetadataProcess | None:
        """The process named by ``buildpack-default-process-type``, if any."""
        if not self.buildpack_default_process_type:
            return None
        return self.process(self.buildpack_default_process_type)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> MetadataToml:
        validate(data, "metadata", file=file)
        f = Fields(data, file=file)
        processes = tuple(MetadataProcess.from_fields(p) for p in f.each("processes"))
        seen: set[str] = set()
        for index, process in enumerate(processes):
            if process.type in seen:
                raise f.error(
                    f"processes[{index}].type", f"duplicate process type {process.type!r}"
                )
            seen.add(process.type)
        default = f.str("buildpack-default-process-type", "")
        return cls(
            buildpacks=tuple(MetadataBuildpack.from_fields(b) for b in f.each("buildpacks")),
            processes=processes,
            labels=tuple(Label.from_fields(label) for label in f.each("labels")),
            slices=tuple(Slice.from_fields(s) for s in f.each("slices")),
            buildpack_default_process_type=default,
        )

    def to_dict(self, *, platform_api: ApiVersion | None = None) -> dict[str, Any]:
        """The file's tables; ``platform_api`` below 0.10 writes string commands."""
        string_command = platform_api is not None and platform_api < ARRAY_COMMAND_PLATFORM_API
        data: dict[str, Any] = {}
        if self.buildpack_default_process_type:
            data["buildpack-default-process-type"] = self.buildpack_default_process_type
        data["buildpacks"] = [b.to_dict() for b in self.buildpacks]
        if self.processes:
            data["processes"] = [p.to_dict(string_command=string_command) for p in self.processes]
        if self.labels:
            data["labels"] = [label.to_dict() for label in self.labels]
        if self.slices:
            data["slices"] = [s.to_dict() for s in self.slices]
        return data

    def write(
        self, path: str | os.PathLike[str], *, platform_api: ApiVersion | None = None
    ) -> None:
        """Write the file atomically (for ``platform_api``, default: array commands)."""
        write_toml(path, self.to_dict(platform_api=platform_api))
