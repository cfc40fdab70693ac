"""Image configs, manifests and indexes as plain models: parsed from and written to JSON,
with no I/O. Written in OCI media types; Docker schema 2 is read as well. Choosing from an
index picks the running platform (``linux/amd64`` on this machine).
"""

from __future__ import annotations

import json
import platform as _platform
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import Descriptor, Platform
from cnbsdk.oci.layer_tar import NORMALIZED_TIME

_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def running_platform() -> Platform:
    """The platform images are selected for: this machine's (``linux/amd64`` here)."""
    machine = _platform.machine().lower()
    return Platform("linux", _ARCHES.get(machine, machine))


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ImageError(f"{what} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ImageError(f"{what} must be a JSON object")
    if _too_deep(data):
        raise ImageError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
    return data


# No manifest, index or config nests deeper; past it, printing or walking a value recurses.
MAX_JSON_DEPTH = 100


def _too_deep(data: object) -> bool:
    pending: list[tuple[object, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                return True
            pending.extend((child, depth + 1) for child in children)
    return False


def _dump(data: Mapping[str, Any]) -> bytes:
    """Deterministic, compact JSON (key order as built)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageError(f"image config: {what} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of ``docker history``: what made a layer (or an empty step)."""

    created: str = ""
    created_by: str = ""
    comment: str = ""
    author: str = ""
    empty_layer: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HistoryEntry:
        return cls(
            created=str(data.get("created", "") or ""),
            created_by=str(data.get("created_by", "") or ""),
            comment=str(data.get("comment", "") or ""),
            author=str(data.get("author", "") or ""),
            empty_layer=bool(data.get("empty_layer", False)),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (
            ("created", self.created),
            ("created_by", self.created_by),
            ("author", self.author),
            ("comment", self.comment),
        ):
            if value:
                out[key] = value
        if self.empty_layer:
            out["empty_layer"] = True
        return out


# Keys of the "config" object modelled as fields; others are kept in ``extra_config``.
_CONFIG_KEYS = ("User", "Env", "Entrypoint", "Cmd", "WorkingDir", "Labels")
_TOP_KEYS = ("created", "architecture", "os", "variant", "config", "rootfs", "history")


@dataclass(frozen=True)
class ImageConfig:
    """The image configuration (OCI image-spec config.md; Docker's is the same JSON).

    ``extra`` and ``extra_config`` keep fields not modelled here (author, ExposedPorts,
    Volumes, StopSignal...) so a read-modify-write loses nothing.
    """

    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""
    env: tuple[str, ...] = ()
    user: str = ""
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    created: str = NORMALIZED_TIME
    history: tuple[HistoryEntry, ...] = ()
    diff_ids: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    extra_config: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: bytes | Mapping[str, Any]) -> ImageConfig:
        data = dict(raw) if isinstance(raw, Mapping) else _json_object(raw, "image config")
        config = data.get("config") or {}
        if not isinstance(config, dict):
            raise ImageError("image config: config must be an object")
        labels = config.get("Labels") or {}
        if not isinstance(labels, dict):
            raise ImageError("image config: config.Labels must be an object")
        rootfs = data.get("rootfs") or {}
        history = data.get("history") or []
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise ImageError("image config: history must be a list of objects")
        entrypoint = config.get("Entrypoint")
        cmd = config.get("Cmd")
        return cls(
            os=str(data.get("os", "") or ""),
            architecture=str(data.get("architecture", "") or ""),
            variant=str(data.get("variant", "") or ""),
            env=_strings(config.get("Env"), "config.Env"),
            user=str(config.get("User", "") or ""),
            entrypoint=None if entrypoint is None else _strings(entrypoint, "config.Entrypoint"),
            cmd=None if cmd is None else _strings(cmd, "config.Cmd"),
            working_dir=str(config.get("WorkingDir", "") or ""),
            labels={str(k): str(v) for k, v in labels.items()},
            created=str(data.get("created", "") or ""),
            history=tuple(HistoryEntry.from_json(h) for h in history),
            diff_ids=_strings(
                rootfs.get("diff_ids") if isinstance(rootfs, dict) else None, "rootfs.diff_ids"
            ),
            extra={k: v for k, v in data.items() if k not in _TOP_KEYS},
            extra_config={k: v for k, v in config.items() if k not in _CONFIG_KEYS},
        )

    def to_json(self) -> bytes:
        config: dict[str, Any] = {}
        if self.user:
            config["User"] = self.user
        if self.env:
            config["Env"] = list(self.env)
        if self.entrypoint is not None:
            config["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            config["Cmd"] = list(self.cmd)
        if self.working_dir:
            config["WorkingDir"] = self.working_dir
        if self.labels:
            config["Labels"] = dict(sorted(self.labels.items()))
        config.update(self.extra_config)
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        out.update(self.extra)
        out["architecture"] = self.architecture
        out["os"] = self.os
        if self.variant:
            out["variant"] = self.variant
        out["config"] = config
        out["rootfs"] = {"type": "layers", "diff_ids": list(self.diff_ids)}
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        return _dump(out)

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant)

    def env_dict(self) -> dict[str, str]:
        """Env as a mapping (the last definition of a name wins)."""
        out: dict[str, str] = {}
        for item in self.env:
            name, _, value = item.partition("=")
            out[name] = value
        return out

    def with_env(self, **values: str) -> ImageConfig:
        """A copy with these variables set (replacing earlier definitions in place)."""
        current = self.env_dict()
        current.update(values)
        return replace(self, env=tuple(f"{k}={v}" for k, v in current.items()))


@dataclass(frozen=True)
class Manifest:
    """An image manifest (OCI, or Docker schema 2 when ``media_type`` says so)."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mt.OCI_MANIFEST
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: bytes, media_type: str = "") -> Manifest:
        data = _json_object(raw, "manifest")
        kind = data.get("mediaType") or media_type or mt.OCI_MANIFEST
        if data.get("schemaVersion") != 2:
            raise ImageError(
                f"unsupported manifest schemaVersion {data.get('schemaVersion')!r} (only 2)",
                field="schemaVersion",
            )
        if kind not in mt.MANIFESTS:
            raise ImageError(f"not an image manifest: media type {kind!r}", field="mediaType")
        layers = data.get("layers") or []
        if not isinstance(layers, list):
            raise ImageError("manifest layers must be a list", field="layers")
        return cls(
            config=Descriptor.from_json(data.get("config"), where="config"),
            layers=tuple(
                Descriptor.from_json(layer, where=f"layers[{i}]") for i, layer in enumerate(layers)
            ),
            media_type=kind,
            annotations={str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
        )

    def to_json(self) -> bytes:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return _dump(out)

    def as_oci(self) -> Manifest:
        """The same manifest in OCI media types (blobs and digests unchanged)."""

        def conv(d: Descriptor) -> Descriptor:
            return replace(d, media_type=mt.DOCKER_TO_OCI.get(d.media_type, d.media_type))

        return Manifest(
            config=conv(self.config),
            layers=tuple(conv(d) for d in self.layers),
            media_type=mt.OCI_MANIFEST,
            annotations=self.annotations,
        )


@dataclass(frozen=True)
class Index:
    """An OCI image index or Docker manifest list."""

    manifests: tuple[Descriptor, ...]
    media_type: str = mt.OCI_INDEX
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: bytes, media_type: str = "") -> Index:
        data = _json_object(raw, "index")
        kind = data.get("mediaType") or media_type or mt.OCI_INDEX
        manifests = data.get("manifests") or []
        if not isinstance(manifests, list):
            raise ImageError("index manifests must be a list", field="manifests")
        return cls(
            manifests=tuple(
                Descriptor.from_json(m, where=f"manifests[{i}]") for i, m in enumerate(manifests)
            ),
            media_type=kind,
            annotations={str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
        )

    def to_json(self) -> bytes:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        out["manifests"] = [m.to_json() for m in self.manifests]
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return _dump(out)

    def select(self, wanted: Platform | None = None) -> Descriptor:
        """The manifest for ``wanted`` (default: the running platform)."""
        wanted = wanted or running_platform()
        candidates = [
            m
            for m in self.manifests
            if m.platform is not None
            and m.platform.os == wanted.os
            and m.platform.architecture == wanted.architecture
            and (not wanted.variant or m.platform.variant == wanted.variant)
        ]
        if not candidates:
            if len(self.manifests) == 1 and self.manifests[0].platform is None:
                return self.manifests[0]
            found = ", ".join(str(m.platform) for m in self.manifests if m.platform) or "none"
            raise ImageError(f"no image for {wanted} in the index (platforms: {found})")
        return candidates[0]


def detect_media_type(raw: bytes, declared: str = "") -> str:
    """A manifest's media type: its own ``mediaType`` field, else the declared one, else a
    guess from its shape (an OCI layout may omit the field)."""
    data = _json_object(raw, "manifest")
    kind = data.get("mediaType") or declared
    if kind:
        return str(kind)
    return mt.OCI_INDEX if "manifests" in data else mt.OCI_MANIFEST


def padded_history(config: ImageConfig, layer_count: int | None = None) -> tuple[HistoryEntry, ...]:
    """The history with one entry per layer (``layer_count``, default: the config's
    diff_ids): empty entries are appended where it has fewer (docker history needs one per
    layer, and the lifecycle's own entries must line up with their layers)."""
    count = len(config.diff_ids) if layer_count is None else layer_count
    with_layer = sum(1 for h in config.history if not h.empty_layer)
    missing = max(0, count - with_layer)
    return config.history + tuple(HistoryEntry(created=config.created) for _ in range(missing))
