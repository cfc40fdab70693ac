"""The ``bin/detect`` and ``bin/build`` entry point of every cnbsdk buildpack.

Both scripts call ``main("<plugin ref>")``; the phase is the script's name. ``main`` reads
the lifecycle's inputs (``CNB_*`` env for Buildpack API >= 0.8, else the legacy positional
arguments), calls the plugin's hook, writes every output file through the spec models, and
returns the exit code the lifecycle expects: detect 0 pass / 100 fail / 1 error, build 0 / 1.
Errors are one ``error: ...`` line on stderr: an exception from the author's code names its
type and the author's own ``file:line``; ``BP_LOG_LEVEL=DEBUG`` (``cnbsdk -v build`` sets it)
adds the whole traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk.buildpack.context import (
    BuildContext,
    DetectContext,
    make_build_context,
    make_detect_context,
)
from cnbsdk.buildpack.log import Logger
from cnbsdk.buildpack.plugin import BuildpackPlugin, load_plugin
from cnbsdk.buildpack.results import BuildResult, DetectResult, Label, Process, Slice
from cnbsdk.buildpack.sbom import check_declared, write_sbom
from cnbsdk.errors import BuildpackError, CnbError, SpecError
from cnbsdk.spec import launch_toml
from cnbsdk.spec.build_toml import BuildToml, Unmet
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.ids import author_buildpack_api
from cnbsdk.spec.store_toml import StoreToml

DETECT_PASS, DETECT_FAIL, ERROR = 0, 100, 1


@dataclass(frozen=True)
class PhaseInputs:
    """Where the lifecycle put this phase's inputs and wants its outputs."""

    phase: str
    app_dir: Path
    buildpack_dir: Path
    platform_dir: Path
    plan_path: Path  # detect: the build plan to write; build: the buildpack plan to read
    layers_dir: Path | None = None


# Each phase's paths, in the order of its positional arguments:
# (PhaseInputs field, the CNB_* variable that wins over the argument, the argument's name).
_PHASE_PATHS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "detect": (
        ("platform_dir", "CNB_PLATFORM_DIR", "<platform>"),
        ("plan_path", "CNB_BUILD_PLAN_PATH", "<plan>"),
    ),
    "build": (
        ("layers_dir", "CNB_LAYERS_DIR", "<layers>"),
        ("platform_dir", "CNB_PLATFORM_DIR", "<platform>"),
        ("plan_path", "CNB_BP_PLAN_PATH", "<plan>"),
    ),
}


def _required(value: str | None, name: str, arg: str) -> Path:
    if not value:
        raise BuildpackError(f"{name} is not set and no {arg} argument was given")
    return Path(value)


def read_inputs(argv: Sequence[str], environ: Mapping[str, str]) -> PhaseInputs:
    """Inputs from ``CNB_*`` (API >= 0.8) or the positional arguments the lifecycle still passes:
    detect ``<platform> <plan>``, build ``<layers> <platform> <plan>``."""
    if not argv:
        raise BuildpackError("no program name in argv: cannot tell detect from build")
    script = Path(argv[0])
    phase = script.name
    for suffix in (".py", ".exe", ".bat"):
        phase = phase.removesuffix(suffix)
    args = list(argv[1:])
    buildpack_dir = Path(environ.get("CNB_BUILDPACK_DIR") or script.resolve().parent.parent)
    app_dir = Path.cwd()
    if phase not in _PHASE_PATHS:
        raise BuildpackError(
            f"cannot tell the phase from the program name {script.name!r}: "
            "run it as bin/detect or bin/build"
        )
    wanted = _PHASE_PATHS[phase]
    positional = args + [None] * (len(wanted) - len(args))
    paths = {
        field: _required(environ.get(variable) or positional[index], variable, placeholder)
        for index, (field, variable, placeholder) in enumerate(wanted)
    }
    return PhaseInputs(
        phase=phase,
        app_dir=app_dir,
        buildpack_dir=buildpack_dir,
        platform_dir=paths["platform_dir"],
        plan_path=paths["plan_path"],
        layers_dir=paths.get("layers_dir"),
    )


def _descriptor(plugin: BuildpackPlugin, buildpack_dir: Path) -> tuple[BuildpackDescriptor, Path]:
    """The buildpack.toml the lifecycle sees (in the buildpack dir), else the plugin's own."""
    path = buildpack_dir / "buildpack.toml"
    if path.is_file() and path.resolve() != plugin.descriptor_path.resolve():
        return BuildpackDescriptor.read(path), path
    return plugin.descriptor, plugin.descriptor_path


