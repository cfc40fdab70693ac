"""The build phase (buildpack.md §Phase #5, platform.md §builder, digest §3; lifecycle
``phase/builder.go`` and ``buildpack/build.go``): run each buildpack of the selected group,
collect what it wrote, and hand the exporter ``<layers>/config/metadata.toml``.

For each buildpack, in group order:

1. ``<layers>/<escaped id>`` is created (mode 0777) and its buildpack plan — every require of
   every plan entry it provides — is written read-only in the runner's temp dir (the
   sandbox's ``/tmp``, as the lifecycle uses a temp dir), removed when the phase ends;
2. ``bin/build <layers>/<escaped id> <platform> <plan>`` runs through the ``Runner`` with the
   app as its working directory and the build env (filtered base env, the ``build=true``
   layers of *earlier* buildpacks, user and operator env, ``CNB_*`` inputs), every path as the
   runner shows it; its output goes to ``log`` line by line, unprefixed. A non-zero exit fails
   the build (``BuildpackFailed``, the lifecycle's exit 51);
3. its files are read and checked: ``launch.toml`` (for its Buildpack API), ``build.toml``
   (``[[unmet]]`` names go on to the next provider), ``store.toml``, each ``<layer>.toml``;
   a layer dir whose types are all false becomes ``<layer>.ignore``; SBOM files must have a
   spec extension and a declared media type;
4. its ``build=true`` layers join the env of the buildpacks after it.

Then SBOMs are copied under ``<layers>/sbom/`` (``sbom_files``), processes are merged by type
(a later buildpack wins; a non-default redefinition of the default type clears the default,
with a warning), and ``metadata.toml`` is written. Any violation raises ``BuildError`` whose
one line names the buildpack and the file (as the buildpack saw it); nothing is written to
``config/`` then.

Symlinks (cnbsdk's rule; the lifecycle does not check): the files the phase reads
(``launch.toml``, ``build.toml``, ``store.toml``, ``<layer>.toml``, SBOMs) and the layer
directories themselves must not be symlinks, so the host never reads through a link a
sandboxed buildpack planted. Inside a kept layer, a relative symlink must not climb above
``<layers>`` (``../../../../etc/passwd``): where it points would depend on where the layers
dir is mounted, and it could not be restored from the cache. Absolute targets are left
alone: they point into the image's own filesystem, as on the run image.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cnbsdk.errors import BuildError, SpecError
from cnbsdk.lifecycle import buildpack_files
from cnbsdk.lifecycle.build_env import (
    build_env,
    cnb_inputs,
    filtered_base_env,
    with_build_layer,
)
from cnbsdk.lifecycle.order import GroupElement
from cnbsdk.lifecycle.plan import ResolvedPlan, buildpack_plan_for, plan_after_build
from cnbsdk.lifecycle.sbom_files import (
    SbomFile,
    clear_sbom_dir,
    copy_sbom_files,
    find_sbom_files,
)
from cnbsdk.lifecycle.workspace import Paths, Workspace
from cnbsdk.spec.build_toml import BuildToml
from cnbsdk.spec.ids import ApiVersion, path_segment
from cnbsdk.spec.launch_toml import ARRAY_COMMAND_API, Label, LaunchToml, Slice
from cnbsdk.spec.layer_toml import LayerContentMetadata, LayerTypes
from cnbsdk.spec.metadata_toml import MetadataBuildpack, MetadataProcess, MetadataToml
from cnbsdk.spec.platform_files import PlatformPlan
from cnbsdk.spec.store_toml import StoreToml
from cnbsdk.spec.target import Target

if TYPE_CHECKING:
    from cnbsdk.lifecycle.sandbox import Runner

# buildpack.md 0.8: processes may set working-dir (the lifecycle ignores it before).
WORKING_DIR_API = ApiVersion(0, 8)
# platform.md §builder: a buildpack's build failed.
EXIT_BUILDPACK_FAILED = 51
PLANS_DIR = "cnbsdk-buildpack-plans"  # under the runner's temp dir
CONFIG_DIR = "config"
METADATA_FILE = "metadata.toml"
_OUTPUT_FILES = ("launch.toml", "build.toml", "store.toml")
_RESERVED_LAYER_NAMES = ("launch", "build", "store")
_MAX_DEPTH = 512

Log = Callable[[str], None]
T = TypeVar("T")


class BuildpackFailed(BuildError):
    """A buildpack's ``bin/build`` exited non-zero; ``output`` holds what it printed."""

    exit_code = EXIT_BUILDPACK_FAILED

    def __init__(self, element: GroupElement, code: int, output: str) -> None:
        self.element = element
        self.code = code
        self.output = output
        how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        super().__init__(f"buildpack {element} failed ({how})")


