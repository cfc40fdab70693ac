"""cnbsdk/python: Python apps built the way Heroku's and Paketo's Python buildpacks do.

Hooks only; each step lives in its own module: ``project`` (which files, which installer),
``versions`` (which CPython), ``cpython`` (the interpreter's layer), ``tools`` and
``installers`` (pip, uv, Poetry and the venv), ``bytecode``, ``django``, ``processes``,
``launch`` (worker count at start) and ``sbom``. docs/python.md is the user's manual.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import (
    CYCLONEDX_JSON,
    BuildContext,
    BuildResult,
    DetectContext,
    DetectResult,
    Sbom,
    Scope,
    hookimpl,
)
from cnbsdk.buildpack.dependency_layer import dependency_component, dependency_layer
from cnbsdk.buildpack.layers import LayerRef
from cnbsdk.deps import Dependencies
from cnbsdk.deps.planner import plan_version
from cnbsdk_python import cpython
from cnbsdk_python.bytecode import APP_EXCLUDE, compile_tree
from cnbsdk_python.django import collectstatic
from cnbsdk_python.index import index_config
from cnbsdk_python.installers import (
    Interpreter,
    activate,
    base_env,
    create_venv,
    pip_install,
    poetry_install,
    site_packages,
    uv_install,
    venv_key,
)
from cnbsdk_python.launch import install_concurrency_program
from cnbsdk_python.processes import processes
from cnbsdk_python.project import (
    MARKERS,
    NONE,
    PIP,
    PIP_PROJECT,
    POETRY,
    UV,
    is_python_app,
    read_project,
)
from cnbsdk_python.sbom import installed_distributions
from cnbsdk_python.tools import poetry_layer, tool_layer
from cnbsdk_python.versions import version_requests

DEFAULT_PORT = "8080"


@hookimpl
def detect(context: DetectContext) -> DetectResult:
    if not is_python_app(context.app_dir):
        return DetectResult.fail(f"none of {', '.join(MARKERS)}")
    return DetectResult.passed(provides=["cpython"], requires=["cpython"])


@hookimpl
def build(context: BuildContext) -> BuildResult:
    logger = context.logger
    environ = {**context.platform_env, **context.environ}
    project = read_project(context.app_dir)
    for note in project.notes:
        logger.warning(note)

    stack = cpython.find_stack_python()
    dependencies = cpython.with_stack_python(Dependencies.from_context(context), stack)
    planned = plan_version(
        dependencies, "cpython", version_requests(project, environ), name="CPython", logger=logger
    ).dependency
    from_stack = planned.uri.startswith(cpython.STACK_SCHEME)
    headers = cpython.stack_headers(stack) if from_stack else None
    python_layer = _cpython_layer(context, planned, stack, headers)
    interpreter = Interpreter(_python_in(python_layer), planned.version, planned.checksum)

    components = [dependency_component(planned)]
    run_python = str(interpreter.python)
    venv: LayerRef | None = None
    if project.installer != NONE:
        venv = _install_packages(context, project, interpreter, dependencies, environ, headers)
        run_python = "python"
    site = site_packages(venv.path) if venv is not None else None
    installed = installed_distributions(site)
    names = {c.name for c in installed}

    if venv is not None:
        env = _venv_env(environ, venv)
        collectstatic(context.app_dir, names, venv.path / "bin" / "python", environ, env, logger)
    if not compile_tree(
        interpreter.python,
        [context.app_dir],
        logger=logger,
        checked=True,
        exclude=APP_EXCLUDE,
        strict=False,
    ):
        logger.warning("some of the app's .py files do not compile: they are left as they are")

    found, source = processes(context.app_dir, names, run_python)
    if found:
        logger.process(f"Processes from {source}")
    else:
        logger.warning("no process: add a Procfile (web: gunicorn app:app), or a main.py or app.py")
    sbom = [Sbom.cyclonedx([*components, *installed])]
    if venv is not None and CYCLONEDX_JSON in context.layers.sbom_formats:
        venv.write_sbom(Sbom.cyclonedx(installed))
    return BuildResult(processes=found, launch_sbom=sbom)


def _python_in(layer: LayerRef) -> Path:
    found = sorted(layer.path.glob("bin/python3.*"))
    return found[0] if found else layer.path / "bin" / "python3"


def _cpython_layer(
    context: Any, planned: Any, stack: cpython.StackPython | None, headers: Path | None
) -> LayerRef:
    """The interpreter's layer (build and launch): the stack's copied, or a catalog one."""
    logger = context.logger
    if not planned.uri.startswith(cpython.STACK_SCHEME) or stack is None:
        layer = dependency_layer(context, planned, "cpython", build=True, launch=True)
    else:
        layer = context.layers.cached(
            "cpython", cpython.layer_key(planned, stack), build=True, launch=True
        )
        if not layer.reused:
            logger.process(f"Installing CPython {planned.version} (the stack's {stack.package})")
            bundled = cpython.install_stack_python(stack, layer, logger)
            if bundled:
                logger.detail(f"With libraries the run image lacks: {', '.join(bundled)}")
            cpython.check_runs(layer, stack.package)
            compile_tree(_python_in(layer), [layer.path / "lib"], logger=logger)
        sbom = [dependency_component(planned)]
        sbom += cpython.library_components(layer, cpython.bundled_sonames(layer))
        if CYCLONEDX_JSON in context.layers.sbom_formats:
            layer.write_sbom(Sbom.cyclonedx(sbom))
    if headers is None and planned.uri.startswith(cpython.STACK_SCHEME):
        logger.detail(
            "The build image has no Python.h: packages without a wheel cannot be compiled"
        )
    env = cpython.layer_env(layer, headers)
    env.default("PORT", DEFAULT_PORT, Scope.LAUNCH)
    layer.write_env(env)
    install_concurrency_program(layer)
    return layer


def _venv_env(environ: dict[str, str], venv: LayerRef) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if not k.startswith("CNB_")}
    env["VIRTUAL_ENV"] = str(venv.path)
    env["PATH"] = os.pathsep.join([str(venv.path / "bin"), environ.get("PATH", "/usr/bin:/bin")])
    return env


def _install_packages(
    context: Any,
    project: Any,
    interpreter: Interpreter,
    dependencies: Dependencies,
    environ: dict[str, str],
    headers: Path | None,
) -> LayerRef:
    """The venv layer: reused, or made and filled by the project's installer."""
    logger = context.logger
    if project.installer in (PIP, PIP_PROJECT):
        installer, cache_name = tool_layer(context, dependencies, "pip", "pip"), "pip-cache"
    elif project.installer == UV:
        installer, cache_name = tool_layer(context, dependencies, "uv", "uv"), "uv-cache"
    else:  # Poetry's wheels are installed by pip
        pip = tool_layer(context, dependencies, "pip", "pip")
        installer, cache_name = poetry_layer(context, dependencies, pip, logger), "poetry-cache"
    cache = context.layers.cached(cache_name)
    venv: LayerRef = context.layers.cached(
        "venv", venv_key(project, interpreter, installer), launch=True, build=True
    )
    if venv.reused:
        return venv
    index = index_config(context, environ)
    if index.source:
        logger.process(f"Package index from {index.source}")
    env = base_env(environ, index.env)
    if headers is not None:  # C extensions compile against the build image's headers
        env["CPATH"] = os.pathsep.join(filter(None, [str(headers), environ.get("CPATH", "")]))
    python = create_venv(interpreter, venv.path, logger)
    if project.installer in (PIP, PIP_PROJECT):
        pip_install(project, python, installer, cache, env, index.secrets, logger)
    elif project.installer == UV:
        uv_install(project, venv.path, installer, cache, env, index.secrets, logger)
    elif project.installer == POETRY:
        poetry_install(project, venv.path, installer, cache, env, index.secrets, logger)
    site = site_packages(venv.path)
    if site is not None:
        compile_tree(interpreter.python, [site], logger=logger)
    activate(venv)
    return venv