def _check_api(descriptor: BuildpackDescriptor, path: Path) -> None:
    """The author API implements Buildpack API 0.10 to 0.12 only (older buildpacks written in
    bash or Go still build: the lifecycle runs 0.7 to 0.12)."""
    try:
        author_buildpack_api(str(descriptor.api))
    except SpecError as error:
        raise BuildpackError(error.message, file=str(path), field="api") from None


def run_detect(plugin: BuildpackPlugin, context: DetectContext, plan_path: Path) -> int:
    """Call the detect hook and write ``plan.toml``; return 0 (pass) or 100 (fail)."""
    logger = context.logger
    if not plugin.implements_detect:
        logger.debug("no detect hook: passing with an empty build plan")
        result = DetectResult.passed()
    else:
        result = plugin.detect(context)  # type: ignore[assignment]
    if not isinstance(result, DetectResult):
        raise BuildpackError(
            f"the detect hook returned {result!r}",
            hint="return DetectResult.passed(...) or DetectResult.fail(reason)",
        )
    if not result.passes:
        if result.reason:
            logger.title(result.reason)
        return DETECT_FAIL
    result.plan.write(plan_path)
    logger.debug(f"Wrote the build plan to {plan_path}")
    return DETECT_PASS


def _spec_process(value: object) -> launch_toml.Process:
    if isinstance(value, Process):
        return value.to_spec()
    if isinstance(value, launch_toml.Process):
        return value
    raise BuildpackError(f"BuildResult.processes holds {value!r}, not a Process")


def _launch_toml(result: BuildResult, descriptor: BuildpackDescriptor) -> launch_toml.LaunchToml:
    labels = [lb.to_spec() if isinstance(lb, Label) else lb for lb in result.labels]
    slices = [s.to_spec() if isinstance(s, Slice) else s for s in result.slices]
    model = launch_toml.LaunchToml(
        processes=tuple(_spec_process(p) for p in result.processes),
        labels=tuple(labels),
        slices=tuple(slices),
    )
    # Round-trip through the reader so the lifecycle's checks (one default, unique types,
    # array commands) fail here, naming launch.toml, rather than later in the lifecycle.
    return launch_toml.LaunchToml.from_dict(model.to_dict(), file="launch.toml", api=descriptor.api)


def _store_toml(metadata: Mapping[str, Any] | None) -> StoreToml | None:
    if metadata is None:
        return None
    store = StoreToml(metadata=dict(metadata))
    try:
        store.to_toml()
    except (TypeError, ValueError) as error:
        raise BuildpackError(
            f"BuildResult.store cannot be written as TOML: {error}",
            file="store.toml",
            hint="use strings, numbers, booleans, lists and dicts (no None)",
        ) from None
    return store


def write_build_outputs(result: BuildResult, context: BuildContext) -> None:
    """Write launch.toml, build.toml, store.toml and the launch/build SBOMs of a build."""
    layers_dir = context.layers_dir
    planned = {entry.name for entry in context.buildpack_plan.entries}
    for name in result.unmet:
        if name not in planned:
            listed = ", ".join(sorted(planned)) or "none"
            raise BuildpackError(
                f"unmet entry {name!r} is not in this buildpack's plan (plan entries: {listed})",
                file="build.toml",
                field="unmet",
            )
    launch = _launch_toml(result, context.descriptor)
    sbom_formats = context.descriptor.buildpack.sbom_formats
    sboms = [("launch", s) for s in result.launch_sbom] + [("build", s) for s in result.build_sbom]
    for _, sbom in sboms:
        check_declared(sbom.media_type, sbom_formats, descriptor_file=str(context.descriptor_file))
    store = _store_toml(result.store)
    # Everything is checked: only now write, so a failed build leaves no half of its outputs.
    for owner, sbom in sboms:
        write_sbom(
            layers_dir,
            owner,
            sbom,
            declared=sbom_formats,
            descriptor_file=str(context.descriptor_file),
        )
    if launch.processes or launch.labels or launch.slices:
        launch.write(layers_dir / "launch.toml")
    if result.unmet:
        BuildToml(unmet=tuple(Unmet(name=n) for n in result.unmet)).write(layers_dir / "build.toml")
    if store is not None:
        store.write(layers_dir / "store.toml")
    context.logger.launch_processes(launch.processes)