@dataclass(frozen=True)
class BuildpackOutput:
    """What one buildpack left in ``<layers>/<escaped id>`` (host paths), checked.

    ``layers`` holds every ``<layer>.toml`` by layer name, ignored layers included (their
    directories are renamed ``<layer>.ignore``).
    """

    element: GroupElement
    directory: Path
    launch: LaunchToml = field(default_factory=LaunchToml)
    build: BuildToml = field(default_factory=BuildToml)
    store: StoreToml | None = None
    layers: Mapping[str, LayerContentMetadata] = field(default_factory=dict)
    output: str = ""  # what its bin/build printed (stdout and stderr interleaved)

    def layer_types(self) -> dict[str, LayerTypes]:
        return {name: meta.effective_types for name, meta in self.layers.items()}


@dataclass(frozen=True)
class BuildOutcome:
    """What the build phase produced, for the exporter and the cache.

    ``plan`` is what was left unmet after the last buildpack; ``sbom_files`` are the copies
    under ``<layers>/sbom/``; ``warnings`` were also logged.
    """

    metadata: MetadataToml
    buildpacks: tuple[GroupElement, ...]
    outputs: tuple[BuildpackOutput, ...]
    metadata_path: Path
    plan: PlatformPlan = field(default_factory=PlatformPlan)
    sbom_files: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()


def build(
    selected: ResolvedPlan,
    runner: Runner,
    workspace: Workspace,
    *,
    base_env: Mapping[str, str],
    target: Target | None,
    exec_env: str = "",
    log: Log = print,
) -> BuildOutcome:
    """Run the selected group's ``bin/build``s and write ``<layers>/config/metadata.toml``."""
    layers = workspace.layers
    metadata_path = layers / CONFIG_DIR / METADATA_FILE
    metadata_path.unlink(missing_ok=True)  # never leave an earlier run's file behind
    clear_sbom_dir(layers)  # lifecycle: <layers>/sbom does not exist while buildpacks run
    view = _View(workspace, runner)
    plan = selected.platform_plan()
    env = filtered_base_env(base_env)
    outputs: list[BuildpackOutput] = []
    warnings: list[str] = []
    sboms: list[SbomFile] = []
    plans_dir = runner.temp_dir / PLANS_DIR

    def warn(message: str) -> None:
        warnings.append(message)
        log(f"Warning: {message}")

    try:
        for element in selected.group:
            before = _outside_files(runner, workspace)
            output = _build_one(
                element, plan, runner, view, env, target=target, exec_env=exec_env, log=log
            )
            _warn_lost_files(element, output, before, runner, workspace, view, warn)
            build_toml = view.shown(output.directory / "build.toml")
            plan = plan_after_build(plan, element.id, output.build, file=build_toml)
            # Checked right after each buildpack (lifecycle), copied once all have built.
            sboms.extend(
                find_sbom_files(
                    output.directory,
                    buildpack_id=str(element.id),
                    declared=element.descriptor.buildpack.sbom_formats,
                    layer_types=output.layer_types(),
                    shown_as=Path(view.shown(output.directory)),
                    buildpack_name=str(element),
                )
            )
            env = with_build_layers(env, output, view)
            outputs.append(output)
    finally:
        shutil.rmtree(plans_dir, ignore_errors=True)

    copied = copy_sbom_files(sboms, layers)

    metadata = merge_metadata(outputs, warn=warn)
    if not metadata.processes:
        warn(
            "no buildpack declared a process, so the image has no default process: "
            "`cnbsdk run` will need --process TYPE or a command (declare one in launch.toml; "
            "with cnbsdk.buildpack, BuildResult(processes=[Process(..., default=True)]))"
        )
    metadata_path.parent.mkdir(parents=True, exist_ok=True)
    metadata.write(metadata_path)
    return BuildOutcome(
        metadata=metadata,
        buildpacks=tuple(selected.group),
        outputs=tuple(outputs),
        metadata_path=metadata_path,
        plan=plan,
        sbom_files=tuple(copied),
        warnings=tuple(warnings),
    )


