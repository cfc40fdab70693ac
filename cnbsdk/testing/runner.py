"""Run a buildpack's detect or build the way the lifecycle would, and collect the result.

A plugin (an import ref, an installed id, a loaded ``BuildpackPlugin``) runs in-process
through ``cnbsdk.buildpack.runtime.main`` with the same argv, ``CNB_*`` environment and
working directory as ``bin/detect``/``bin/build`` get, so exit codes and files are real.
A packaged buildpack directory (a ``Path``) runs as a subprocess with a bare environment
(``PATH`` plus the ``CNB_*`` inputs), as the lifecycle runs it in a build container.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.buildpack.context import (
    BuildContext,
    DetectContext,
    make_build_context,
    make_detect_context,
)
from cnbsdk.buildpack.plugin import BuildpackPlugin, find_installed, load_plugin
from cnbsdk.errors import BuildpackError
from cnbsdk.lifecycle.build_env import with_user_env
from cnbsdk.spec.buildpack_plan import BuildpackPlan
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.ids import BuildpackId
from cnbsdk.testing.inputs import (
    PlanEntryLike,
    buildpack_plan,
    restore_from_previous_build,
    write_platform_dir,
)
from cnbsdk.testing.results import BuildRun, DetectRun

BuildpackLike = str | BuildpackPlugin | os.PathLike
# The PATH a packaged buildpack gets: what a Debian/Ubuntu build image has.
DEFAULT_SUBPROCESS_PATH = "/usr/local/bin:/usr/bin:/bin"
_IMPORT_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z0-9_.]+)?$")
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class BuildpackUnderTest:
    """A buildpack ready to run: a plugin (in-process) or a packaged directory (subprocess)."""

    buildpack_dir: Path
    descriptor: BuildpackDescriptor
    plugin_ref: str | None
    plugin: BuildpackPlugin | None = None

    @property
    def id(self) -> BuildpackId:
        return self.descriptor.buildpack.id

    def executable(self, phase: str) -> Path:
        return self.buildpack_dir / "bin" / phase


def resolve_buildpack(buildpack: BuildpackLike | BuildpackUnderTest) -> BuildpackUnderTest:
    """A ``Path`` is a packaged buildpack dir; a ``str`` is an import ref (``"my_bp"``,
    ``"pkg.mod:attr"``) or else an installed buildpack's id or entry-point name."""
    if isinstance(buildpack, BuildpackUnderTest):
        return buildpack
    if isinstance(buildpack, BuildpackPlugin):
        plugin = buildpack
    elif isinstance(buildpack, os.PathLike):
        directory = Path(buildpack)
        if not (directory / "bin" / "detect").is_file():
            raise BuildpackError(
                "not a packaged buildpack directory (no bin/detect)",
                file=str(directory),
                hint="pass an import ref or id as a str to run a plugin in-process",
            )
        descriptor = BuildpackDescriptor.read(directory / "buildpack.toml")
        return BuildpackUnderTest(directory.resolve(), descriptor, None)
    elif _IMPORT_REF.match(buildpack):
        try:
            plugin = load_plugin(buildpack)
        except BuildpackError:
            plugin = find_installed(buildpack)
    else:
        plugin = find_installed(buildpack)
    return BuildpackUnderTest(
        plugin.descriptor_path.parent, plugin.descriptor, plugin.ref, plugin=plugin
    )


def host_target() -> dict[str, str]:
    """``CNB_TARGET_*`` for this machine: linux and its architecture."""
    machine = platform.machine().lower()
    return {"os": "linux", "arch": _ARCH.get(machine, machine)}


def _target_env(target: Mapping[str, str]) -> dict[str, str]:
    keys = {
        "os": "CNB_TARGET_OS",
        "arch": "CNB_TARGET_ARCH",
        "arch_variant": "CNB_TARGET_ARCH_VARIANT",
        "distro_name": "CNB_TARGET_DISTRO_NAME",
        "distro_version": "CNB_TARGET_DISTRO_VERSION",
    }
    unknown = set(target) - set(keys)
    if unknown:
        raise ValueError(f"unknown target keys {sorted(unknown)}; use {sorted(keys)}")
    return {keys[k]: v for k, v in target.items() if v}


