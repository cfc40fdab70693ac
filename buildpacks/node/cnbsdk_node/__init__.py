"""cnbsdk/node: Node.js apps built the way Paketo's and Heroku's Node.js buildpacks do.

Hooks only; each step lives in its own module: ``project`` (package.json), ``versions``
(which Node.js), ``install`` (node, npm and module layers), ``processes``, ``sbom`` and
``launch`` (memory sizing at start). docs/node.md is the user's manual.
"""

from __future__ import annotations

from collections.abc import Mapping

from cnbsdk.buildpack import (
    BuildContext,
    BuildpackError,
    BuildResult,
    DetectContext,
    DetectResult,
    Sbom,
    hookimpl,
)
from cnbsdk.buildpack.dependency_layer import dependency_layer
from cnbsdk.deps import Dependencies
from cnbsdk.deps.planner import VersionRequest, plan_version
from cnbsdk_node.install import (
    Toolchain,
    configure_node_layer,
    configure_npm_layer,
    install_modules,
    tool_env,
)
from cnbsdk_node.launch import install_memory_program
from cnbsdk_node.package_managers import package_manager
from cnbsdk_node.processes import processes
from cnbsdk_node.project import NodeProject, read_project
from cnbsdk_node.sbom import launch_components, lockfile_components
from cnbsdk_node.secrets import npm_auth
from cnbsdk_node.versions import version_requests

MARKERS = ("package.json", ".nvmrc", ".node-version")


@hookimpl
def detect(context: DetectContext) -> DetectResult:
    project = read_project(context.app_dir, context.environ)
    if not any((project.root / name).is_file() for name in MARKERS):
        where = "" if project.root == context.app_dir else f" in {project.root}"
        return DetectResult.fail(f"no package.json, .nvmrc or .node-version{where}")
    return DetectResult.passed(provides=["node"], requires=["node"])


@hookimpl
def build(context: BuildContext) -> BuildResult:
    logger = context.logger
    environ = {**context.platform_env, **context.environ}
    project = read_project(context.app_dir, environ)
    dependencies = Dependencies.from_context(context)

    node = plan_version(
        dependencies, "node", version_requests(project, environ), name="Node.js", logger=logger
    ).dependency
    node_layer = dependency_layer(context, node, "node", build=True, launch=True)
    configure_node_layer(node_layer)
    install_memory_program(node_layer)
    npm_requests = [
        VersionRequest("BP_NPM_VERSION", environ.get("BP_NPM_VERSION", "")),
        VersionRequest('package.json "engines.npm"', project.engine("npm") or ""),
    ]
    npm = plan_version(dependencies, "npm", npm_requests, name="npm", logger=logger).dependency
    npm_layer = dependency_layer(context, npm, "npm", build=True)
    configure_npm_layer(npm_layer)
    cache = context.layers.cached("npm-cache")
    manager = package_manager(project)
    corepack_layer = None
    if manager.name != "npm":
        logger.process(f"Package manager: {manager.spec} (through corepack)")
        corepack = plan_version(dependencies, "corepack", [], name="corepack", logger=logger)
        corepack_layer = dependency_layer(context, corepack.dependency, "corepack", build=True)
    tools = Toolchain(
        node_layer, npm_layer, cache, node.version, npm.version, manager, corepack_layer
    )

    modules = None
    if project.package:
        auth = npm_auth(context, environ)
        env = tool_env(environ, tools, auth.env, project.root)
        scripts = _build_scripts(project, environ)
        modules = install_modules(context, project, tools, env, scripts, auth.secrets)

    found, source = processes(project, context.app_dir)
    if found:
        logger.process(f"Processes from {source}")
    else:
        logger.warning('no process: add a Procfile, a "start" script or a server.js/index.js')
    _production, dev = lockfile_components(manager.lockfile)
    installed = modules.path / "node_modules" if modules is not None else None
    return BuildResult(
        processes=found,
        launch_sbom=[Sbom.cyclonedx(launch_components(node, manager.lockfile, installed))],
        build_sbom=[Sbom.cyclonedx(dev)] if dev else [],
    )


def _build_scripts(project: NodeProject, environ: Mapping[str, str]) -> list[str]:
    """The package.json scripts run at build time: ``BP_NODE_RUN_SCRIPTS`` (comma separated),
    else ``build`` when there is one."""
    wanted = environ.get("BP_NODE_RUN_SCRIPTS")
    if wanted is not None and wanted.strip():
        names = [name.strip() for name in wanted.split(",") if name.strip()]
        missing = [name for name in names if name not in project.scripts]
        if missing:
            raise BuildpackError(
                f"BP_NODE_RUN_SCRIPTS names {missing[0]!r}, which package.json's scripts lack",
                file=str(project.package_json),
            )
        return names
    return ["build"] if "build" in project.scripts else []