# -- running one buildpack --------------------------------------------------------------------


class _View:
    """Host paths of the workspace and how the runner shows them to a buildpack."""

    def __init__(self, workspace: Workspace, runner: Runner) -> None:
        self.workspace = workspace
        self.runner = runner
        self.paths: Paths = runner.paths

    def shown(self, host_path: Path) -> str:
        try:
            return self.runner.inner_path(host_path)
        except ValueError:
            return str(host_path)

    def buildpack_dir(self, element: GroupElement) -> str:
        """Where the runner shows the buildpack (the sandbox sees only the build's
        buildpacks directory; the host runner sees every path)."""
        try:
            return self.runner.inner_path(element.directory)
        except ValueError:
            raise BuildError(
                f"buildpack {element} is at {element.directory}, outside the build's "
                f"buildpacks directory {self.workspace.buildpacks}, where the sandbox cannot "
                f"see it"
            ) from None


def _build_one(
    element: GroupElement,
    plan: PlatformPlan,
    runner: Runner,
    view: _View,
    env: Mapping[str, str],
    *,
    target: Target | None,
    exec_env: str,
    log: Log,
) -> BuildpackOutput:
    executable = element.directory / "bin" / "build"
    if not executable.is_file():
        raise BuildError(f"buildpack {element} has no bin/build", file=str(executable))
    layers_dir = view.workspace.layers / element.id.escaped
    if layers_dir.is_symlink():
        layers_dir.unlink()
    layers_dir.mkdir(exist_ok=True)
    layers_dir.chmod(0o777)  # lifecycle: created 0777 for the buildpack's user
    plan_path = _write_buildpack_plan(view.runner.temp_dir / PLANS_DIR, element, plan)

    bp_dir = view.buildpack_dir(element)
    shown_layers, shown_platform, shown_plan = (
        view.shown(layers_dir),
        view.paths.platform,
        view.shown(plan_path),
    )
    build_config = view.workspace.build_config
    full_env = build_env(
        env,
        element.located,
        platform_dir=view.workspace.platform,
        build_config_dir=build_config if build_config.is_dir() else None,
        layers_dir=shown_layers,
        plan_path=shown_plan,
        target=target,
        exec_env=exec_env,
    )
    # build_env read the user env on the host; the buildpack gets the paths it can open.
    shown = {"CNB_BUILDPACK_DIR": bp_dir, "CNB_PLATFORM_DIR": shown_platform}
    full_env.update(cnb_inputs(element.api, shown))
    argv = [f"{bp_dir}/bin/build", shown_layers, shown_platform, shown_plan]
    result = runner.run(
        argv,
        cwd=view.paths.app,
        env=full_env,
        on_output=lambda line: log(line.rstrip("\n")),
        buildpack=element.located,
    )
    if result.exit_code != 0:
        raise BuildpackFailed(element, result.exit_code, result.output)
    read = read_buildpack_output(element, layers_dir, shown_as=Path(shown_layers))
    return replace(read, output=result.output)


# -- files a buildpack leaves where nothing keeps them ---------------------------------------

_MAX_LISTED = 3


