"""``<layers>/launch.toml``: processes, labels and slices (buildpack.md §launch.toml (TOML))."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any, ClassVar

from cnbsdk.spec.build_toml import BOM_REMOVED
from cnbsdk.spec.fields import Fields
from cnbsdk.spec.ids import ApiVersion, ProcessType
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_file import parse_toml, read_toml
from cnbsdk.spec.toml_io import TomlFileModel

ARRAY_COMMAND_API = ApiVersion(0, 9)  # buildpack.md 0.9: command is an array, `direct` is gone
BOM_REMOVED_API = ApiVersion(0, 7)


@dataclass(frozen=True)
class Process:
    """A process type the app image can run; ``command[0]`` is the executable."""

    type: ProcessType
    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    default: bool = False
    working_dir: str = ""
    exec_env: tuple[str, ...] = ()
    direct: bool | None = None  # only in launch.toml of Buildpack API < 0.9

    @classmethod
    def from_fields(cls, f: Fields, api: ApiVersion | None) -> Process:
        array_command = api is None or api >= ARRAY_COMMAND_API
        if array_command and "direct" in f.table:
            raise f.error(
                "direct", "is not allowed since Buildpack API 0.9: every process is direct"
            )
        command = f.table.get("command")
        if isinstance(command, str) and not array_command:
            commands = [command]
        elif isinstance(command, str):
            raise f.error(
                "command",
                f"must be an array of strings since Buildpack API 0.9, e.g. [{command!r}]"[:160],
            )
        elif command is not None and not array_command:
            raise f.error(
                "command", f"must be a string before Buildpack API 0.9, got {command!r}"[:160]
            )
        else:
            commands = f.str_list("command") if command is not None else []
        if "command" not in f.table:
            raise f.error("command", "is required")
        if not commands:
            raise f.error("command", "must not be empty")
        if not commands[0]:
            raise f.error("command[0]", "must name an executable")
        exec_env = f.str_list("exec-env")
        for index, name in enumerate(exec_env):
            if not name or "/" in name:
                raise f.error(f"exec-env[{index}]", f"invalid execution environment {name!r}")
        return cls(
            type=f.value("type", ProcessType, required=True),  # type: ignore[arg-type]
            command=tuple(commands),
            args=tuple(f.str_list("args")),
            default=f.bool("default"),
            working_dir=f.str("working-dir", ""),
            exec_env=tuple(exec_env),
            direct=f.bool("direct") if "direct" in f.table else None,
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": str(self.type), "command": list(self.command)}
        if self.args:
            data["args"] = list(self.args)
        if self.default:
            data["default"] = True
        if self.working_dir:
            data["working-dir"] = self.working_dir
        if self.exec_env:
            data["exec-env"] = list(self.exec_env)
        if self.direct is not None:
            # The old string form: the executable and its fixed arguments in one string.
            data["command"] = " ".join(self.command)
            data["direct"] = self.direct
        return data


@dataclass(frozen=True)
class Label:
    """An image label this buildpack sets; a later buildpack wins on the same key."""

    key: str
    value: str

    @classmethod
    def from_fields(cls, f: Fields) -> Label:
        key: str = f.str("key", required=True)
        if not key:
            raise f.error("key", "must not be empty")
        return cls(key=key, value=f.str("value", required=True))

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}


@dataclass(frozen=True)
class Slice:
    """App files (globs relative to the app dir) exported as their own layer."""

    paths: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> Slice:
        paths = f.str_list("paths")
        for index, path in enumerate(paths):
            if not posixpath.isabs(path):
                normal = posixpath.normpath(path)
                if normal == ".." or normal.startswith("../"):
                    raise f.error(f"paths[{index}]", f"{path!r} leaves the app directory")
        return cls(paths=tuple(paths))

    def to_dict(self) -> dict[str, Any]:
        return {"paths": list(self.paths)}


@dataclass(frozen=True)
class LaunchToml(TomlFileModel):
    """The whole ``launch.toml`` of one buildpack."""

    DEFAULT_FILE: ClassVar[str] = "launch.toml"

    processes: tuple[Process, ...] = ()
    labels: tuple[Label, ...] = ()
    slices: tuple[Slice, ...] = ()

    @property
    def default_process(self) -> Process | None:
        return next((p for p in self.processes if p.default), None)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, file: str, api: ApiVersion | None = None
    ) -> LaunchToml:
        """Validate for Buildpack API ``api`` (None: the array-command rules of 0.9 and later)."""
        validate(data, "launch", file=file)
        f = Fields(data, file=file)
        if "bom" in f.table and (api is None or api >= BOM_REMOVED_API):
            raise f.error("bom", BOM_REMOVED)
        processes = tuple(Process.from_fields(p, api) for p in f.each("processes"))
        seen_types: set[str] = set()
        default_at: int | None = None
        for index, process in enumerate(processes):
            if process.type in seen_types:
                raise f.error(
                    f"processes[{index}].type", f"duplicate process type {process.type!r}"
                )
            seen_types.add(process.type)
            if process.default and default_at is not None:
                raise f.error(
                    f"processes[{index}].default",
                    f"only one process may be the default; processes[{default_at}] already is",
                )
            if process.default:
                default_at = index
        labels = tuple(Label.from_fields(label) for label in f.each("labels"))
        seen_keys: set[str] = set()
        for index, label in enumerate(labels):
            if label.key in seen_keys:
                raise f.error(f"labels[{index}].key", f"duplicate label {label.key!r}")
            seen_keys.add(label.key)
        return cls(
            processes=processes,
            labels=labels,
            slices=tuple(Slice.from_fields(s) for s in f.each("slices")),
        )

    @classmethod
    def from_toml(
        cls, text: str, *, file: str | None = None, api: ApiVersion | None = None
    ) -> LaunchToml:
        name = file or cls.DEFAULT_FILE
        return cls.from_dict(parse_toml(text, file=name), file=name, api=api)

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, api: ApiVersion | None = None) -> LaunchToml:
        return cls.from_dict(read_toml(path), file=str(path), api=api)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.labels:
            data["labels"] = [label.to_dict() for label in self.labels]
        if self.processes:
            data["processes"] = [process.to_dict() for process in self.processes]
        if self.slices:
            data["slices"] = [s.to_dict() for s in self.slices]
        return data
