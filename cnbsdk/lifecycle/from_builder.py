"""A build's inputs taken from a builder image (``cnbsdk build --builder REF``): the
buildpacks, order, operator env, run images and launcher, read from the builder's own
files as the reference lifecycle reads them inside it (``/cnb/buildpacks``,
``/cnb/order.toml``, ``/cnb/build-config/env``, ``/cnb/run.toml`` or ``/cnb/stack.toml``,
``/cnb/lifecycle/launcher``), the labels being the fallback. The builder is unpacked once
per digest (``rootfs.unpacked_rootfs``) and is the build image itself.

Which builder: ``--builder``, else project.toml's ``[io.buildpacks] builder``, else (when no
buildpacks are given at all) the configured default or ``cnbsdk/builder:bookworm``, made in
the local store on first use and remade when the stack or the plugins change
(``distribution.default_builder``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.distribution.builder import LifecycleBundle, cnbsdk_lifecycle
from cnbsdk.distribution.builder_inspect import builder_info, is_builder
from cnbsdk.distribution.default_builder import (
    DEFAULT_BUILDER,
    default_builder_ref,
    ensure_default_builder,
)
from cnbsdk.distribution.package_cache import stable_digest
from cnbsdk.errors import BuildError, CnbError
from cnbsdk.lifecycle import buildpack_files
from cnbsdk.lifecycle.launcher import LAUNCHER_VERSION, launcher_path
from cnbsdk.lifecycle.order import LocatedBuildpack
from cnbsdk.lifecycle.run_cache import held_build_rootfs
from cnbsdk.lifecycle.workspace import PLATFORM_API, Workspace
from cnbsdk.oci.models import ImageConfig
from cnbsdk.oci.open import open_source
from cnbsdk.oci.reference import parse_reference
from cnbsdk.progress import ProgressFactory, silent
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.order import OrderGroup
from cnbsdk.spec.platform_files import OrderToml, RunImage, RunToml, StackToml

Log = Callable[[str], None]


def own_lifecycle(log: Log = lambda line: None) -> LifecycleBundle:
    """cnbsdk's lifecycle part of a builder: its launcher (compiled once) and its APIs."""
    return cnbsdk_lifecycle(launcher_path(log), platform_api=PLATFORM_API, version=LAUNCHER_VERSION)


def choose_builder(given: str | None, project_builder: str, *, has_buildpacks: bool) -> str | None:
    """``--builder`` > project.toml > (no buildpacks given) configured default > built-in."""
    if given:
        return given
    if project_builder:
        return project_builder
    if has_buildpacks:
        return None
    return default_builder_ref()


@dataclass(frozen=True)
class BuilderInputs:
    """What a build takes from a builder."""

    reference: str
    rootfs: Path
    config: ImageConfig
    order: tuple[OrderGroup, ...]
    run_images: tuple[RunImage, ...]
    launcher: Path | None

    @property
    def buildpacks_dir(self) -> Path:
        return self.rootfs / "cnb" / "buildpacks"

    @property
    def build_config_env(self) -> Path:
        return self.rootfs / "cnb" / "build-config" / "env"


def open_builder(
    reference: str, *, log: Log = print, progress: ProgressFactory = silent
) -> BuilderInputs:
    """Unpack the builder (making the default one first when it is the one asked for)."""
    if reference == DEFAULT_BUILDER:
        ensure_default(log, progress)
    try:
        unpacked = held_build_rootfs(reference)
    except CnbError as error:
        raise BuildError(f"cannot read the builder {reference}: {error}") from None
    config = unpacked.config
    if not is_builder(config):
        raise BuildError(
            f"{reference} is not a builder (it has no io.buildpacks.builder.metadata label)"
        )
    info = builder_info(reference, unpacked.digest, config)
    cnb = unpacked.rootfs / "cnb"
    # The builder's files, read through no link (one could point at a host file).
    root = unpacked.rootfs
    order = (
        buildpack_files.read_model(OrderToml, cnb / "order.toml", root=root).order
        if (cnb / "order.toml").is_file()
        else info.order
    )
    run_images = info.run_images
    if (cnb / "run.toml").is_file():
        run_images = buildpack_files.read_model(RunToml, cnb / "run.toml", root=root).images or (
            run_images
        )
    elif (cnb / "stack.toml").is_file():
        stack = buildpack_files.read_model(StackToml, cnb / "stack.toml", root=root).run_image
        run_images = (stack,) if stack is not None else run_images
    launcher = cnb / "lifecycle" / "launcher"
    log(f"Using builder {reference} ({unpacked.digest[:19]})")
    return BuilderInputs(
        reference=reference,
        rootfs=unpacked.rootfs,
        config=config,
        order=order,
        run_images=run_images,
        launcher=launcher if launcher.is_file() else None,
    )


def ensure_default(log: Log, progress: ProgressFactory = silent) -> None:
    """Make the default builder from the default stack when it is missing or outdated."""
    from cnbsdk.lifecycle.default_stack import default_stack

    stack = default_stack(log=log, progress=progress)
    ensure_default_builder(
        build_image=stack.build_image,
        run_image=stack.run_image,
        stack_lock=stack.lock_file,
        lifecycle=own_lifecycle(log),
        log=log,
    )


def place_builder_buildpacks(inputs: BuilderInputs, workspace: Workspace) -> list[LocatedBuildpack]:
    """Copy the builder's buildpacks to ``<buildpacks>/<escaped id>/<version>`` (copied, not
    linked: the sandbox sees only the workspace) and read them. Each gets the digest of its
    content in the unpacked builder (cached per digest, never changed: a stat walk after the
    first build), which keys its compiled ``lib/`` (``bytecode_cache``)."""
    located = []
    for descriptor_path in sorted(inputs.buildpacks_dir.glob("*/*/buildpack.toml")):
        source = descriptor_path.parent
        target = workspace.buildpacks / source.parent.name / source.name
        shutil.copytree(source, target, symlinks=True)
        descriptor = BuildpackDescriptor.read(target / "buildpack.toml")
        located.append(LocatedBuildpack(descriptor, target, stable_digest(source)))
    return located


def copy_build_config(inputs: BuilderInputs, workspace: Workspace) -> int:
    """The operator env ``/cnb/build-config/env`` into the workspace; returns how many files."""
    source = inputs.build_config_env
    if not source.is_dir():
        return 0
    target = workspace.build_config / "env"
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.iterdir()):
        if path.is_file():
            shutil.copyfile(path, target / path.name)
            count += 1
    return count


def resolve_run_image(
    run_images: Sequence[RunImage], app_image: str, log: Log = print
) -> tuple[str, tuple[str, ...]] | None:
    """platform.md §Run Image Resolution: a readable image or mirror on the app image's
    registry, else the first readable candidate; with the mirrors of the entry it came from.
    None when no candidate can be read."""
    app_registry = _registry(app_image)
    candidates = [(c, entry) for entry in run_images for c in entry.candidates]
    # Candidates on the app image's registry first; each is probed at most once, in order.
    ordered = [pair for pair in candidates if app_registry and _registry(pair[0]) == app_registry]
    ordered += [pair for pair in candidates if pair not in ordered]
    for candidate, entry in ordered:
        if _readable(candidate):
            return candidate, entry.mirrors
        log(f"Run image {candidate} cannot be read here; trying the next one")
    return None


def _registry(reference: str) -> str:
    try:
        return parse_reference(reference).registry
    except CnbError:
        return ""


def _readable(reference: str) -> bool:
    try:
        source = open_source(reference)
        try:
            source.get_manifest()
        finally:
            source.close()
    except CnbError:
        return False
    return True