def _scratch_dirs(runner: Runner) -> list[Path]:
    """The sandbox's writable scratch (its ``/tmp`` and ``$HOME``): gone after the build."""
    found = []
    for name in ("temp_dir", "home_dir"):
        directory = getattr(runner, name, None)
        if isinstance(directory, Path) and directory.is_dir():
            found.append(directory)
    return found


def _outside_files(runner: Runner, workspace: Workspace) -> set[Path]:
    """Files now in the scratch dirs, and entries at the top of ``<layers>``. Hidden files
    and directories are left out: tools keep their caches there (``~/.npm``, ``~/.cache``)
    on purpose, knowing they do not last."""
    files: set[Path] = set()
    for directory in _scratch_dirs(runner):
        for root, dirs, names in os.walk(directory):
            dirs[:] = [d for d in dirs if d != PLANS_DIR and not d.startswith(".")]
            files.update(Path(root, name) for name in names if not name.startswith("."))
    if workspace.layers.is_dir():
        files.update(workspace.layers.iterdir())
    return files


def _warn_lost_files(
    element: GroupElement,
    output: BuildpackOutput,
    before: set[Path],
    runner: Runner,
    workspace: Workspace,
    view: _View,
    warn: Callable[[str], None],
) -> None:
    """Warn about what this buildpack wrote that no image or cache will keep: files in the
    sandbox's /tmp or $HOME, entries it made at the top of <layers> instead of in its own
    layers directory, and directories in its layers directory with no <layer>.toml."""
    own = workspace.layers / element.id.escaped
    new = sorted(p for p in _outside_files(runner, workspace) - before if p != own)
    new = [p for p in new if p.parent != workspace.layers or p.name not in _LIFECYCLE_ENTRIES]
    if new:
        shown = ", ".join(sorted(_shown_scratch(p, runner, view) for p in new)[:_MAX_LISTED])
        more = f" and {len(new) - _MAX_LISTED} more" if len(new) > _MAX_LISTED else ""
        warn(
            f"buildpack {element} wrote {shown}{more} outside its layers directory "
            f"({view.shown(own)}): those files are not kept in the image or the cache"
        )
    strays = sorted(
        path.name
        for path in own.iterdir()
        if path.is_dir() and not path.name.endswith(".ignore") and path.name not in output.layers
    )
    for name in strays:
        warn(
            f"buildpack {element} made {view.shown(own / name)} without {name}.toml: it is not "
            "a layer, so it is not kept (write the toml, with cnbsdk.buildpack: "
            "context.layers.cached/uncached)"
        )


def _shown_scratch(path: Path, runner: Runner, view: _View) -> str:
    home_dir, home = getattr(runner, "home_dir", None), getattr(runner, "home", None)
    if isinstance(home_dir, Path) and isinstance(home, str) and home_dir in path.parents:
        return f"{home.rstrip('/')}/{path.relative_to(home_dir)}"
    return view.shown(path)


# Entries the lifecycle itself keeps at the top of <layers>.
_LIFECYCLE_ENTRIES = frozenset({"config", "sbom", "group.toml", "plan.toml", "analyzed.toml"})


def _write_buildpack_plan(directory: Path, element: GroupElement, plan: PlatformPlan) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    path = directory / f"{element.id.escaped}.toml"
    path.unlink(missing_ok=True)
    buildpack_plan_for(plan, element.id).write(path)
    path.chmod(0o444)
    return path


# -- what a buildpack wrote -------------------------------------------------------------------


