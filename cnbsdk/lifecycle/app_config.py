"""The app image's config, assembled as the lifecycle does (cnb-spec-digest §4.6): its
labels (``io.buildpacks.lifecycle.metadata``, ``.build.metadata``, ``.project.metadata`` and
the buildpacks' own), the Entrypoint of the default process, the env the launcher needs,
WorkingDir, ``created`` and the history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.workspace import PLATFORM_API, SANDBOX_PATHS
from cnbsdk.oci.models import HistoryEntry, ImageConfig, padded_history
from cnbsdk.oci.reference import DOCKER, as_reference
from cnbsdk.spec.labels import (
    BUILD_METADATA_LABEL,
    LIFECYCLE_METADATA_LABEL,
    PROJECT_METADATA_LABEL,
    BuildMetadata,
    BuildpackRef,
    LauncherMetadata,
    LifecycleMetadata,
    ProcessMetadata,
    ProjectMetadata,
)
from cnbsdk.spec.metadata_toml import MetadataToml

Log = Callable[[str], None]

LAUNCHER_PATH = "/cnb/lifecycle/launcher"
PROCESS_DIR = "/cnb/process"


def entrypoint(metadata: MetadataToml, wanted: str | None) -> tuple[tuple[str, ...], str]:
    """The Entrypoint and the line that says which process it runs; a wanted type
    that no buildpack defined is an error (before anything is tarred)."""
    types = [str(p.type) for p in metadata.processes]
    if wanted:
        if wanted not in types:
            available = ", ".join(repr(t) for t in types) or "none"
            raise BuildError(
                f"default process type {wanted!r} is not defined (process types: {available})",
                field="default-process",
            )
        chosen = wanted
    else:
        chosen = metadata.buildpack_default_process_type
        if chosen and chosen not in types:
            chosen = ""
    if not chosen:
        return (LAUNCHER_PATH,), "no default process type"
    return (f"{PROCESS_DIR}/{chosen}",), f"Setting default process type '{chosen}'"


def app_image_config(
    run_config: ImageConfig,
    metadata: MetadataToml,
    *,
    created: str,
    entrypoint: tuple[str, ...],
    lifecycle: LifecycleMetadata,
    project: ProjectMetadata,
    launcher_version: str | None,
    layers_created_by: Sequence[str],
    log: Log,
) -> ImageConfig:
    """The app image's config on the run image's: the lifecycle, build and project labels
    and the buildpacks' own, the Entrypoint, the env the launcher needs, WorkingDir,
    ``created`` and a history line for each layer added (``layers_created_by``)."""
    build = build_metadata(metadata, launcher_version)
    labels = dict(run_config.labels)
    for key, value in (
        (LIFECYCLE_METADATA_LABEL, lifecycle.to_json()),
        (BUILD_METADATA_LABEL, build.to_json()),
        (PROJECT_METADATA_LABEL, project.to_json()),
    ):
        log(f"Adding label '{key}'")
        labels[key] = value
    for label in metadata.labels:  # in group order: a later buildpack wins
        labels[label.key] = label.value
    run_path = run_config.env_dict().get("PATH", "")
    path = ":".join(p for p in (PROCESS_DIR, "/cnb/lifecycle", run_path) if p)
    config = run_config.with_env(
        CNB_LAYERS_DIR=SANDBOX_PATHS.layers,
        CNB_APP_DIR=SANDBOX_PATHS.app,
        CNB_PLATFORM_API=PLATFORM_API,
        CNB_DEPRECATION_MODE="quiet",
        PATH=path,
    )
    base_history = padded_history(run_config)  # one entry per layer: ours line up
    history = base_history + tuple(
        HistoryEntry(created=created, created_by=created_by) for created_by in layers_created_by
    )
    return replace(
        config,
        entrypoint=entrypoint,
        cmd=(),
        working_dir=SANDBOX_PATHS.app,
        labels=labels,
        created=created,
        history=history,
    )


def run_image_reference(run_image: str, digest: str) -> str:
    """``runImage.reference``: a digest reference for a registry image, else the manifest
    digest (the image's identity in a layout, archive or the store)."""
    ref = as_reference(run_image)
    return f"{ref.name}@{digest}" if ref.transport == DOCKER else digest


def stack_run_image(image: str, mirrors: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"image": image}
    if mirrors:
        out["mirrors"] = list(mirrors)
    return out


def build_metadata(metadata: MetadataToml, launcher_version: str | None) -> BuildMetadata:
    if launcher_version is None:
        try:
            from cnbsdk.lifecycle.launcher import LAUNCHER_VERSION

            launcher_version = LAUNCHER_VERSION
        except ImportError:  # pragma: no cover - the launcher package ships with cnbsdk
            launcher_version = ""
    return BuildMetadata(
        buildpacks=tuple(
            BuildpackRef(str(bp.id), str(bp.version), bp.homepage) for bp in metadata.buildpacks
        ),
        processes=tuple(
            ProcessMetadata(
                type=str(p.type),
                command=tuple(p.command),
                args=tuple(p.args),
                direct=p.direct,
                buildpack_id=str(p.buildpack_id),
                working_dir=p.working_dir,
                exec_env=tuple(p.exec_env),
            )
            for p in metadata.processes
        ),
        launcher=LauncherMetadata(version=launcher_version, repository="cnbsdk"),
        default_process=metadata.buildpack_default_process_type,
    )