@contextlib.contextmanager
def _working_dir(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class BuildpackRunner:
    """Runs detect and build with fresh input directories under ``workdir``."""

    def __init__(self, workdir: Path, *, subprocess_path: str = DEFAULT_SUBPROCESS_PATH) -> None:
        self.workdir = Path(workdir)
        self.subprocess_path = subprocess_path

    def _fresh_dir(self, prefix: str) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.workdir))

    def _environ(
        self,
        bp: BuildpackUnderTest,
        platform_dir: Path,
        env: Mapping[str, str] | None,
        target: Mapping[str, str] | None,
        exec_env: str | None,
    ) -> dict[str, str]:
        if bp.plugin_ref is None:
            environ = {"PATH": self.subprocess_path}
        else:
            environ = {"PATH": os.environ.get("PATH", DEFAULT_SUBPROCESS_PATH)}
        if "HOME" in os.environ:
            environ["HOME"] = os.environ["HOME"]
        environ.update(env or {})
        if not bp.descriptor.buildpack.clear_env:
            environ = with_user_env(environ, platform_dir)
        environ["CNB_BUILDPACK_DIR"] = str(bp.buildpack_dir)
        environ["CNB_PLATFORM_DIR"] = str(platform_dir)
        environ.update(_target_env(host_target() if target is None else target))
        if exec_env:
            environ["CNB_EXEC_ENV"] = exec_env
        return environ

    def _run(
        self,
        bp: BuildpackUnderTest,
        phase: str,
        args: list[str],
        environ: dict[str, str],
        cwd: Path,
    ) -> tuple[int, str, str]:
        argv = [str(bp.executable(phase)), *args]
        if bp.plugin_ref is None:
            completed = subprocess.run(
                argv, cwd=cwd, env=environ, capture_output=True, text=True, check=False
            )
            return completed.returncode, completed.stdout, completed.stderr
        from cnbsdk.buildpack.runtime import main

        out, err = io.StringIO(), io.StringIO()
        with _working_dir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(bp.plugin_ref, argv, environ)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
        return code, out.getvalue(), err.getvalue()

    def _platform(self, platform_dir: Path | None) -> Path:
        return (
            platform_dir
            if platform_dir is not None
            else write_platform_dir(self._fresh_dir("platform-"))
        )

    def _build_inputs(
        self,
        bp: BuildpackUnderTest,
        prefix: str,
        layers_dir: Path | None,
        plan: BuildpackPlan | Iterable[PlanEntryLike],
    ) -> tuple[Path, Path]:
        """A fresh work dir holding the buildpack's layers dir (unless one is given, made
        writable by all as a build container's is) and the written plan: (layers, plan)."""
        work = self._fresh_dir(prefix)
        if layers_dir is None:
            layers_dir = work / "layers" / bp.id.escaped
            layers_dir.mkdir(parents=True)
            layers_dir.chmod(0o777)
        plan_path = work / "plan.toml"
        buildpack_plan(plan).write(plan_path)
        return layers_dir, plan_path

    def detect_context(
        self,
        buildpack: BuildpackLike | BuildpackUnderTest,
        app_dir: Path,
        *,
        platform_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        target: Mapping[str, str] | None = None,
    ) -> DetectContext:
        """The DetectContext a hook would get, for unit-testing helpers that take one."""
        bp = resolve_buildpack(buildpack)
        platform_dir = self._platform(platform_dir)
        return make_detect_context(
            app_dir=Path(app_dir),
            buildpack_dir=bp.buildpack_dir,
            platform_dir=platform_dir,
            environ=self._environ(bp, platform_dir, env, target, None),
            descriptor=bp.descriptor,
        )

    def build_context(
        self,
        buildpack: BuildpackLike | BuildpackUnderTest,
        app_dir: Path,
        *,
        plan: BuildpackPlan | Iterable[PlanEntryLike] = (),
        platform_dir: Path | None = None,
        layers_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        target: Mapping[str, str] | None = None,
    ) -> BuildContext:
        """The BuildContext a hook would get (fresh or given layers dir, written plan)."""
        bp = resolve_buildpack(buildpack)
        platform_dir = self._platform(platform_dir)
        layers_dir, plan_path = self._build_inputs(bp, "context-", layers_dir, plan)
        return make_build_context(
            app_dir=Path(app_dir),
            buildpack_dir=bp.buildpack_dir,
            platform_dir=platform_dir,
            layers_dir=layers_dir,
            plan_path=plan_path,
            environ=self._environ(bp, platform_dir, env, target, None),
            descriptor=bp.descriptor,
        )

    def detect(
        self,
        buildpack: BuildpackLike | BuildpackUnderTest,
        app_dir: Path,
        *,
        platform_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        target: Mapping[str, str] | None = None,
        exec_env: str | None = None,
    ) -> DetectRun:
        """Run detect on ``app_dir``; ``.plan`` is the build plan it wrote."""
        bp = resolve_buildpack(buildpack)
        platform_dir = self._platform(platform_dir)
        plan_path = self._fresh_dir("detect-") / "plan.toml"
        plan_path.touch()  # the lifecycle creates it, empty
        environ = self._environ(bp, platform_dir, env, target, exec_env)
        environ["CNB_BUILD_PLAN_PATH"] = str(plan_path)
        code, out, err = self._run(
            bp, "detect", [str(platform_dir), str(plan_path)], environ, Path(app_dir)
        )
        return DetectRun(
            exit_code=code,
            stdout=out,
            stderr=err,
            app_dir=Path(app_dir),
            platform_dir=platform_dir,
            plan_path=plan_path,
        )

    def build(
        self,
        buildpack: BuildpackLike | BuildpackUnderTest,
        app_dir: Path,
        *,
        plan: BuildpackPlan | Iterable[PlanEntryLike] = (),
        platform_dir: Path | None = None,
        layers_dir: Path | None = None,
        restore: BuildRun | Path | None = None,
        env: Mapping[str, str] | None = None,
        target: Mapping[str, str] | None = None,
        exec_env: str | None = None,
    ) -> BuildRun:
        """Run build on ``app_dir`` with a buildpack plan (entries as names, dicts or
        PlanEntry). ``layers_dir`` is this buildpack's layers dir, e.g. one prepared with
        ``restore_layer``; ``restore`` instead restores one from a previous build (its
        ``BuildRun`` or layers dir) as the lifecycle's restorer would."""
        bp = resolve_buildpack(buildpack)
        platform_dir = self._platform(platform_dir)
        layers_dir, plan_path = self._build_inputs(bp, "build-", layers_dir, plan)
        if restore is not None:
            previous = restore.layers_dir if isinstance(restore, BuildRun) else Path(restore)
            restore_from_previous_build(previous, layers_dir)
        environ = self._environ(bp, platform_dir, env, target, exec_env)
        environ["CNB_LAYERS_DIR"] = str(layers_dir)
        environ["CNB_BP_PLAN_PATH"] = str(plan_path)
        code, out, err = self._run(
            bp,
            "build",
            [str(layers_dir), str(platform_dir), str(plan_path)],
            environ,
            Path(app_dir),
        )
        return BuildRun(
            exit_code=code,
            stdout=out,
            stderr=err,
            app_dir=Path(app_dir),
            platform_dir=platform_dir,
            layers_dir=layers_dir,
            api=bp.descriptor.api,
        )