def read_buildpack_output(
    element: GroupElement, directory: Path, *, shown_as: Path | None = None
) -> BuildpackOutput:
    """Read and check one buildpack's files after its build; rename ignored layers.

    ``shown_as`` is ``directory`` as the buildpack saw it (for messages and symlink checks).
    """
    shown = shown_as or directory
    for name in _OUTPUT_FILES:
        _refuse_symlink(element, directory / name, shown / name, "file")
    launch = _read(
        element,
        directory,
        shown,
        "launch.toml",
        lambda p: LaunchToml.from_toml(
            buildpack_files.read_text(p, root=directory), file=str(p), api=element.api
        ),
    )
    build_toml = _read(
        element,
        directory,
        shown,
        "build.toml",
        lambda p: buildpack_files.read_model(BuildToml, p, root=directory),
    )
    store = _read(
        element,
        directory,
        shown,
        "store.toml",
        lambda p: buildpack_files.read_model(StoreToml, p, root=directory),
    )
    layers = _read_layers(element, directory, shown)
    for name, meta in layers.items():
        layer_dir = directory / name
        if not meta.effective_types.ignored:
            if layer_dir.is_dir():
                check_layer_symlinks(element, layer_dir, shown / name)
            continue
        if layer_dir.is_dir():
            # buildpack.md §Ignored Layers: kept out of the image, the cache and the env.
            ignored = directory / f"{name}.ignore"
            if ignored.is_dir() and not ignored.is_symlink():
                shutil.rmtree(ignored)
            else:
                ignored.unlink(missing_ok=True)
            layer_dir.rename(ignored)
    return BuildpackOutput(
        element=element,
        directory=directory,
        launch=launch or LaunchToml(),
        build=build_toml or BuildToml(),
        store=store,
        layers=layers,
    )


def _read(
    element: GroupElement, directory: Path, shown: Path, name: str, parse: Callable[[Path], T]
) -> T | None:
    path = directory / name
    if not path.exists():
        return None
    try:
        return parse(path)
    except BuildError as error:
        raise BuildError(f"buildpack {element}: {error.message}", file=str(shown / name)) from None
    except SpecError as error:
        raise _invalid(element, shown / name, error) from None


def _read_layers(
    element: GroupElement, directory: Path, shown: Path
) -> dict[str, LayerContentMetadata]:
    layers: dict[str, LayerContentMetadata] = {}
    for path in sorted(directory.iterdir(), key=lambda p: os.fsencode(p.name)):
        if not path.name.endswith(".toml") or path.name in _OUTPUT_FILES:
            continue
        name = path.name[: -len(".toml")]
        if not name or name in _RESERVED_LAYER_NAMES:
            continue
        try:  # the name becomes a directory of the image (/layers/<bp>/<name>)
            path_segment(name, what="layer name")
        except SpecError as error:
            raise _invalid(element, shown / path.name, error) from None
        _refuse_symlink(element, path, shown / path.name, "layer metadata file")
        if path.is_dir():
            continue
        try:
            layers[name] = buildpack_files.read_model(LayerContentMetadata, path, root=directory)
        except BuildError as error:
            raise BuildError(
                f"buildpack {element}: {error.message}", file=str(shown / path.name)
            ) from None
        except SpecError as error:
            raise _invalid(element, shown / path.name, error) from None
        layer_dir = directory / name
        _refuse_symlink(element, layer_dir, shown / name, "layer directory")
        if layer_dir.exists() and not layer_dir.is_dir():
            raise BuildError(
                f"buildpack {element}: layer {name!r} is not a directory", file=str(shown / name)
            )
    return layers


def check_layer_symlinks(
    element: GroupElement, layer_dir: Path, shown: Path, *, layer_depth: int = 2
) -> None:
    """Refuse a relative symlink in ``layer_dir`` that climbs above ``<layers>``.

    ``layer_depth`` is how far ``layer_dir`` sits below ``<layers>`` (2: ``<bp>/<layer>``).
    """
    for relative, target in _symlinks(layer_dir):
        if target.startswith("/"):
            continue
        # The depth below <layers> of the directory holding the link.
        depth = layer_depth + relative.count("/")
        for piece in target.split("/"):
            if piece in ("", "."):
                continue
            depth = depth - 1 if piece == ".." else depth + 1
            if depth < 0:
                raise BuildError(
                    f"buildpack {element}: symlink to {target!r} escapes the layers directory "
                    f"(link within <layers>, or to an absolute path in the image)",
                    file=str(shown / relative),
                )


