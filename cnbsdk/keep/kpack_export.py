"""``cnbsdk image export NAME --format kpack``: the kpack resources (``kpack.io/v1alpha2``)
that build the same image on a cluster when one machine is not enough: the ``Image``, and
the ``ClusterBuilder``, ``ClusterStore`` and ``ClusterStack`` its builder implies.

kpack pulls and pushes through registries only. An image, builder or stack image that lives
in cnbsdk's local store or an OCI layout is named at ``registry`` (``HOST[/PREFIX]``) in the
resources, and the ``cnbsdk copy`` commands that put it there are returned alongside. A
source kpack cannot fetch (a local directory or a blob file) is a one-line error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from cnbsdk.errors import CnbError
from cnbsdk.keep.model import BLOB, GIT, ImageSpec, KeepError
from cnbsdk.oci.reference import DOCKER, ImageRef, parse_reference

API_VERSION = "kpack.io/v1alpha2"


@dataclass
class KpackExport:
    resources: list[dict[str, Any]]
    copies: list[tuple[str, str]] = field(default_factory=list)  # (from, to) to push first


@dataclass(frozen=True)
class StackImages:
    id: str
    build_image: str
    run_image: str


def export_kpack(
    spec: ImageSpec,
    *,
    builder: str,
    order: list[dict[str, Any]],
    stack: StackImages,
    registry: str = "",
    namespace: str = "default",
) -> KpackExport:
    """The four resources for ``spec`` built with ``builder`` (its ``order`` and ``stack``)."""
    copies: list[tuple[str, str]] = []

    def at_registry(reference: str, what: str, *, push: bool = True) -> str:
        try:
            ref = parse_reference(reference)
        except CnbError as error:
            raise KeepError(f"{what}: {error}") from None
        if ref.transport == DOCKER and ref.registry:
            return _plain(ref)
        if not registry:
            raise KeepError(
                f"{what} {reference} is not in a registry, and kpack reads and writes only "
                "registries: give --registry HOST[/PREFIX] to name where it goes"
            )
        mapped = f"{registry.rstrip('/')}/{_repository(ref)}:{ref.tag_or_default}"
        if push:
            copies.append((reference, mapped))
        return mapped

    base = _resource_name(builder)
    source = _source(spec)
    tag = at_registry(spec.tag, "the image's tag", push=False)
    additional = [at_registry(t, "the additional tag", push=False) for t in spec.additional_tags]
    builder_image = at_registry(builder, "the builder")
    builder_tag = at_registry(builder, "the builder", push=False)
    image: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Image",
        "metadata": {"name": spec.name, "namespace": namespace},
        "spec": {
            "tag": tag,
            "builder": {"kind": "ClusterBuilder", "name": base},
            "serviceAccountName": "default",
            "source": source,
            "successBuildHistoryLimit": spec.success_history_limit,
            "failedBuildHistoryLimit": spec.failed_history_limit,
        },
    }
    if additional:
        image["spec"]["additionalTags"] = additional
    if spec.env:
        image["spec"]["build"] = {"env": [{"name": k, "value": v} for k, v in spec.env]}
    cluster_stack = {
        "apiVersion": API_VERSION,
        "kind": "ClusterStack",
        "metadata": {"name": base},
        "spec": {
            "id": stack.id or "io.buildpacks.stacks.any",
            "buildImage": {"image": at_registry(stack.build_image, "the build image")},
            "runImage": {"image": at_registry(stack.run_image, "the run image")},
        },
    }
    cluster_store = {
        "apiVersion": API_VERSION,
        "kind": "ClusterStore",
        # A whole builder image is a valid store source: kpack reads the buildpacks from
        # its io.buildpacks.buildpack.layers label.
        "metadata": {"name": base},
        "spec": {"sources": [{"image": builder_image}]},
    }
    kpack_builder = _with_suffix(builder_tag, "-kpack")
    cluster_builder = {
        "apiVersion": API_VERSION,
        "kind": "ClusterBuilder",
        "metadata": {"name": base},
        "spec": {
            "tag": kpack_builder,
            "stack": {"kind": "ClusterStack", "name": base},
            "store": {"kind": "ClusterStore", "name": base},
            "serviceAccountRef": {"name": "default", "namespace": namespace},
            "order": order,
        },
    }
    unique = list(dict.fromkeys(copies))
    return KpackExport([cluster_stack, cluster_store, cluster_builder, image], unique)


def builder_order(groups: Any) -> list[dict[str, Any]]:
    """A builder's order (``spec.order.OrderGroup``s) as kpack's ``order[].group[]``."""
    order = []
    for group in groups:
        entries = []
        for entry in group.group:
            item: dict[str, Any] = {"id": str(entry.id)}
            if entry.version:
                item["version"] = str(entry.version)
            if entry.optional:
                item["optional"] = True
            entries.append(item)
        order.append({"group": entries})
    return order


def _source(spec: ImageSpec) -> dict[str, Any]:
    source = spec.source
    if source.kind == GIT:
        if not re.match(r"^(https?|ssh|git)://|^[\w.-]+@[\w.-]+:", source.url):
            raise KeepError(
                f"the Git URL {source.url} is only reachable from this machine: a cluster "
                "needs an http(s), ssh or git URL (image patch --git URL)"
            )
        out: dict[str, Any] = {"git": {"url": source.url, "revision": source.revision}}
    elif source.kind == BLOB and "://" in source.url:
        out = {"blob": {"url": source.url}}
    else:
        raise KeepError(
            f"the source ({source.describe()}) is on this machine: kpack needs a Git URL or "
            "a blob URL (image patch --git URL or --blob URL)"
        )
    if source.sub_path:
        out["subPath"] = source.sub_path
    return out


def _plain(ref: ImageRef) -> str:
    text = f"{ref.registry}/{ref.repository}:{ref.tag_or_default}"
    return f"{text}@{ref.digest}" if ref.digest else text


def _repository(ref: ImageRef) -> str:
    if ref.repository:
        return ref.repository
    name = PurePosixPath(ref.path).name.lower()
    return re.sub(r"[^a-z0-9._-]+", "-", name).strip("-._") or "image"


def _with_suffix(reference: str, suffix: str) -> str:
    name, _, tag = reference.rpartition(":")
    return f"{name}{suffix}:{tag}"


def _resource_name(reference: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", reference.lower().rpartition("@")[0] or reference.lower())
    return text.strip("-")[-63:].strip("-") or "builder"
