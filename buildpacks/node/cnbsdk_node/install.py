"""Node.js, npm and the app's modules, each in its own layer.

- ``node`` (build + launch): the runtime from the catalog, keyed on its checksum; its
  headers serve node-gyp (``npm_config_nodedir``), so native addons build offline.
- ``npm`` (build only): npm from the catalog, run by the layer's node.
- ``npm-cache`` (cache only): npm's download cache, so a changed lockfile downloads only
  what changed.
- ``build-modules`` (cache only, when build scripts run): every dependency, dev ones too.
- ``launch-modules`` (launch): production dependencies only; ``<app>/node_modules`` links to
  it. Both module layers are reused while the lockfile (or package.json), Node.js and npm
  are the same — then no package manager runs at all.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import LayerEnv, Scope
from cnbsdk.buildpack.cache_keys import files_digest
from cnbsdk.buildpack.layers import LayerRef
from cnbsdk.buildpack.tools import run_tool
from cnbsdk.spec.toml_file import write_if_changed
from cnbsdk_node.package_managers import PackageManager
from cnbsdk_node.project import NodeProject

MODULES_FORMAT = 1  # bump when the layout of the module layers changes


@dataclass(frozen=True)
class Toolchain:
    node: LayerRef
    npm: LayerRef
    cache: LayerRef
    node_version: str
    npm_version: str
    manager: PackageManager
    corepack: LayerRef | None = None  # for yarn and pnpm

    def command(self) -> list[str]:
        """How the package manager is called: ``npm``, or corepack with the app's spec."""
        if self.manager.name == "npm":
            return ["npm"]
        assert self.corepack is not None
        return ["node", str(self.corepack.path / "dist" / "corepack.js"), self.manager.spec]


def configure_node_layer(layer: LayerRef) -> None:
    """The runtime's env: NODE_HOME everywhere, node-gyp's headers at build time,
    NODE_ENV=production at launch unless the user sets it."""
    env = LayerEnv()
    env.override("NODE_HOME", str(layer.path))
    env.default("npm_config_nodedir", str(layer.path), Scope.BUILD)
    env.default("NODE_ENV", "production", Scope.LAUNCH)
    layer.write_env(env)


def configure_npm_layer(layer: LayerRef) -> None:
    """npm's own ``bin/npm`` looks for npm beside node; these run the layer's copy (left
    alone when a reused layer already has them, so the layer is not tarred again)."""
    for name, script in (("npm", "npm-cli.js"), ("npx", "npx-cli.js")):
        wrapper = layer.path / "bin" / name
        if wrapper.is_symlink():
            wrapper.unlink()
        text = f'#!/bin/sh\nexec node "{layer.path / "bin" / script}" "$@"\n'
        write_if_changed(wrapper, text, 0o755)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def tool_env(
    environ: Mapping[str, str],
    tools: Toolchain,
    secrets_env: Mapping[str, str],
    project_root: Path,
) -> dict[str, str]:
    """The env ``npm`` runs with: our node and npm first on PATH, the cache in its layer,
    node-gyp's headers from the node layer, no update checks, audits or funding notes."""
    env = {k: v for k, v in environ.items() if not k.startswith("CNB_")}
    env["PATH"] = os.pathsep.join(
        [
            str(tools.node.path / "bin"),
            str(tools.npm.path / "bin"),
            environ.get("PATH", "/usr/bin:/bin"),
        ]
    )
    env["NODE_HOME"] = str(tools.node.path)
    # node-gyp's headers. npm 11+ warns about npm_config_ keys it does not know (nodedir is
    # node-gyp's), so npm gets node-gyp's own package-config form (node-gyp 11.1+, which npm
    # 11 and 12 carry); yarn and pnpm the classic one.
    env["npm_package_config_node_gyp_nodedir"] = str(tools.node.path)
    if tools.manager.name == "npm":
        env.pop("npm_config_nodedir", None)
    else:
        env["npm_config_nodedir"] = str(tools.node.path)
    env["npm_config_cache"] = str(tools.cache.path)
    env["npm_config_update_notifier"] = "false"
    env["npm_config_fund"] = "false"
    env["npm_config_audit"] = "false"
    # file: dependencies copied in, not linked: node_modules moves into a layer
    env["npm_config_install_links"] = "true"
    env["NODE_DISABLE_COMPILE_CACHE"] = "1"  # node would keep one in /tmp, lost anyway
    env.setdefault("HOME", str(tools.cache.path))
    # The registry: the user's npm_config_registry, else an npmrc binding's .npmrc, else
    # the one the catalog's npm: URIs use (an env var would override the binding's file).
    binding_npmrc = "NPM_CONFIG_USERCONFIG" in secrets_env
    if "npm_config_registry" not in env and not binding_npmrc and environ.get("BP_NPM_REGISTRY"):
        env["npm_config_registry"] = environ["BP_NPM_REGISTRY"]
    if tools.manager.name != "npm":
        cache = tools.cache.path
        env.setdefault("COREPACK_HOME", str(cache / "corepack"))
        env["COREPACK_ENABLE_DOWNLOAD_PROMPT"] = "0"
        env["COREPACK_ENABLE_AUTO_PIN"] = "0"
        env["COREPACK_ENABLE_STRICT"] = "0"
        registry = env.get("npm_config_registry", "").rstrip("/")
        if registry:
            env.setdefault("COREPACK_NPM_REGISTRY", registry)
            env.setdefault("YARN_NPM_REGISTRY_SERVER", registry)
        env.setdefault("YARN_CACHE_FOLDER", str(cache / "yarn"))
        env.setdefault("YARN_ENABLE_GLOBAL_CACHE", "false")
        env.setdefault("YARN_ENABLE_TELEMETRY", "0")
        env.setdefault("npm_config_store_dir", str(cache / "pnpm-store"))
        if "NODE_EXTRA_CA_CERTS" in env:
            env.setdefault("YARN_HTTPS_CA_FILE_PATH", env["NODE_EXTRA_CA_CERTS"])
        if tools.manager.berry and "nodeLinker" not in _read(project_root / ".yarnrc.yml"):
            env.setdefault("YARN_NODE_LINKER", "node-modules")  # layers hold node_modules
    env.update(secrets_env)
    return env


