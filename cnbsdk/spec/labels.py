"""The JSON labels the lifecycle writes on app and cache images (cnb-spec-digest §4.6, §4.7).

Each model reads the exact shape the reference lifecycle writes (``from_json``) and writes
it back (``to_json``: compact, keys sorted, so equal metadata gives equal bytes and equal
image digests). Unknown keys are tolerated on read, so labels written by newer or older
lifecycles still load; errors name the label and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cnbsdk.errors import SpecError
from cnbsdk.spec.fields import Fields
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_file import MAX_TOML_DEPTH, nesting_depth

LIFECYCLE_METADATA_LABEL = "io.buildpacks.lifecycle.metadata"
BUILD_METADATA_LABEL = "io.buildpacks.build.metadata"
PROJECT_METADATA_LABEL = "io.buildpacks.project.metadata"
CACHE_METADATA_LABEL = "io.buildpacks.lifecycle.cache.metadata"
EXEC_ENV_LABEL = "io.buildpacks.exec-env"
REBASABLE_LABEL = "io.buildpacks.rebasable"

T = TypeVar("T")


def _dump(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _load(raw: str | bytes | Mapping[str, Any], label: str, schema: str) -> Fields:
    """Parse a label value (text or an already parsed object), validate it, wrap it."""
    if isinstance(raw, Mapping):
        data: Any = dict(raw)
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise SpecError(f"is not valid JSON: {error}", file=label) from None
    if nesting_depth(data) > MAX_TOML_DEPTH:
        raise SpecError(f"nested more than {MAX_TOML_DEPTH} levels deep", file=label)
    if data is None:
        data = {}
    validate(data, schema, file=label)
    return Fields(data, file=label)


def _sha_of(f: Fields, key: str) -> str | None:
    """The ``sha`` inside ``{"<key>": {"sha": ...}}``, or None when absent or empty."""
    sub = f.sub(key) if f.table.get(key) is not None else None
    if sub is None:
        return None
    return sub.str("sha", "") or None


def _sha(value: str) -> dict[str, str]:
    return {"sha": value}


@dataclass(frozen=True)
class LayerMetadata:
    """One buildpack layer as recorded in a label: its diffID, ``[metadata]`` and ``[types]``."""

    sha: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    build: bool = False
    launch: bool = False
    cache: bool = False

    @classmethod
    def from_fields(cls, f: Fields) -> LayerMetadata:
        data = f.table.get("data")
        if data is not None and not isinstance(data, dict):
            raise f.error("data", f"expected a table, got {type(data).__name__}")
        return cls(
            sha=f.str("sha", ""),
            data=dict(data or {}),
            build=f.bool("build"),
            launch=f.bool("launch"),
            cache=f.bool("cache"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "data": dict(self.data),
            "build": self.build,
            "launch": self.launch,
            "cache": self.cache,
        }


@dataclass(frozen=True)
class BuildpackLayersMetadata:
    """A buildpack's entry in ``buildpacks[]``: its layers by name and its ``store.toml``.

    ``store`` is the whole ``store.toml`` document (``{"metadata": {...}}``), None when empty.
    """

    key: str
    version: str = ""
    layers: Mapping[str, LayerMetadata] = field(default_factory=dict)
    store: Mapping[str, Any] | None = None

    @classmethod
    def from_fields(cls, f: Fields) -> BuildpackLayersMetadata:
        layers_table = f.sub("layers") if f.table.get("layers") is not None else None
        layers: dict[str, LayerMetadata] = {}
        if layers_table is not None:
            for name in layers_table.table:
                sub = layers_table.sub(name)
                assert sub is not None
                layers[str(name)] = LayerMetadata.from_fields(sub)
        store = f.table.get("store")
        if store is not None and not isinstance(store, dict):
            raise f.error("store", f"expected a table, got {type(store).__name__}")
        return cls(
            key=f.str("key", required=True),
            version=f.str("version", ""),
            layers=layers,
            store=dict(store) if store else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "version": self.version,
            "layers": {name: layer.to_dict() for name, layer in sorted(self.layers.items())},
        }
        if self.store:
            out["store"] = dict(self.store)
        return out


def _buildpacks(f: Fields) -> tuple[BuildpackLayersMetadata, ...]:
    if f.table.get("buildpacks") is None:
        return ()
    return tuple(BuildpackLayersMetadata.from_fields(sub) for sub in f.each("buildpacks"))


class _BuildpackLayersLookup:
    """Lookups shared by the labels that list ``buildpacks[]`` with their layers."""

    buildpacks: tuple[BuildpackLayersMetadata, ...]

    def buildpack(self, key: str) -> BuildpackLayersMetadata | None:
        """The entry of buildpack ``key``, or None."""
        for entry in self.buildpacks:
            if entry.key == key:
                return entry
        return None

    def layer(self, key: str, name: str) -> LayerMetadata | None:
        """Layer ``name`` of buildpack ``key``, or None."""
        entry = self.buildpack(key)
        return entry.layers.get(name) if entry is not None else None


@dataclass(frozen=True)
class RunImageMetadata:
    """``runImage``: the run image's top diffID (rebase cuts there) and where it came from."""

    top_layer: str = ""
    reference: str = ""
    image: str = ""
    mirrors: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> RunImageMetadata:
        mirrors = f.str_list("mirrors") if f.table.get("mirrors") is not None else []
        return cls(
            top_layer=f.str("topLayer", ""),
            reference=f.str("reference", ""),
            image=f.str("image", ""),
            mirrors=tuple(mirrors),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"topLayer": self.top_layer, "reference": self.reference}
        if self.image:
            out["image"] = self.image
        if self.mirrors:
            out["mirrors"] = list(self.mirrors)
        return out


