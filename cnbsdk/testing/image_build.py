"""Whole app images built from pytest (the ``cnb_build`` fixture): the same lifecycle as
``cnbsdk build`` (``lifecycle.creator.create``), into a per-test OCI layout and cache, and a
result that reads back what an author asserts on.

A build that fails in a buildpack is a result (``exit_code``, ``failure``); with
``expect_failure=False`` (the default) it fails the test with the phase and the failing
buildpack's last lines. Input that cannot make a build at all (no such app, an unknown
buildpack id, a bad option) fails the test with one line and no traceback from cnbsdk.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from cnbsdk.errors import CnbError
from cnbsdk.lifecycle.build import BuildpackFailed, BuildpackOutput
from cnbsdk.lifecycle.creator import BuildOptions, CreateResult, create
from cnbsdk.lifecycle.detect import DetectionFailed, DetectReport
from cnbsdk.lifecycle.export import ExportReport
from cnbsdk.oci.open import read_manifest_and_config
from cnbsdk.testing.app_image import AppImage
from cnbsdk.testing.inputs import FileContent, write_files

BuildpackRef = str | Path
AppLike = str | Path | Mapping[str, FileContent]
PHASES = ("ANALYZING", "DETECTING", "RESTORING", "BUILDING", "EXPORTING")
PREPARING = "PREPARING"
LAST_LINES = 20
EXIT_ERROR = 1


class HarnessInputError(Exception):
    """The fixture was given something that cannot make a build (reported as one line)."""


@dataclass(frozen=True)
class BuildFailure:
    """Why a build failed: the phase, the buildpack (when one failed) and its last lines."""

    phase: str
    message: str
    buildpack: str = ""
    output: str = ""

    def __str__(self) -> str:
        head = f"the build failed in {self.phase}"
        if self.buildpack:
            head += f" (buildpack {self.buildpack})"
        lines = self.output.rstrip("\n").splitlines()[-LAST_LINES:]
        body = "".join(f"\n  | {line}" for line in lines)
        return f"{head}: {self.message}{body}"


@dataclass(frozen=True)
class BuildSpec:
    """Everything one build was asked for; ``rebuild`` changes some of it."""

    app: Path
    buildpacks: tuple[str, ...]
    builder: str | None
    build_image: str | None
    run_image: str | None
    env: Mapping[str, str]
    network: str
    clear_cache: bool
    default_process: str | None
    expect_failure: bool
    directory: Path  # the layout holding this build's images, and their cache
    generation: int = 1  # the first build's image is tagged build-1, its rebuild build-2...
    previous_image: str | None = None  # what a rebuild analyzes and reuses layers from
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def image(self) -> str:
        """This build's own tag, so a result still names its image after a rebuild."""
        return f"oci:{self.directory / 'layout'}:build-{self.generation}"

    @property
    def cache_dir(self) -> Path:
        return self.directory / "cache"