def local_dependency_dirs(project: NodeProject) -> list[str]:
    """The directories of ``file:`` dependencies below the app (their sources count)."""
    found = []
    for field in ("dependencies", "devDependencies", "optionalDependencies"):
        table = project.package.get(field)
        if not isinstance(table, dict):
            continue
        for spec in table.values():
            if isinstance(spec, str) and spec.startswith("file:"):
                path = os.path.normpath(spec[len("file:") :].strip())
                inside = not os.path.isabs(path) and path != "." and not path.startswith("..")
                if inside and (project.root / path).is_dir():
                    found.append(path)
    return sorted(set(found))


def modules_key(project: NodeProject, tools: Toolchain, *, dev: bool) -> dict[str, Any]:
    local = local_dependency_dirs(project)
    patterns = ["package.json", *tools.manager.lockfiles, ".yarnrc.yml", ".npmrc", *local]
    key = {
        "format": MODULES_FORMAT,
        "dependencies": files_digest(
            project.root, patterns, exclude=["**/node_modules", "**/build", "node_modules"]
        ),
        "node": tools.node_version,
        "npm": tools.npm_version,
        "dev": dev,
    }
    if tools.manager.name != "npm":
        key["package-manager"] = tools.manager.spec
    return key


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def install_modules(
    context: Any,
    project: NodeProject,
    tools: Toolchain,
    env: Mapping[str, str],
    scripts: Sequence[str],
    secrets: Sequence[str],
) -> LayerRef:
    """Install the app's dependencies, run its build scripts, and leave
    ``<app>/node_modules`` linked to the launch layer of production dependencies."""
    logger = context.logger

    manager = tools.manager

    def npm(*args: str) -> None:
        run = run_tool(
            [*tools.command(), *args], logger=logger, cwd=project.root, env=env, secrets=secrets
        )
        warn_blocked_scripts(run.output, logger)

    app_modules = project.root / "node_modules"
    if app_modules.is_dir() and not app_modules.is_symlink():
        return _vendored(context, project, tools, scripts, npm)
    _remove(app_modules)

    # Both keys from the app as given: package managers rewrite package.json and lockfiles.
    launch_key = modules_key(project, tools, dev=False)
    if scripts:
        build = context.layers.cached("build-modules", modules_key(project, tools, dev=True))
        if build.reused:
            shutil.copytree(build.path / "node_modules", app_modules, symlinks=True)
            _restore_lockfile(build, project, manager.lockfiles)
        else:
            npm(*manager.install(dev=True))
            if app_modules.is_dir():
                shutil.copytree(app_modules, build.path / "node_modules", symlinks=True)
            if manager.lockfile is None:
                _keep_lockfile(build, project, manager.lockfiles)
        for script in scripts:
            npm(*manager.run(script))

    launch: LayerRef = context.layers.cached("launch-modules", launch_key, launch=True)
    target = launch.path / "node_modules"
    if launch.reused:
        _remove(app_modules)
    else:
        if not scripts:
            npm(*manager.install(dev=False))
        elif app_modules.is_dir():
            npm(*manager.prune())
        _move_into(app_modules, target)
    _link(launch, project)
    forget_pnpm_projects(tools.cache.path)
    return launch