@dataclass(frozen=True)
class LifecycleMetadata(_BuildpackLayersLookup):
    """``io.buildpacks.lifecycle.metadata``: what the exporter put in an app image.

    Digests are diffIDs (uncompressed). ``app`` lists one per app layer (slices, then the
    rest); ``stack_run_image`` is the deprecated ``stack.runImage`` kept for older readers.
    """

    app: tuple[str, ...] = ()
    sbom: str | None = None
    buildpacks: tuple[BuildpackLayersMetadata, ...] = ()
    config: str = ""
    launcher: str = ""
    process_types: str | None = None
    run_image: RunImageMetadata = field(default_factory=RunImageMetadata)
    stack_run_image: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(
        cls, raw: str | bytes | Mapping[str, Any], *, label: str = LIFECYCLE_METADATA_LABEL
    ) -> LifecycleMetadata:
        f = _load(raw, label, "lifecycle-metadata")
        app_value = f.table.get("app")
        if isinstance(app_value, dict):  # Platform API < 0.4 wrote a single object
            app_value = [app_value]
        app: list[str] = []
        for index, item in enumerate(app_value or []):
            entry = Fields(item, file=label, path=f"app[{index}]")
            app.append(entry.str("sha", ""))
        run_image = f.sub("runImage") if f.table.get("runImage") is not None else None
        stack = f.sub("stack") if f.table.get("stack") is not None else None
        stack_run = stack.table_of("runImage") if stack is not None else {}
        return cls(
            app=tuple(app),
            sbom=_sha_of(f, "sbom"),
            buildpacks=_buildpacks(f),
            config=_sha_of(f, "config") or "",
            launcher=_sha_of(f, "launcher") or "",
            process_types=_sha_of(f, "process-types"),
            run_image=RunImageMetadata.from_fields(run_image) if run_image else RunImageMetadata(),
            stack_run_image=stack_run,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "app": [_sha(sha) for sha in self.app],
            "buildpacks": [bp.to_dict() for bp in self.buildpacks],
            "config": _sha(self.config),
            "launcher": _sha(self.launcher),
            "runImage": self.run_image.to_dict(),
            "stack": {"runImage": dict(self.stack_run_image)},
        }
        if self.sbom:
            out["sbom"] = _sha(self.sbom)
        if self.process_types:
            out["process-types"] = _sha(self.process_types)
        return out

    def to_json(self) -> str:
        return _dump(self.to_dict())