def _symlinks(root: Path) -> Iterator[tuple[str, str]]:
    """Every symlink under ``root`` (never followed): its path relative to root, its target."""
    stack: list[tuple[Path, str, int]] = [(root, "", 0)]
    while stack:
        directory, prefix, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise BuildError("layer is nested too deeply", file=str(directory))
        with os.scandir(directory) as entries:
            for entry in entries:
                relative = f"{prefix}{entry.name}"
                if entry.is_symlink():
                    yield relative, os.readlink(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), f"{relative}/", depth + 1))


def _refuse_symlink(element: GroupElement, path: Path, shown: Path, what: str) -> None:
    if path.is_symlink():
        raise BuildError(
            f"buildpack {element}: the {what} is a symlink (to {os.readlink(path)!r}); "
            f"the lifecycle reads only real files and directories here",
            file=str(shown),
        )


def _invalid(element: GroupElement, shown: Path, error: SpecError) -> BuildError:
    return BuildError(f"buildpack {element}: {error.message}", file=str(shown), field=error.field)


# -- the env of later buildpacks --------------------------------------------------------------


def with_build_layers(
    env: Mapping[str, str], output: BuildpackOutput, view: _View | None = None
) -> dict[str, str]:
    """``env`` plus one buildpack's ``build=true`` layers (digest §3.7, rule 15), in layer name
    order: root dirs prepended with ``:`` at the path the runner shows, then ``env/`` and
    ``env.build/`` read on the host.
    """
    result = dict(env)
    for name in sorted(output.layers, key=os.fsencode):
        layer = output.directory / name
        if not output.layers[name].effective_types.build or not layer.is_dir():
            continue
        shown = view.shown(layer) if view is not None else None
        result = with_build_layer(result, layer, shown_as=shown)
    return result


# -- metadata.toml ----------------------------------------------------------------------------


def merge_metadata(
    outputs: Sequence[BuildpackOutput], *, warn: Log = lambda message: None
) -> MetadataToml:
    """The group's ``metadata.toml`` from each buildpack's ``launch.toml`` (rules 19 and 20).

    Processes are merged by type, a later buildpack replacing an earlier one. The default is
    the last ``default = true`` seen; redefining that type without ``default`` clears it
    (lifecycle ``processMap``), with a warning. Labels and slices keep group order.

    Older Buildpack APIs: before 0.9 a process is direct only with ``direct = true`` (else
    the launcher runs it through bash); before 0.8 ``working-dir`` is ignored, with a warning.
    """
    processes: dict[str, MetadataProcess] = {}
    default_type = ""
    labels: list[Label] = []
    slices: list[Slice] = []
    for output in outputs:
        api = output.element.api
        for process in output.launch.processes:
            working_dir = process.working_dir
            if working_dir and api < WORKING_DIR_API:
                warn(
                    f"buildpack {output.element}: process {str(process.type)!r} sets "
                    f"working-dir, which Buildpack API {api} does not have: ignored"
                )
                working_dir = ""
            if process.default:
                default_type = str(process.type)
            elif process.type == default_type:
                warn(
                    f"buildpack {output.element} redefines the default process type "
                    f"{default_type!r} without default = true: no default process remains"
                )
                default_type = ""
            processes[str(process.type)] = MetadataProcess(
                type=process.type,
                command=process.command,
                buildpack_id=output.element.id,
                args=process.args,
                direct=process.direct if process.direct is not None else api >= ARRAY_COMMAND_API,
                working_dir=working_dir,
                exec_env=process.exec_env,
            )
        labels.extend(output.launch.labels)
        slices.extend(output.launch.slices)
    return MetadataToml(
        buildpacks=tuple(
            MetadataBuildpack(
                id=o.element.id,
                version=o.element.version,
                api=o.element.api,
                homepage=o.element.descriptor.buildpack.homepage,
            )
            for o in outputs
        ),
        processes=tuple(processes.values()),
        labels=tuple(labels),
        slices=tuple(slices),
        buildpack_default_process_type=default_type,
    )