@dataclass
class ImageBuildResult:
    """One build: its log (whole and per phase), exit status, the image and its SBOMs."""

    spec: BuildSpec
    log: str
    exit_code: int
    failure: BuildFailure | None
    created: CreateResult | None
    sbom_dir: Path
    harness: ImageHarness
    detect_report: DetectReport | None = None  # every group tried, each buildpack's verdict

    # -- the log ------------------------------------------------------------------------

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    @cached_property
    def phases(self) -> dict[str, str]:
        """The log of each phase (``PREPARING`` is what came before ``===> ANALYZING``)."""
        parts: dict[str, list[str]] = {PREPARING: []}
        current = PREPARING
        for line in self.log.splitlines():
            if line.startswith("===> "):
                current = line.removeprefix("===> ").strip()
                parts.setdefault(current, [])
                continue
            parts[current].append(line)
        return {name: "".join(f"{line}\n" for line in lines) for name, lines in parts.items()}

    @cached_property
    def buildpack_output(self) -> dict[str, str]:
        """What each buildpack printed, by id: its build output (detect output when the
        build never started, or the failed buildpack's output)."""
        out: dict[str, str] = {}
        report = self.detect_report
        if report is not None:
            for attempt in report.attempts:
                for verdict in attempt.verdicts:
                    out[str(verdict.element.id)] = verdict.verdict.output
        build = self.created.build if self.created is not None else None
        for bp_output in build.outputs if build is not None else ():
            out[str(bp_output.element.id)] = bp_output.output
        if self.failure is not None and self.failure.buildpack:
            out[self.failure.buildpack.split("@")[0]] = self.failure.output
        return out

    @property
    def outputs(self) -> dict[str, BuildpackOutput]:
        """Each buildpack's checked outputs (launch.toml, build.toml, layer tomls) by id."""
        build = self.created.build if self.created is not None else None
        return {str(o.element.id): o for o in (build.outputs if build is not None else ())}

    # -- the image ----------------------------------------------------------------------

    @cached_property
    def image(self) -> AppImage:
        self._require_success("read the image")
        assert self.created is not None
        _resolved, config = read_manifest_and_config(self.spec.image)
        return AppImage(self.spec.image, self.created.digest, config)

    @property
    def report(self) -> ExportReport:
        """What export did: digest, layers added and reused (``report.toml``'s content)."""
        self._require_success("read the report")
        assert self.created is not None and self.created.export is not None
        return self.created.export

    def sboms(self, kind: str = "launch") -> dict[str, Any]:
        """Every SBOM of ``kind`` (launch, build, cache) by path under ``<layers>/sbom/kind``:
        ``<escaped id>/sbom.cdx.json`` (the buildpack's) or ``<escaped id>/<layer>/sbom...``."""
        root = self.sbom_dir / kind
        if not root.is_dir():
            return {}
        return {
            str(path.relative_to(root)): json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(root.rglob("sbom.*.json"))
        }

    def sbom(
        self,
        buildpack: str,
        layer: str | None = None,
        *,
        kind: str = "launch",
        ext: str = "cdx.json",
    ) -> Any:
        """One SBOM document (a layer's, or the buildpack's own with ``layer=None``)."""
        escaped = buildpack.replace("/", "_")
        name = f"{escaped}/{layer}/sbom.{ext}" if layer else f"{escaped}/sbom.{ext}"
        documents = self.sboms(kind)
        if name not in documents:
            raise AssertionError(f"no {kind} SBOM {name} (SBOMs: {', '.join(documents) or 'none'})")
        return documents[name]

    # -- layers reused or rebuilt, read from the log ---------------------------------------

    @property
    def layers_reused(self) -> tuple[str, ...]:
        """``buildpack:layer`` of every image layer export reused (``Reusing layer '...'``)."""
        return tuple(_quoted(self.phases.get("EXPORTING", ""), "Reusing layer"))

    @property
    def layers_added(self) -> tuple[str, ...]:
        return tuple(_quoted(self.phases.get("EXPORTING", ""), "Adding layer"))

    def assert_layer_reused(self, layer: str, *, because: str = "") -> None:
        """``layer`` is ``buildpack:name``: export reused it and, when the buildpack logged
        its decision (``Reusing layer 'name' (cause)``), the cause contains ``because``."""
        buildpack, name = _split_layer(layer)
        if layer not in self.layers_reused:
            raise AssertionError(
                f"layer {layer} was not reused by export (added: "
                f"{', '.join(self.layers_added) or 'none'})\n{self.phases.get('EXPORTING', '')}"
            )
        self._check_cause(buildpack, name, "Reusing layer", because)

    def assert_layer_rebuilt(self, layer: str, *, because: str = "") -> None:
        """Export added ``layer`` anew, and the buildpack said why (``Rebuilding layer 'name':
        cause``) with a cause containing ``because``."""
        buildpack, name = _split_layer(layer)
        if layer not in self.layers_added:
            raise AssertionError(
                f"layer {layer} was not rebuilt: export reused it\n"
                f"{self.phases.get('EXPORTING', '')}"
            )
        if because:
            self._check_cause(buildpack, name, "Rebuilding layer", because)

    def assert_all_layers_reused(self) -> None:
        """Every buildpack layer and the app layers were reused: nothing was added."""
        added = [layer for layer in self.layers_added if not layer.startswith("buildpacksio/")]
        exporting = self.phases.get("EXPORTING", "")
        if added or not re.search(r"^Reused (\d+)/\1 app layer", exporting, re.MULTILINE):
            raise AssertionError(
                f"not every layer was reused (added: {', '.join(added) or 'app layers'})\n"
                f"{exporting}"
            )

    def _check_cause(self, buildpack: str, name: str, verb: str, because: str) -> None:
        output = self.buildpack_output.get(buildpack, "")
        lines = [line.strip() for line in output.splitlines() if f"'{name}'" in line]
        decisions = [line for line in lines if "layer" in line]
        if not decisions:
            if because:
                raise AssertionError(f"buildpack {buildpack} logged nothing about layer {name!r}")
            return
        wanted = [line for line in decisions if line.startswith(verb)]
        if not wanted or (because and not any(because in line for line in wanted)):
            raise AssertionError(
                f"expected {buildpack} to log {verb} '{name}'"
                + (f" because {because!r}" if because else "")
                + ", but it logged:\n  "
                + "\n  ".join(decisions)
            )

    # -- doing more with it ---------------------------------------------------------------

    def rebuild(
        self,
        *,
        files: Mapping[str, FileContent | None] | None = None,
        env: Mapping[str, str] | None = None,
        expect_failure: bool | None = None,
        **options: Any,
    ) -> ImageBuildResult:
        """Build again with the same cache and this build's image as the previous image (it is
        analyzed and its layers can be reused), into a new tag of the same layout; ``files``
        changes the app first (``None`` deletes one), ``env`` is merged into the build's."""
        spec = self.spec
        if files:
            _change_files(spec.app, files)
        if "buildpacks" in options:
            given = options["buildpacks"]
            given = [given] if isinstance(given, (str, Path)) else given
            try:
                options["buildpacks"] = tuple(str(_buildpack_ref(bp)) for bp in given)
            except HarnessInputError as error:
                pytest.fail(f"cnb_build: {error}", pytrace=False)
        new_env = {**spec.env, **(env or {})}
        changes: dict[str, Any] = {
            "env": new_env,
            "clear_cache": False,
            "generation": self.harness.next_generation(spec.directory),
            "previous_image": spec.image,
            **options,
        }
        if expect_failure is not None:
            changes["expect_failure"] = expect_failure
        return self.harness.build_spec(_replace(spec, **changes))

    def start(
        self,
        process: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        port: bool | int = True,
        args: Sequence[str] = (),
        wait: bool = True,
        timeout: float = 30.0,
    ) -> Any:
        """Start the image as ``cnbsdk run`` does (see ``testing.started_app``)."""
        from cnbsdk.testing.started_app import start_app

        self._require_success("start the image")
        return self.harness.track(
            start_app(
                self.spec.image,
                process=process,
                env=env or {},
                port=port,
                args=args,
                wait=wait,
                timeout=timeout,
            )
        )

    def run(
        self, command: str, *, env: Mapping[str, str] | None = None, timeout: float = 60.0
    ) -> Any:
        """Run ``command`` once in the image (through the launcher and bash, so the layers'
        launch env applies): a ``CommandRun`` with ``exit_code`` and ``output``."""
        from cnbsdk.testing.started_app import run_command

        self._require_success("run a command in the image")
        return run_command(self.spec.image, command, env=env or {}, timeout=timeout)

    def _require_success(self, what: str) -> None:
        if self.failure is not None:
            raise AssertionError(f"cannot {what}: {self.failure}")

    def __repr__(self) -> str:
        state = "ok" if self.failure is None else f"failed in {self.failure.phase}"
        return f"<ImageBuildResult {self.spec.image} {state}>"


