"""The records the store keeps: an image (what to build, where to, with what) and a build
(why it ran, what it made). Plain data with ``to_json``/``from_json``; no I/O."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cnbsdk.errors import CnbError

GIT, LOCAL, BLOB = "git", "local", "blob"
SOURCE_KINDS = (GIT, LOCAL, BLOB)

QUEUED, BUILDING, SUCCESS, FAILURE = "queued", "building", "success", "failure"
ACTIVE = (QUEUED, BUILDING)

DEFAULT_HISTORY_LIMIT = 10
# Image names are Kubernetes resource names (RFC 1123 labels) so an image exports to kpack.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class KeepError(CnbError):
    """Bad input to an image record, or a store that cannot be used."""


def check_name(name: str) -> str:
    if len(name) > 63 or not _NAME.match(name):
        raise KeepError(
            f"image name {name!r} must be lowercase letters, digits and '-', starting and "
            "ending with a letter or digit, at most 63 characters (a Kubernetes name)"
        )
    return name


@dataclass(frozen=True)
class Source:
    """Where the app comes from: a Git repository at a branch, tag or commit; a local
    directory; or a blob (an archive file or URL). ``sub_path`` picks a directory in it."""

    kind: str
    url: str  # git URL, directory path or blob file/URL
    revision: str = ""  # git only: branch, tag or commit
    sub_path: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Source:
        return cls(
            kind=str(data["kind"]),
            url=str(data["url"]),
            revision=str(data.get("revision", "")),
            sub_path=str(data.get("sub_path", "")),
        )

    def describe(self) -> str:
        if self.kind == GIT:
            text = f"git {self.url} @ {self.revision}"
        elif self.kind == LOCAL:
            text = f"local directory {self.url}"
        else:
            text = f"blob {self.url}"
        return f"{text} (sub-path {self.sub_path})" if self.sub_path else text


@dataclass(frozen=True)
class Delivery:
    """What to call after each successful build, with the build record as JSON."""

    command: str = ""
    webhook: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class ImageSpec:
    """An image record: kpack's ``Image`` spec on one machine."""

    name: str
    tag: str  # the destination: any transport cnbsdk writes
    source: Source
    builder: str = ""  # '' = the default builder
    env: tuple[tuple[str, str], ...] = ()
    additional_tags: tuple[str, ...] = ()
    success_history_limit: int = DEFAULT_HISTORY_LIMIT
    failed_history_limit: int = DEFAULT_HISTORY_LIMIT
    delivery: Delivery = field(default_factory=Delivery)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tag": self.tag,
            "source": self.source.to_json(),
            "builder": self.builder,
            "env": [{"name": k, "value": v} for k, v in self.env],
            "additionalTags": list(self.additional_tags),
            "successBuildHistoryLimit": self.success_history_limit,
            "failedBuildHistoryLimit": self.failed_history_limit,
            "delivery": self.delivery.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageSpec:
        delivery = data.get("delivery") or {}
        return cls(
            name=str(data["name"]),
            tag=str(data["tag"]),
            source=Source.from_json(data["source"]),
            builder=str(data.get("builder", "")),
            env=tuple((str(e["name"]), str(e["value"])) for e in data.get("env", [])),
            additional_tags=tuple(str(t) for t in data.get("additionalTags", [])),
            success_history_limit=int(data.get("successBuildHistoryLimit", DEFAULT_HISTORY_LIMIT)),
            failed_history_limit=int(data.get("failedBuildHistoryLimit", DEFAULT_HISTORY_LIMIT)),
            delivery=Delivery(
                command=str(delivery.get("command", "")), webhook=str(delivery.get("webhook", ""))
            ),
        )

    def config(self) -> dict[str, Any]:
        """What kpack's CONFIG reason compares: the build env and the source settings
        (the Git revision is COMMIT's business, not CONFIG's)."""
        source = {"kind": self.source.kind, "url": self.source.url}
        if self.source.sub_path:
            source["subPath"] = self.source.sub_path
        return {"env": [{"name": k, "value": v} for k, v in self.env], "source": source}

    def with_changes(self, **changes: Any) -> ImageSpec:
        return replace(self, **changes)


@dataclass(frozen=True)
class Change:
    """One reason for a build, with the old and the new value (kpack's buildChanges)."""

    reason: str
    old: Any
    new: Any
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {"reason": self.reason, "old": self.old, "new": self.new}
        if self.message:
            data["message"] = self.message
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(
            reason=str(data["reason"]),
            old=data.get("old"),
            new=data.get("new"),
            message=str(data.get("message", "")),
        )


@dataclass(frozen=True)
class Inputs:
    """What a build is made from, resolved now: the source revision (a Git commit, or the
    content digest of a directory or blob), the config, and the builder's current state."""

    config: dict[str, Any]
    source_kind: str
    revision: str
    builder: str  # the reference used
    builder_digest: str
    buildpacks: tuple[str, ...]  # id@version of every buildpack in the builder
    run_image: str  # the builder's run image, name@digest
    stack_id: str
    lifecycle_version: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["buildpacks"] = list(self.buildpacks)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Inputs:
        return cls(
            config=dict(data.get("config", {})),
            source_kind=str(data.get("source_kind", "")),
            revision=str(data.get("revision", "")),
            builder=str(data.get("builder", "")),
            builder_digest=str(data.get("builder_digest", "")),
            buildpacks=tuple(str(b) for b in data.get("buildpacks", [])),
            run_image=str(data.get("run_image", "")),
            stack_id=str(data.get("stack_id", "")),
            lifecycle_version=str(data.get("lifecycle_version", "")),
        )


@dataclass(frozen=True)
class BuildResult:
    """What a successful build made (kpack's Build status)."""

    digest: str = ""
    image: str = ""  # the destination tag, @digest
    tags: tuple[str, ...] = ()
    run_image: str = ""  # name@digest the image is based on
    buildpacks: tuple[str, ...] = ()  # id@version the build used
    lifecycle_version: str = ""
    stack_id: str = ""
    seconds: float = 0.0
    delivery: str = ""  # what the delivery hook said

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        data["buildpacks"] = list(self.buildpacks)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildResult:
        return cls(
            digest=str(data.get("digest", "")),
            image=str(data.get("image", "")),
            tags=tuple(str(t) for t in data.get("tags", [])),
            run_image=str(data.get("run_image", "")),
            buildpacks=tuple(str(b) for b in data.get("buildpacks", [])),
            lifecycle_version=str(data.get("lifecycle_version", "")),
            stack_id=str(data.get("stack_id", "")),
            seconds=float(data.get("seconds", 0.0)),
            delivery=str(data.get("delivery", "")),
        )


@dataclass(frozen=True)
class BuildRecord:
    """One build of an image: number, reasons, status, times, inputs and result."""

    id: int
    image: str
    number: int
    status: str
    kind: str  # "build" or "rebase"
    changes: tuple[Change, ...]
    priority: int
    inputs: Inputs
    result: BuildResult
    status_message: str = ""
    queued_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    pid: int = 0

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(c.reason for c in self.changes)

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCESS

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "number": self.number,
            "status": self.status,
            "kind": self.kind,
            "reasons": list(self.reasons),
            "changes": [c.to_json() for c in self.changes],
            "priority": self.priority,
            "statusMessage": self.status_message,
            "queuedAt": self.queued_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "inputs": self.inputs.to_json(),
            "result": self.result.to_json(),
        }
