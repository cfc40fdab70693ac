"""The whole build in one process, like the lifecycle's ``creator`` (platform.md §Operations):
ANALYZING, DETECTING, RESTORING, BUILDING, EXPORTING, with buildpacks run in the build
image's root filesystem under bubblewrap.

``create`` lays out a workspace in a temporary directory (the app, ``<platform>/env``, the
buildpacks at ``<buildpacks>/<escaped id>/<version>``), then drives the phase modules. It
never leaves anything half-written: the cache is written to a staging area and swapped in
only after the image is committed, the image destination is committed last, and SIGINT or
SIGTERM abort the build the same way an error does (cache staging dropped, destination not
committed, workspace removed). A SIGKILL cannot be caught, but leaves the same state: the
previous image and the committed cache are only ever replaced atomically; its workspace is
removed by the next build (``scratch.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from cnbsdk.cache_dir import cache_root
from cnbsdk.deps.deliver import SHARED_CACHE_VARIABLE
from cnbsdk.distribution.buildpack_source import buildpackage_reference, is_plain_buildpack_dir
from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.analyze import read_previous_image
from cnbsdk.lifecycle.app_source import AppSource, path_filter, prepare_app
from cnbsdk.lifecycle.build import BuildOutcome, build
from cnbsdk.lifecycle.build_env import filtered_base_env
from cnbsdk.lifecycle.cache import VolumeCache
from cnbsdk.lifecycle.cache_trees import park_cache_layers
from cnbsdk.lifecycle.detect import DetectionFailed, DetectReport, SandboxDetectRunner, detect
from cnbsdk.lifecycle.export import ExportReport, export
from cnbsdk.lifecycle.from_builder import (
    BuilderInputs,
    choose_builder,
    copy_build_config,
    open_builder,
    place_builder_buildpacks,
    resolve_run_image,
)
from cnbsdk.lifecycle.launcher import launcher_path
from cnbsdk.lifecycle.layer_fingerprint import workspace_index
from cnbsdk.lifecycle.order import BuildpackIndex, LocatedBuildpack, expand_order
from cnbsdk.lifecycle.project import (
    BuildpackRequest,
    ProjectSettings,
    check_env_name,
    load_project,
    parse_env_assignment,
    read_env_file,
    write_platform_env,
)
from cnbsdk.lifecycle.restore import restore
from cnbsdk.lifecycle.rootfs import numeric_id
from cnbsdk.lifecycle.run_cache import held_build_rootfs
from cnbsdk.lifecycle.sandbox import SANDBOX_DEPENDENCY_CACHE, BubblewrapRunner, HostRunner
from cnbsdk.lifecycle.scratch import build_scratch_dir
from cnbsdk.lifecycle.signals import signals_handled
from cnbsdk.lifecycle.workspace import Workspace
from cnbsdk.oci.created import resolve_created
from cnbsdk.oci.digest import tree_digest
from cnbsdk.oci.models import ImageConfig
from cnbsdk.oci.open import read_manifest_and_config
from cnbsdk.oci.reference import parse_reference
from cnbsdk.progress import ProgressFactory, silent
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.ids import BuildpackId
from cnbsdk.spec.labels import ProjectMetadata
from cnbsdk.spec.order import GroupEntry, OrderGroup
from cnbsdk.spec.target import Distro, Target
from cnbsdk.spec.toml_file import read_toml
from cnbsdk.spec.unknown_keys import unknown_keys

if TYPE_CHECKING:
    from cnbsdk.distribution.buildpack_dir import PackagedBuildpack

Log = Callable[[str], None]

NETWORKS = ("default", "none")


@dataclass(frozen=True)
class BuildOptions:
    """What ``cnbsdk build`` was asked for (docs/commands.md, ``cnbsdk build``)."""

    app: Path
    image: str = ""
    buildpacks: tuple[str, ...] = ()
    builder: str | None = None
    build_image: str | None = None
    run_image: str | None = None
    env: tuple[str, ...] = ()
    env_files: tuple[Path, ...] = ()
    bindings: tuple[Path, ...] = ()  # servicebinding.io directories for buildpacks
    cache_dir: Path | None = None
    clear_cache: bool = False
    previous_image: str | None = None
    network: str = "default"
    default_process: str | None = None
    creation_time: str | None = None
    sbom_output_dir: Path | None = None
    sandbox: bool = True
    descriptor: Path | None = None
    exec_env: str = ""
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass(frozen=True)
class PhaseTiming:
    phase: str
    seconds: float


@dataclass(frozen=True)
class CreateResult:
    """A built image: where, its digest, the group that built it and the time per phase."""

    image: str
    digest: str
    group: tuple[str, ...]
    timings: tuple[PhaseTiming, ...]
    export: ExportReport | None = None
    detect: DetectReport | None = None
    build: BuildOutcome | None = None  # each buildpack's outputs and printed lines

    @property
    def total_seconds(self) -> float:
        return sum(t.seconds for t in self.timings)


class BuildInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; the build was abandoned and nothing was committed.

    Not a ``CnbError``: code that turns a buildpack's error into a verdict (detect) must
    not swallow it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(
            f"build interrupted by {name}: the image and the cache were left as they were"
        )

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


# -- the prepared workspace ----------------------------------------------------------------


@dataclass
class Prepared:
    """Everything detect and the later phases need, laid out in ``workspace``."""

    workspace: Workspace
    app: AppSource
    project: ProjectSettings
    index: BuildpackIndex
    order: tuple[OrderGroup, ...]
    build_image: str
    run_image: str
    build_config: ImageConfig
    uid: int
    gid: int
    target: Target
    runner: BubblewrapRunner | HostRunner
    base_env: dict[str, str]
    run_image_mirrors: tuple[str, ...] = ()
    launcher: Path | None = None  # the builder's /cnb/lifecycle/launcher, if it has one


def create(
    options: BuildOptions, *, log: Log = print, progress: ProgressFactory = silent
) -> CreateResult:
    """Build ``options.app`` into ``options.image`` (see the module docstring)."""
    timer = PhaseTimer(log)
    if not options.image:
        raise BuildError("give the image to build (--image REF)")
    image_ref = parse_reference(options.image)
    # Checked before anything runs: a typo must not cost a whole build.
    created = resolve_created(options.creation_time, options.environ)
    with _interrupts_raise(), build_scratch_dir() as scratch:
        prepared = prepare(options, scratch, log=log, progress=progress)
        launcher = prepared.launcher or launcher_path(log)
        cache_dir = options.cache_dir or default_cache_dir(str(image_ref))
        with VolumeCache(cache_dir, warn=lambda line: log(f"Warning: {line}")) as cache:
            # the app copy, buildpacks placed, stack/builder/launcher checks, rootfs unpack
            timer.lap("PREPARING")
            with timer.phase("ANALYZING"):
                previous_ref = options.previous_image or str(image_ref)
                previous = read_previous_image(
                    previous_ref, warn=lambda line: log(f"Warning: {line}")
                )
                if previous is None:
                    log(f'Image with name "{previous_ref}" not found')
                else:
                    state = "with" if previous.metadata is not None else "without"
                    log(
                        f'Analyzing image "{previous_ref}" ({len(previous.diff_ids)} layers,'
                        f" {state} lifecycle metadata)"
                    )

            with timer.phase("DETECTING"):
                report = run_detect(prepared)
                if not report.passed:
                    raise DetectionFailed(report)
                plan = report.plan
                for element in plan.group:
                    log(f"{element.id} {element.version}")
                report.group_toml().write(prepared.workspace.layers / "group.toml")
                report.platform_plan().write(prepared.workspace.layers / "plan.toml")

            with timer.phase("RESTORING"):
                # --clear-cache: as pack's creator -skip-restore, nothing is restored (the
                # previous image's layers are still reused at export); the cache is replaced
                # only if this build succeeds.
                if options.clear_cache:
                    log("Skipping buildpack layer analysis and restore (--clear-cache)")
                restore(
                    plan.group,
                    prepared.workspace.layers,
                    previous=None if options.clear_cache or previous is None else previous.metadata,
                    cache=None if options.clear_cache else cache,
                    # Restored files belong to whoever the runner runs buildpacks as on the
                    # host: the sandbox maps the invoking user to the CNB user.
                    uid=os.getuid(),
                    gid=os.getgid(),
                    log=log,
                    fingerprints=workspace_index(prepared.workspace.root),
                    image_ids=(prepared.uid, prepared.gid),
                )

            with timer.phase("BUILDING"):
                outcome = build(
                    plan,
                    prepared.runner,
                    prepared.workspace,
                    base_env=prepared.base_env,
                    target=prepared.target,
                    exec_env=options.exec_env,
                    log=log,
                )

            with timer.phase("EXPORTING"):
                writer = cache.begin()
                try:
                    exported = export(
                        prepared.workspace,
                        outcome,
                        run_image=prepared.run_image,
                        run_image_mirrors=prepared.run_image_mirrors,
                        previous=previous,
                        image=options.image,
                        cache=writer,
                        launcher=launcher,
                        uid=prepared.uid,
                        gid=prepared.gid,
                        creation_time=created,
                        default_process=options.default_process,
                        project_metadata=ProjectMetadata.from_json(
                            prepared.project.source_metadata()
                        ),
                        log=log,
                        progress=progress,
                    )
                    if exported.cache_metadata is not None:
                        committed = writer.commit(exported.cache_metadata)
                        # the cached layers kept unpacked, for the next restore to move in
                        park_cache_layers(
                            cache.trees,
                            prepared.workspace.layers,
                            committed,
                            workspace_index(prepared.workspace.root),
                            uid=prepared.uid,
                            gid=prepared.gid,
                        )
                finally:
                    writer.abort()  # a no-op once committed
        if options.sbom_output_dir is not None:
            _copy_sboms(prepared.workspace.layers / "sbom", options.sbom_output_dir, log)
    timer.lap("CLEANING UP")  # the workspace removed (a copy of the app and every layer)
    log(f"Successfully built image '{options.image}'")
    return CreateResult(
        image=options.image,
        digest=exported.digest,
        group=tuple(f"{e.id}@{e.version}" for e in plan.group),
        timings=timer.timings(),
        export=exported,
        detect=report,
        build=outcome,
    )


def detect_only(
    options: BuildOptions, *, log: Log = print, progress: ProgressFactory = silent
) -> DetectReport:
    """Lay out the workspace and run only the detect phase; the report says everything."""
    with _interrupts_raise(), build_scratch_dir() as scratch:
        prepared = prepare(options, scratch, log=log, progress=progress, detect_only=True)
        return run_detect(prepared)


def prepare(
    options: BuildOptions,
    scratch: Path,
    *,
    log: Log,
    progress: ProgressFactory,
    detect_only: bool = False,
) -> Prepared:
    """The workspace: app, platform env, buildpacks and order; the build image and runner."""
    if options.network not in NETWORKS:
        raise BuildError(f"--network must be one of {', '.join(NETWORKS)}, not {options.network!r}")
    workspace = Workspace.create(scratch / "workspace")
    project = load_project(
        options.app, descriptor_path=options.descriptor, inline_dir=scratch / "inline", log=log
    )
    keep = path_filter(project.include, project.exclude)
    app = prepare_app(options.app, workspace.app, keep=keep)
    env = _platform_env(options, project)
    write_platform_env(workspace.platform, env)

    project_builder = project.descriptor.builder if project.descriptor is not None else ""
    builder_ref = choose_builder(
        options.builder, project_builder, has_buildpacks=bool(options.buildpacks or project.group)
    )
    mirrors: tuple[str, ...] = ()
    builder = open_builder(builder_ref, log=log, progress=progress) if builder_ref else None
    if builder is not None:
        index, order = place_buildpacks(
            options.buildpacks,
            project,
            workspace,
            scratch / "packaged",
            log,
            builder=place_builder_buildpacks(builder, workspace),
            builder_order=builder.order,
        )
        copy_build_config(builder, workspace)
        build_image, run_image, mirrors = _builder_images(options, builder, log, detect_only)
    else:
        index, order = place_buildpacks(
            options.buildpacks, project, workspace, scratch / "packaged", log
        )
        build_image, run_image = _images(options, log, progress, detect_only)
    _add_registry_env(index, workspace, env, log)
    _add_host_ca_binding(workspace, log)
    _add_bindings(options.bindings, workspace, log)
    build_config, rootfs = _build_image(build_image, options.sandbox)
    uid, gid = _cnb_user(build_config, build_image)
    target = run_image_target(run_image)
    runner: BubblewrapRunner | HostRunner
    shared = dependency_cache_dir()
    if rootfs is not None:
        runner = BubblewrapRunner(
            rootfs,
            workspace,
            uid=uid,
            gid=gid,
            network=options.network != "none",
            dependency_cache=shared,
        )
        if shared is not None:
            write_platform_env(
                workspace.platform, [(SHARED_CACHE_VARIABLE, SANDBOX_DEPENDENCY_CACHE)]
            )
    else:
        log(
            "Warning: --no-sandbox: buildpacks run on this host as you, seeing your files "
            "and the host's tools"
        )
        runner = HostRunner(workspace)
    base_env = filtered_base_env(runner.base_env(build_config.env_dict()))
    return Prepared(
        workspace=workspace,
        app=app,
        project=project,
        index=index,
        order=order,
        build_image=build_image,
        run_image=run_image,
        build_config=build_config,
        uid=uid,
        gid=gid,
        target=target,
        runner=runner,
        base_env=base_env,
        run_image_mirrors=mirrors,
        launcher=builder.launcher if builder is not None and not options.build_image else None,
    )


def run_detect(prepared: Prepared) -> DetectReport:
    """Expand the order and try its groups with bin/detect run through the runner."""
    groups = expand_order(prepared.order, prepared.index)
    detect_runner = SandboxDetectRunner(
        prepared.runner,
        prepared.workspace,
        base_env=prepared.base_env,
        target=prepared.target,
    )
    return detect(groups, detect_runner)


# -- buildpacks --------------------------------------------------------------------------


def place_buildpacks(
    given: Sequence[str],
    project: ProjectSettings,
    workspace: Workspace,
    staging: Path,
    log: Log,
    *,
    builder: Sequence[LocatedBuildpack] = (),
    builder_order: tuple[OrderGroup, ...] = (),
) -> tuple[BuildpackIndex, tuple[OrderGroup, ...]]:
    """Put every buildpack at ``<buildpacks>/<escaped id>/<version>`` and make the order.

    With ``--buildpack``s, they form the one group (project.toml's group is then ignored, as
    pack does); buildpacks named by a given composite's order are its members, not group
    entries. Otherwise project.toml's group is the order, else the builder's order. Its
    ``pre``/``post`` buildpacks go around the group (each group of a builder's order) either
    way. ``builder`` holds the buildpacks already placed from a builder: an id (``ID`` or
    ``ID@VERSION``) that is not a path picks one of them.
    """
    requests = [BuildpackRequest(source) for source in given]
    if given and project.group:
        log(f"Warning: --buildpack given, so the group of {project.path} is ignored")
    main = requests or list(project.group)
    if not main and not builder_order:
        raise BuildError(
            "no buildpacks to run: give --buildpack DIR|ID (repeatable), a group in "
            "project.toml or a builder whose order is not empty"
        )
    by_id: dict[str, LocatedBuildpack] = {}
    all_located: list[LocatedBuildpack] = list(builder)
    placed: dict[BuildpackRequest, LocatedBuildpack] = {}
    for request in [*project.pre, *main, *project.post]:
        if request in placed:
            continue
        from_builder = _builder_buildpack(request, builder)
        if from_builder is not None:
            placed[request] = from_builder
            by_id[str(from_builder.descriptor.buildpack.id)] = from_builder
            continue
        source = request.source
        if request.id and not request.source.startswith("/") and request.id in by_id:
            placed[request] = by_id[request.id]
            continue
        located, *members_placed = _place_one(source, workspace, staging / str(len(placed)))
        for buildpack in (located, *members_placed):
            _warn_unknown_keys(buildpack, log)
        _check_expected(request, located)
        placed[request] = located
        by_id[str(located.descriptor.buildpack.id)] = located
        known = {bp.directory for bp in all_located}
        # a buildpackage may hold buildpacks already placed (with the same files)
        all_located.extend(bp for bp in (located, *members_placed) if bp.directory not in known)
    index = BuildpackIndex(all_located)
    members = {
        str(entry.id)
        for located in placed.values()
        for order_group in located.descriptor.order
        for entry in order_group.group
    }
    if not main:
        return index, _around(builder_order, project, placed)
    group: list[GroupEntry] = []
    for request in [*project.pre, *main, *project.post]:
        info = placed[request].descriptor.buildpack
        if str(info.id) in members:
            continue  # run as a member of the composite that names it
        entry = GroupEntry(id=info.id, version=info.version)
        if entry not in group:
            group.append(entry)
    return index, (OrderGroup(tuple(group)),)


def _warn_unknown_keys(located: LocatedBuildpack, log: Log) -> None:
    """buildpack.toml keys the spec does not define: most often a typo that silently drops
    a setting (``sbom-format``)."""
    info = located.descriptor.buildpack
    for unknown in unknown_keys(read_toml(located.directory / "buildpack.toml"), "buildpack"):
        log(f"Warning: buildpack {info.id}@{info.version}: buildpack.toml: {unknown}")


def _builder_buildpack(
    request: BuildpackRequest, builder: Sequence[LocatedBuildpack]
) -> LocatedBuildpack | None:
    """The builder's buildpack a request names by id (``ID`` or ``ID@VERSION``), if any."""
    if not builder or Path(request.source).exists():
        return None
    source_id, _, source_version = request.source.partition("@")
    wanted_id = request.id or source_id
    wanted_version = request.version or source_version
    for located in builder:
        info = located.descriptor.buildpack
        if str(info.id) == wanted_id and wanted_version in ("", str(info.version)):
            return located
    return None


def _around(
    order: tuple[OrderGroup, ...],
    project: ProjectSettings,
    placed: Mapping[BuildpackRequest, LocatedBuildpack],
) -> tuple[OrderGroup, ...]:
    """project.toml's ``pre``/``post`` buildpacks around every group of a builder's order."""

    def entries(requests: Sequence[BuildpackRequest]) -> tuple[GroupEntry, ...]:
        return tuple(
            GroupEntry(
                id=placed[r].descriptor.buildpack.id, version=placed[r].descriptor.buildpack.version
            )
            for r in requests
        )

    pre, post = entries(project.pre), entries(project.post)
    return tuple(OrderGroup((*pre, *group.group, *post)) for group in order)


def _place_one(source: str, workspace: Workspace, staging: Path) -> list[LocatedBuildpack]:
    """Place what ``source`` names; the buildpack it names comes first, then (for a
    buildpackage) the other buildpacks it holds (a composite's members)."""
    reference = buildpackage_reference(source)
    if reference is not None:
        return _place_buildpackage(reference, workspace, staging)
    path = Path(source)
    if is_plain_buildpack_dir(path):
        descriptor = BuildpackDescriptor.read(path / "buildpack.toml")
        target = _buildpack_home(workspace, descriptor)
        if not _already_placed(target, path, descriptor, source):
            shutil.copytree(path, target, symlinks=True)
            _make_readable(target)
    else:
        packaged, key = _packaged(source, staging)
        descriptor = packaged.descriptor
        target = _buildpack_home(workspace, descriptor)
        if not _already_placed(target, packaged.path, descriptor, source):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(packaged.path, target)
            _make_readable(target)
        return [LocatedBuildpack(BuildpackDescriptor.read(target / "buildpack.toml"), target, key)]
    return [LocatedBuildpack(BuildpackDescriptor.read(target / "buildpack.toml"), target)]


def _packaged(source: str, staging: Path) -> tuple[PackagedBuildpack, str]:
    """A plugin buildpack packaged (from the cache of packaged plugins when it holds this
    content) and the key of its content; anything else packaged as it is, with no key."""
    from cnbsdk.distribution.buildpack_dir import package_buildpack_dir
    from cnbsdk.distribution.package_cache import packaged_plugin

    cached = packaged_plugin(source, staging)
    if cached is not None:
        return cached.packaged, cached.key
    return package_buildpack_dir(source, staging), ""


def _place_buildpackage(
    reference: str, workspace: Workspace, staging: Path
) -> list[LocatedBuildpack]:
    """Every buildpack of a buildpackage (``.cnb`` or image) at its home, the entry one
    first. One already there (from a builder or another buildpackage) is kept when its
    files are the same, and refused when they differ."""
    from cnbsdk.distribution.buildpackage import extract_buildpackage

    extracted = extract_buildpackage(reference, into=staging)
    ordered = [extracted.entry, *(bp for bp in extracted.buildpacks if bp is not extracted.entry)]
    located = []
    for buildpack in ordered:
        target = _buildpack_home(workspace, buildpack.descriptor)
        if not _already_placed(target, buildpack.directory, buildpack.descriptor, reference):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(buildpack.directory, target)
            _make_readable(target)
        located.append(
            LocatedBuildpack(BuildpackDescriptor.read(target / "buildpack.toml"), target)
        )
    return located


def _already_placed(
    target: Path, candidate: Path, descriptor: BuildpackDescriptor, source: str
) -> bool:
    """Whether the buildpack's home is taken by the same files (a builder's buildpack, or one
    a buildpackage also holds): then that copy serves. Different files are refused."""
    if not target.exists():
        return False
    if tree_digest(target) == tree_digest(candidate):
        return True
    info = descriptor.buildpack
    raise BuildError(
        f"buildpack {info.id}@{info.version} is given twice with different content "
        f"(again by {source})"
    )


def _buildpack_home(workspace: Workspace, descriptor: BuildpackDescriptor) -> Path:
    info = descriptor.buildpack
    return workspace.buildpacks / BuildpackId(str(info.id)).escaped / str(info.version)


def _check_expected(request: BuildpackRequest, located: LocatedBuildpack) -> None:
    info = located.descriptor.buildpack
    if request.id and str(info.id) != request.id:
        raise BuildError(
            f"expected buildpack {request.id} but {request.source} holds {info.id}",
            field=request.origin,
        )
    if request.version and str(info.version) != request.version:
        raise BuildError(
            f"expected {request.id}@{request.version} but found version {info.version}",
            field=request.origin,
        )


def _make_readable(root: Path) -> None:
    """Buildpacks run as the build image's user: everything readable, executables runnable."""
    for directory, _dirs, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            path = Path(directory, name)
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                path.chmod(0o755 if info.st_mode & 0o111 else 0o644)


# -- images ------------------------------------------------------------------------------


def _images(
    options: BuildOptions, log: Log, progress: ProgressFactory, detect_only: bool
) -> tuple[str, str]:
    """The build and run images, defaulting to the shipped stack. Detect alone describes
    the target by the build image when no run image is given."""
    build_image, run_image = options.build_image, options.run_image
    if detect_only and build_image and not run_image:
        run_image = build_image
    if build_image and run_image:
        return build_image, run_image
    from cnbsdk.lifecycle.default_stack import default_stack

    stack = default_stack(
        need_build=not build_image, need_run=not run_image, log=log, progress=progress
    )
    return build_image or stack.build_image, run_image or stack.run_image


def _builder_images(
    options: BuildOptions, builder: BuilderInputs, log: Log, detect_only: bool
) -> tuple[str, str, tuple[str, ...]]:
    """The build image (the builder itself unless --build-image), and the run image: --run-image,
    else the builder's run images resolved as platform.md says, with their mirrors."""
    build_image = options.build_image or builder.reference
    if options.run_image:
        return build_image, options.run_image, ()
    resolved = resolve_run_image(builder.run_images, options.image, log)
    if resolved is not None:
        return build_image, resolved[0], resolved[1]
    if detect_only:
        return build_image, build_image, ()
    tried = ", ".join(c for image in builder.run_images for c in image.candidates) or "none"
    raise BuildError(
        f"none of the run images of builder {builder.reference} can be read ({tried})",
        hint="give --run-image REF",
    )


def _build_image(ref: str, sandbox: bool) -> tuple[ImageConfig, Path | None]:
    """The build image's config, and its unpacked root filesystem when sandboxing."""
    if sandbox:
        unpacked = held_build_rootfs(ref)
        return unpacked.config, unpacked.rootfs
    _resolved, config = read_manifest_and_config(ref)
    return config, None


def _cnb_user(config: ImageConfig, ref: str) -> tuple[int, int]:
    """``CNB_USER_ID``/``CNB_GROUP_ID`` of the build image (platform.md §Build Image)."""
    env = config.env_dict()
    ids = []
    for name in ("CNB_USER_ID", "CNB_GROUP_ID"):
        value = env.get(name, "")
        if numeric_id(value) is None:
            raise BuildError(
                f"the build image does not set {name} to a uid/gid in its env ({value[:40]!r})",
                file=ref,
                field=f"config.Env.{name}",
            )
        ids.append(int(value))
    return ids[0], ids[1]


def run_image_target(ref: str) -> Target:
    """The run image's os/arch/variant and distro, for ``CNB_TARGET_*`` (digest §1.4)."""
    _resolved, config = read_manifest_and_config(ref)
    labels = config.labels
    name = labels.get("io.buildpacks.base.distro.name", "")
    version = labels.get("io.buildpacks.base.distro.version", "")
    distros = (Distro(name, version),) if name or version else ()
    return Target(
        os=config.os or "linux",
        arch=config.architecture,
        variant=config.variant,
        distros=distros,
    )


def dependency_cache_dir() -> Path | None:
    """Where verified dependency downloads are shared between builds on this host:
    ``$CNBSDK_DEPENDENCY_CACHE`` (``none`` turns the sharing off), else
    ``<cache>/dependencies``."""
    given = os.environ.get(SHARED_CACHE_VARIABLE, "").strip()
    if given.lower() == "none":
        return None
    return Path(given).absolute() if given else cache_root() / "dependencies"


def _add_registry_env(
    index: BuildpackIndex, workspace: Workspace, env: list[tuple[str, str]], log: Log
) -> None:
    """Catalog URIs relative to a package repository (``npm:/``, ``pypi:/``, ``deb:/``)
    resolve through the one the build is given; when none is, the host's npm, pip or apt
    configuration's (as those tools on the host would use it)."""
    from cnbsdk.deps.host_registries import registry_env

    uris = [d.uri for located in index for d in located.descriptor.metadata.dependencies]
    extra = registry_env(uris, dict(env), os.environ, cache_dir=cache_root())
    if extra:
        write_platform_env(workspace.platform, list(extra.items()))
        log(
            "Using this host's package repositories for the buildpacks' dependencies ("
            + ", ".join(sorted(extra))
            + ")"
        )


def _add_bindings(bindings: Sequence[Path], workspace: Workspace, log: Log) -> None:
    """``--binding DIR``: each binding copied to ``<platform>/bindings/<name>`` (what pack's
    ``--volume DIR:/platform/bindings/<name>`` gives), checked as servicebinding.io says."""
    for source in bindings:
        source = Path(source)
        name = source.resolve().name
        type_file = source / "type"
        if not type_file.is_file():
            raise BuildError(f"--binding {source}: no 'type' file (servicebinding.io)")
        kind = type_file.read_text(errors="replace").strip()
        if not kind or "\n" in kind:
            raise BuildError(f"--binding {source}: its 'type' file must hold one word")
        target = workspace.platform / "bindings" / name
        if target.exists():
            raise BuildError(f"--binding {source}: a binding named {name!r} is given twice")
        target.mkdir(parents=True)
        for entry in sorted(source.iterdir()):
            if entry.is_symlink() or not entry.is_file():
                raise BuildError(f"--binding {source}: {entry.name} is not a regular file")
            shutil.copyfile(entry, target / entry.name)
            os.chmod(target / entry.name, 0o644)
        log(f"Binding {name!r} (type {kind}) given to buildpacks")


HOST_CA_DIR = Path("/usr/local/share/ca-certificates")


def _add_host_ca_binding(workspace: Workspace, log: Log) -> None:
    """The certificate authorities this host trusts beyond its distribution's (Debian's
    ``/usr/local/share/ca-certificates``, and ``CNBSDK_CA_CERTIFICATES``: a PEM file or a
    directory of them) reach buildpacks as a ``ca-certificates`` binding, Paketo's type:
    a build behind a company proxy downloads as the host does. The stack's images are
    not changed."""
    sources: list[Path] = []
    if HOST_CA_DIR.is_dir():
        sources += sorted(HOST_CA_DIR.rglob("*.crt"))
    extra = os.environ.get("CNBSDK_CA_CERTIFICATES", "").strip()
    if extra:
        path = Path(extra)
        if path.is_dir():
            sources += sorted(p for p in path.iterdir() if p.suffix in (".crt", ".pem"))
        elif path.is_file():
            sources.append(path)
        else:
            raise BuildError(f"CNBSDK_CA_CERTIFICATES={extra}: no such file or directory")
    certificates = [p for p in sources if p.is_file() and b"BEGIN CERTIFICATE" in p.read_bytes()]
    if not certificates:
        return
    binding = workspace.platform / "bindings" / "host-ca-certificates"
    binding.mkdir(parents=True, exist_ok=True)
    (binding / "type").write_text("ca-certificates")
    for number, path in enumerate(certificates):
        shutil.copyfile(path, binding / f"{number:02d}-{path.stem}.pem")
    noun = "certificate" if len(certificates) == 1 else "certificates"
    log(f"Trusting {len(certificates)} CA {noun} of this host (a ca-certificates binding)")


def _platform_env(options: BuildOptions, project: ProjectSettings) -> list[tuple[str, str]]:
    """project.toml env, then --env-file, then --env: later ones win (pack's order)."""
    pairs: list[tuple[str, str]] = []
    for name, value in project.env:
        check_env_name(name, f"{project.path}: build.env")
        pairs.append((name, value))
    for env_file in options.env_files:
        pairs.extend(read_env_file(env_file, options.environ))
    for text in options.env:
        pairs.append(parse_env_assignment(text, origin="--env", environ=options.environ))
    return pairs


def default_cache_dir(image: str) -> Path:
    """``cache_root()/build-cache/<sanitised image name>-<short hash>``, one per image."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", image).strip("_")[-80:] or "image"
    digest = hashlib.sha256(image.encode("utf-8")).hexdigest()[:8]
    return cache_root() / "build-cache" / f"{name}-{digest}"


def _copy_sboms(source: Path, destination: Path, log: Log) -> None:
    """``--sbom-output-dir``: the ``<layers>/sbom`` tree (launch, build, cache) as it is."""
    if not source.is_dir():
        log("No SBOM files to copy (no buildpack wrote any)")
        return
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination, symlinks=True)
    log(f"Copied the SBOM files to {destination}")


# -- timing, interrupts, scratch space ---------------------------------------------------------


class PhaseTimer:
    """Prints ``===> PHASE`` headers and keeps how long each phase took. Together with the
    ``lap``s (work before, between and after the phases, which has no header in pack's
    log), the timings cover everything since the timer was made, so they add up to the
    build's total."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self._timings: list[PhaseTiming] = []
        self._mark = time.monotonic()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.log(f"===> {name}")
        started = time.monotonic()
        try:
            yield
        finally:
            self._mark = time.monotonic()
            self._timings.append(PhaseTiming(name, self._mark - started))

    def lap(self, name: str) -> None:
        """Record the time since the last phase ended (or the timer was made) as ``name``."""
        now = time.monotonic()
        self._timings.append(PhaseTiming(name, now - self._mark))
        self._mark = now

    def timings(self) -> tuple[PhaseTiming, ...]:
        return tuple(self._timings)


@contextmanager
def _interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``BuildInterrupted`` in the main thread, so every ``finally``
    (cache abort, destination close, workspace removal) runs. Handlers are restored after;
    outside the main thread signals are left alone."""
    with signals_handled(_raise_interrupted, (signal.SIGINT, signal.SIGTERM)):
        yield


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    # A second signal while cleaning up is ignored: cleanup is short and must finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise BuildInterrupted(signum)


__all__ = [
    "BuildInterrupted",
    "BuildOptions",
    "CreateResult",
    "DetectionFailed",
    "create",
    "default_cache_dir",
    "detect_only",
]