def _quoted(text: str, prefix: str) -> Iterator[str]:
    for match in re.finditer(rf"^{prefix} '([^']*)'", text, re.MULTILINE):
        yield match.group(1)


def _split_layer(layer: str) -> tuple[str, str]:
    buildpack, colon, name = layer.rpartition(":")
    if not colon or not buildpack:
        raise ValueError(f"name the layer as 'buildpack-id:layer-name', not {layer!r}")
    return buildpack, name


def _replace(spec: BuildSpec, **changes: Any) -> BuildSpec:
    extra_keys = {k for k in changes if k not in BuildSpec.__dataclass_fields__}
    extra = {**spec.extra, **{k: changes.pop(k) for k in extra_keys}}
    return replace(spec, extra=extra, **changes)


def _change_files(app: Path, files: Mapping[str, FileContent | None]) -> None:
    for name, content in files.items():
        if content is None:
            target = app / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    write_files(app, {k: v for k, v in files.items() if v is not None})


# -- the fixture's engine ----------------------------------------------------------------------


class ImageHarness:
    """Builds for one test under ``root``; stops what the test started when it ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._count = 0
        self._builds = 0
        self._generations: dict[Path, int] = {}
        self._started: list[Any] = []

    def __call__(
        self,
        app: AppLike,
        buildpacks: Sequence[BuildpackRef] | BuildpackRef = (),
        *,
        builder: str | None = None,
        build_image: str | None = None,
        run_image: str | None = None,
        env: Mapping[str, str] | None = None,
        project_toml: str | Mapping[str, Any] | None = None,
        network: str = "default",
        clear_cache: bool = False,
        default_process: str | None = None,
        expect_failure: bool = False,
        **options: Any,
    ) -> ImageBuildResult:
        try:
            directory = self._next_dir()
            app_dir = self._app(app, directory)
            if project_toml is not None:
                text = (
                    project_toml
                    if isinstance(project_toml, str)
                    else tomli_w.dumps(dict(project_toml))
                )
                (app_dir / "project.toml").write_text(text, encoding="utf-8")
            if isinstance(buildpacks, (str, Path)):
                buildpacks = [buildpacks]
            spec = BuildSpec(
                app=app_dir,
                buildpacks=tuple(str(_buildpack_ref(bp)) for bp in buildpacks),
                builder=builder,
                build_image=build_image,
                run_image=run_image,
                env=dict(env or {}),
                network=network,
                clear_cache=clear_cache,
                default_process=default_process,
                expect_failure=expect_failure,
                directory=directory,
                extra=options,
            )
        except HarnessInputError as error:
            pytest.fail(f"cnb_build: {error}", pytrace=False)
        return self.build_spec(spec)

    def build_spec(self, spec: BuildSpec) -> ImageBuildResult:
        lines: list[str] = []
        self._builds += 1
        sbom_dir = spec.directory / f"sbom-{self._builds}"
        options = BuildOptions(
            app=spec.app,
            image=spec.image,
            buildpacks=spec.buildpacks,
            builder=spec.builder,
            build_image=spec.build_image,
            run_image=spec.run_image,
            env=tuple(f"{k}={v}" for k, v in spec.env.items()),
            cache_dir=spec.cache_dir,
            previous_image=spec.previous_image,
            clear_cache=spec.clear_cache,
            network=spec.network,
            default_process=spec.default_process,
            sbom_output_dir=sbom_dir,
            **spec.extra,
        )
        created: CreateResult | None = None
        failure: BuildFailure | None = None
        report: DetectReport | None = None
        exit_code = 0
        try:
            created = create(options, log=lines.append)
        except DetectionFailed as error:
            report = error.report
            exit_code = error.exit_code
            failure = BuildFailure("DETECTING", str(error), output=_detect_output(error.report))
        except BuildpackFailed as error:
            exit_code = error.exit_code
            failure = BuildFailure(
                "BUILDING", str(error), buildpack=str(error.element), output=error.output
            )
        except (CnbError, OSError) as error:
            phase = _current_phase(lines)
            if phase == PREPARING:  # nothing ran: the fixture's input is wrong
                pytest.fail(f"cnb_build: {_one_line(error)}", pytrace=False)
            exit_code = getattr(error, "exit_code", EXIT_ERROR)
            failure = BuildFailure(phase, _one_line(error), output="\n".join(lines[-LAST_LINES:]))
        result = ImageBuildResult(
            spec=spec,
            log="".join(f"{line}\n" for line in lines),
            exit_code=exit_code,
            failure=failure,
            created=created,
            sbom_dir=sbom_dir,
            harness=self,
            detect_report=created.detect if created is not None else report,
        )
        if failure is not None and not spec.expect_failure:
            pytest.fail(f"cnb_build: {failure}", pytrace=False)
        if failure is None and spec.expect_failure:
            pytest.fail(
                "cnb_build: expected the build to fail, but it succeeded:\n" + result.log,
                pytrace=False,
            )
        return result

    def next_generation(self, directory: Path) -> int:
        """A new image tag in ``directory``'s layout (rebuilds of rebuilds never collide)."""
        self._generations[directory] = self._generations.get(directory, 1) + 1
        return self._generations[directory]

    def track(self, started: Any) -> Any:
        self._started.append(started)
        return started

    def stop_all(self) -> None:
        while self._started:
            with contextlib.suppress(Exception):
                self._started.pop().stop()

    def _next_dir(self) -> Path:
        self._count += 1
        directory = self.root / f"build-{self._count}"
        directory.mkdir(parents=True)
        return directory

    def _app(self, app: AppLike, directory: Path) -> Path:
        """A private copy of the app (a test may change it before a rebuild)."""
        target = directory / "app"
        if isinstance(app, Mapping):
            target.mkdir()
            return write_files(target, app)
        source = Path(app)
        if not source.exists():
            raise HarnessInputError(f"the app {source} does not exist")
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        elif zipfile.is_zipfile(source):
            copied = directory / source.name
            shutil.copy2(source, copied)
            return copied  # a .jar/.zip is handed to the lifecycle as it is
        else:
            raise HarnessInputError(f"the app {source} is neither a directory nor a .jar/.zip")
        return target


def _buildpack_ref(buildpack: BuildpackRef) -> str | Path:
    if isinstance(buildpack, Path):
        if not buildpack.exists():
            raise HarnessInputError(f"the buildpack {buildpack} does not exist")
        return buildpack.resolve()
    return buildpack


def _current_phase(lines: Sequence[str]) -> str:
    for line in reversed(lines):
        if line.startswith("===> "):
            return line.removeprefix("===> ").strip()
    return PREPARING


def _one_line(error: BaseException) -> str:
    if isinstance(error, CnbError):
        return str(error)
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror}"
    return f"{type(error).__name__}: {error}"


def _detect_output(report: DetectReport) -> str:
    lines = []
    for attempt in report.attempts:
        for verdict in attempt.verdicts:
            lines.append(f"{verdict.element} {verdict.outcome}: {verdict.reason}")
            lines.extend(f"    {line}" for line in verdict.verdict.output.splitlines())
    return "\n".join(lines)


__all__ = ["AppImage", "BuildFailure", "ImageBuildResult", "ImageHarness"]