def run_build(plugin: BuildpackPlugin, context: BuildContext) -> int:
    """Call the build hook and write its outputs; return 0."""
    context.logger.buildpack_title(context.buildpack_name, context.buildpack_version)
    context.config.log_table(context.logger)
    result = plugin.build(context)
    if not isinstance(result, BuildResult):
        raise BuildpackError(
            f"the build hook returned {result!r}",
            hint="return BuildResult(...) (BuildResult() when there is nothing to add)",
        )
    write_build_outputs(result, context)
    return 0


def main(
    plugin_ref: str,
    argv: Sequence[str] | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> int:
    """Run detect or build for the plugin ``plugin_ref`` and return the exit code."""
    args = list(sys.argv if argv is None else argv)
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    logger = Logger(env)
    author_root: Path | None = None
    try:
        inputs = read_inputs(args, env)
        plugin = load_plugin(plugin_ref, distribution=False)
        author_root = plugin.package_root
        descriptor, descriptor_file = _descriptor(plugin, inputs.buildpack_dir)
        _check_api(descriptor, descriptor_file)
        logger.debug(f"{inputs.phase}: {inputs}")
        if inputs.phase == "detect":
            detect_context = make_detect_context(
                app_dir=inputs.app_dir,
                buildpack_dir=inputs.buildpack_dir,
                platform_dir=inputs.platform_dir,
                environ=env,
                descriptor=descriptor,
                descriptor_file=descriptor_file,
                logger=logger,
            )
            return run_detect(plugin, detect_context, inputs.plan_path)
        assert inputs.layers_dir is not None
        build_context = make_build_context(
            app_dir=inputs.app_dir,
            buildpack_dir=inputs.buildpack_dir,
            platform_dir=inputs.platform_dir,
            layers_dir=inputs.layers_dir,
            plan_path=inputs.plan_path,
            environ=env,
            descriptor=descriptor,
            descriptor_file=descriptor_file,
            logger=logger,
        )
        return run_build(plugin, build_context)
    except CnbError as error:
        _report(logger, f"{error}")
    except OSError as error:
        where = f"{error.filename}: " if getattr(error, "filename", None) else ""
        message = f"{type(error).__name__}: {where}{error.strerror or error}"
        _report(logger, message + _author_location(error, author_root))
    except Exception as error:  # the author's code failed: name the exception, keep one line
        _report(logger, f"{type(error).__name__}: {error}{_author_location(error, author_root)}")
    return ERROR


_CNBSDK_DIR = str(Path(__file__).resolve().parents[1]) + os.sep


def _library_dirs() -> tuple[str, ...]:
    """Python's own library directories (sysconfig is imported only when an error needs it:
    every phase's start pays for each module it imports)."""
    import sysconfig

    paths = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
    return tuple(str(Path(path).resolve()) + os.sep for path in paths if path)


def _author_location(error: BaseException, author_root: Path | None = None) -> str:
    """`` (at FILE:LINE in FUNCTION)``: the innermost frame of the traceback in the plugin's
    own package, else the innermost that is neither cnbsdk's nor Python's own library nor
    pluggy's: the author's line."""
    import traceback

    frames = list(reversed(traceback.extract_tb(error.__traceback__)))
    if author_root is not None:
        root = author_root.resolve()
        for frame in frames:
            path = Path(frame.filename).resolve()
            if path == root or root in path.parents:
                return f" (at {frame.filename}:{frame.lineno} in {frame.name})"
    library_dirs = _library_dirs()
    for frame in frames:
        filename = str(Path(frame.filename).resolve())
        if filename.startswith(_CNBSDK_DIR) or filename.startswith(library_dirs):
            continue
        if f"{os.sep}site-packages{os.sep}pluggy{os.sep}" in filename:
            continue
        if f"{os.sep}lib{os.sep}pluggy{os.sep}" in filename:  # vendored in a packaged buildpack
            continue
        return f" (at {frame.filename}:{frame.lineno} in {frame.name})"
    return ""


def _report(logger: Logger, message: str) -> None:
    if logger.debug_enabled:
        import traceback

        traceback.print_exc(file=sys.stderr)
    line = " ".join(message.split())
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()