@dataclass(frozen=True)
class BuildpackRef:
    """A buildpack (or extension) in ``io.buildpacks.build.metadata``; ``api`` is left out."""

    id: str
    version: str = ""
    homepage: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> BuildpackRef:
        return cls(
            id=f.str("id", required=True),
            version=f.str("version", ""),
            homepage=f.str("homepage", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "version": self.version}
        if self.homepage:
            out["homepage"] = self.homepage
        return out


@dataclass(frozen=True)
class ProcessMetadata:
    """A process in ``io.buildpacks.build.metadata`` (``command`` is an array since
    Platform 0.10; an older string command is read as one element)."""

    type: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    direct: bool = True
    buildpack_id: str = ""
    working_dir: str = ""
    exec_env: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> ProcessMetadata:
        command = f.table.get("command")
        commands = [command] if isinstance(command, str) else f.str_list("command")
        return cls(
            type=f.str("type", required=True),
            command=tuple(commands),
            args=tuple(f.str_list("args") if f.table.get("args") is not None else ()),
            direct=f.bool("direct", False),
            buildpack_id=f.str("buildpackID", ""),
            working_dir=f.str("working-dir", ""),
            exec_env=tuple(f.str_list("exec-env") if f.table.get("exec-env") else ()),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "command": list(self.command),
            "args": list(self.args),
            "direct": self.direct,
            "buildpackID": self.buildpack_id,
        }
        if self.working_dir:
            out["working-dir"] = self.working_dir
        if self.exec_env:
            out["exec-env"] = list(self.exec_env)
        return out


@dataclass(frozen=True)
class LauncherMetadata:
    """The launcher's version and source (``launcher.source.git``)."""

    version: str = ""
    repository: str = ""
    commit: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> LauncherMetadata:
        source = f.sub("source") if f.table.get("source") is not None else None
        git = source.sub("git") if source and source.table.get("git") is not None else None
        return cls(
            version=f.str("version", ""),
            repository=git.str("repository", "") if git else "",
            commit=git.str("commit", "") if git else "",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "source": {"git": {"repository": self.repository, "commit": self.commit}},
        }


@dataclass(frozen=True)
class BuildMetadata:
    """``io.buildpacks.build.metadata``: the group, the processes and the launcher."""

    buildpacks: tuple[BuildpackRef, ...] = ()
    processes: tuple[ProcessMetadata, ...] = ()
    launcher: LauncherMetadata = field(default_factory=LauncherMetadata)
    default_process: str = ""
    extensions: tuple[BuildpackRef, ...] = ()

    @classmethod
    def from_json(
        cls, raw: str | bytes | Mapping[str, Any], *, label: str = BUILD_METADATA_LABEL
    ) -> BuildMetadata:
        f = _load(raw, label, "build-metadata")

        def each(key: str) -> list[Fields]:
            return f.each(key) if f.table.get(key) is not None else []  # null reads as []

        launcher = f.sub("launcher") if f.table.get("launcher") is not None else None
        return cls(
            buildpacks=tuple(BuildpackRef.from_fields(sub) for sub in each("buildpacks")),
            processes=tuple(ProcessMetadata.from_fields(sub) for sub in each("processes")),
            launcher=LauncherMetadata.from_fields(launcher) if launcher else LauncherMetadata(),
            default_process=f.str("buildpack-default-process-type", ""),
            extensions=tuple(BuildpackRef.from_fields(sub) for sub in each("extensions")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "buildpacks": [bp.to_dict() for bp in self.buildpacks],
            "processes": [process.to_dict() for process in self.processes],
            "launcher": self.launcher.to_dict(),
        }
        if self.extensions:
            out["extensions"] = [ext.to_dict() for ext in self.extensions]
        if self.default_process:
            out["buildpack-default-process-type"] = self.default_process
        return out

    def to_json(self) -> str:
        return _dump(self.to_dict())


@dataclass(frozen=True)
class ProjectSource:
    """``source`` of project-metadata.toml: type, version and metadata tables."""

    type: str = ""
    version: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.type:
            out["type"] = self.type
        if self.version:
            out["version"] = dict(self.version)
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass(frozen=True)
class ProjectMetadata:
    """``io.buildpacks.project.metadata``; ``{}`` when nothing is known about the source."""

    source: ProjectSource | None = None

    @classmethod
    def from_json(
        cls, raw: str | bytes | Mapping[str, Any], *, label: str = PROJECT_METADATA_LABEL
    ) -> ProjectMetadata:
        f = _load(raw, label, "project-metadata")
        source = f.sub("source") if f.table.get("source") is not None else None
        if source is None:
            return cls()
        return cls(
            ProjectSource(
                type=source.str("type", ""),
                version=source.table_of("version"),
                metadata=source.table_of("metadata"),
            )
        )

    def to_dict(self) -> dict[str, Any]:
        source = self.source.to_dict() if self.source else {}
        return {"source": source} if source else {}

    def to_json(self) -> str:
        return _dump(self.to_dict())


@dataclass(frozen=True)
class CacheMetadata(_BuildpackLayersLookup):
    """``io.buildpacks.lifecycle.cache.metadata``: what a cache holds (cache=true layers)."""

    sbom: str | None = None
    buildpacks: tuple[BuildpackLayersMetadata, ...] = ()

    @classmethod
    def from_json(
        cls, raw: str | bytes | Mapping[str, Any], *, label: str = CACHE_METADATA_LABEL
    ) -> CacheMetadata:
        f = _load(raw, label, "cache-metadata")
        return cls(sbom=_sha_of(f, "sbom"), buildpacks=_buildpacks(f))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"buildpacks": [bp.to_dict() for bp in self.buildpacks]}
        if self.sbom:
            out["sbom"] = _sha(self.sbom)
        return out

    def to_json(self) -> str:
        return _dump(self.to_dict())