def _keep_lockfile(layer: LayerRef, project: NodeProject, names: Sequence[str]) -> None:
    """An app without a lockfile gets one from its install; the build scripts' package
    manager (yarn berry) needs it again when the installed tree is reused."""
    for name in names:
        if (project.root / name).is_file():
            (layer.path / "lockfile").mkdir(exist_ok=True)
            shutil.copyfile(project.root / name, layer.path / "lockfile" / name)


def _restore_lockfile(layer: LayerRef, project: NodeProject, names: Sequence[str]) -> None:
    for name in names:
        kept = layer.path / "lockfile" / name
        if kept.is_file() and not (project.root / name).exists():
            shutil.copyfile(kept, project.root / name)


_SCRIPTS_NOTE = re.compile(r"^npm warn install-scripts\s+(\S+@\S+) \(")


def warn_blocked_scripts(output: str, logger: Any) -> None:
    """npm 12 runs a dependency's install scripts only when package.json's ``allowScripts``
    approves them; a skipped one (a native addon not compiled) deserves more than npm's
    note. (npm 11 only mentions unapproved scripts, and runs them.)"""
    lines = [line.strip() for line in output.splitlines()]
    if not any(line.startswith("npm warn install-scripts") and "blocked" in line for line in lines):
        return
    blocked = [m.group(1) for line in lines if (m := _SCRIPTS_NOTE.match(line))]
    if blocked:
        logger.warning(
            f"npm skipped the install scripts of {', '.join(blocked)}: they are not approved"
            " in package.json's allowScripts (run `npm approve-scripts` in the app, or build"
            " with BP_NPM_VERSION=11), so what they build (native addons) is missing"
        )


def _vendored(
    context: Any,
    project: NodeProject,
    tools: Toolchain,
    scripts: Sequence[str],
    npm: Any,
) -> LayerRef:
    """The app ships its ``node_modules``: nothing is downloaded; ``npm rebuild`` compiles
    native addons against our Node.js, and the tree (as shipped) becomes the launch layer."""
    context.logger.process("Using the app's own node_modules (npm rebuild; nothing downloaded)")
    key = {
        **modules_key(project, tools, dev=False),
        "vendored": files_digest(project.root, ["node_modules"]),
    }
    launch: LayerRef = context.layers.cached("launch-modules", key, launch=True)
    app_modules = project.root / "node_modules"
    if launch.reused:
        _remove(app_modules)
    else:
        if tools.manager.name == "npm":
            npm("rebuild", "--no-audit", "--no-fund")
        _move_into(app_modules, launch.path / "node_modules")
    _link(launch, project)
    for script in scripts:
        npm(*tools.manager.run(script))
    return launch


def forget_pnpm_projects(cache: Path) -> None:
    """pnpm's store keeps links back to the projects that use it (``v10/projects``); links
    out of a layer are refused, and the store does not need them."""
    for projects in cache.glob("pnpm-store/*/projects"):
        shutil.rmtree(projects, ignore_errors=True)


def _move_into(app_modules: Path, target: Path) -> None:
    _remove(target)
    if app_modules.is_dir():
        _copy_local_links(app_modules)
        shutil.move(str(app_modules), str(target))
    else:
        target.mkdir()


def _copy_local_links(modules: Path) -> None:
    """npm links ``file:`` dependencies inside the app (``node_modules/addon -> ../addon``);
    such a relative link breaks once the tree moves into a layer, so it becomes a copy of
    what it points at (with what its install scripts built there)."""
    entries = [p for p in modules.iterdir() if not p.name.startswith(".")]
    entries += [q for p in entries if p.name.startswith("@") and p.is_dir() for q in p.iterdir()]
    for entry in entries:
        if not entry.is_symlink():
            continue
        source = entry.resolve()
        if source.is_dir() and modules.resolve() not in source.parents:
            entry.unlink()
            shutil.copytree(source, entry, symlinks=True)


def _link(launch: LayerRef, project: NodeProject) -> None:
    """``<app>/node_modules`` → the launch layer's, and its ``.bin`` on PATH at launch."""
    os.symlink(launch.path / "node_modules", project.root / "node_modules")
    path_env = LayerEnv()
    path_env.prepend("PATH", str(project.root / "node_modules" / ".bin"), os.pathsep, Scope.LAUNCH)
    launch.write_env(path_env)
