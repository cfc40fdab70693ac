"""The environment given to a buildpack's ``bin/detect`` and ``bin/build`` (digest §3.7, §3.8;
lifecycle ``env/build.go``, ``env/env.go``), in the lifecycle's order:

1. the lifecycle's own env **filtered** to a few variables (``filtered_base_env``);
2. the ``build=true`` layers of *earlier* buildpacks, in group order and, within one
   buildpack, in ascending layer name order (``with_buildpack_layers``): per layer its root
   dirs (``bin`` -> ``PATH`` ...) prepended with ``:``, then ``env/`` and ``env.build/``;
3. the user env ``<platform>/env/<NAME>`` (``with_user_env``), unless ``clear-env = true``;
4. the operator env ``<build-config>/env/`` (``with_operator_env``), where no suffix means
   ``default``, always applied;
5. the ``CNB_*`` inputs (``detect_env``, ``build_env``) for the buildpack's API: before 0.8
   only ``CNB_BUILDPACK_DIR`` (such buildpacks read the positional arguments), the paths from
   0.8, ``CNB_TARGET_*`` from 0.10, ``CNB_EXEC_ENV`` from 0.12 (``cnb_inputs``).

Values are ``str`` decoded from bytes with ``os.fsdecode`` (the file system encoding with
``surrogateescape``), the same convention as ``os.environ``: any byte sequence round-trips
exactly when ``subprocess`` encodes the env again, so a file's content reaches the
buildpack byte for byte (no newline stripped). Every function returns a new dict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cnbsdk.buildpack.env import APPEND, DEFAULT, OVERRIDE, PREPEND, apply_modification
from cnbsdk.errors import BuildError
from cnbsdk.lifecycle import buildpack_files
from cnbsdk.lifecycle.order import LocatedBuildpack
from cnbsdk.spec.ids import ApiVersion
from cnbsdk.spec.layer_toml import LayerContentMetadata
from cnbsdk.spec.target import Target

Env = dict[str, str]

# Root directories of a build layer and the variables they are prepended to (LC POSIXBuildEnv).
ROOT_DIRS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bin", ("PATH",)),
    ("lib", ("LD_LIBRARY_PATH", "LIBRARY_PATH")),
    ("include", ("CPATH",)),
    ("pkgconfig", ("PKG_CONFIG_PATH",)),
)
PATH_VARS: tuple[str, ...] = tuple(name for _, names in ROOT_DIRS for name in names)
# The only variables of the lifecycle's own env that reach a buildpack (LC BuildEnvIncludelist).
PASSED_THROUGH: tuple[str, ...] = (
    "CNB_STACK_ID",
    "HOSTNAME",
    "HOME",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    *PATH_VARS,
)
PATH_SEPARATOR = ":"

# buildpack.md 0.8: inputs arrive as CNB_* variables (before, only as positional arguments);
# 0.10: CNB_TARGET_*; 0.12: CNB_EXEC_ENV (digest §0.1, lifecycle buildpack/detect.go).
CNB_INPUTS_API = ApiVersion(0, 8)
TARGET_ENV_API = ApiVersion(0, 10)
EXEC_ENV_API = ApiVersion(0, 12)
# Given whatever the API: the lifecycle sets it for every buildpack (buildpack/build.go).
ALWAYS_GIVEN: tuple[str, ...] = ("CNB_BUILDPACK_DIR",)

# LC env.go: a file "NAME." (empty suffix) is the pre-0.5 prepend-path action.
_PREPEND_PATH = ""
_ACTIONS = (OVERRIDE, DEFAULT, PREPEND, APPEND, _PREPEND_PATH)


def filtered_base_env(environ: Mapping[str, str] | None = None) -> Env:
    """The lifecycle's own env (default ``os.environ``) with only the passed-through vars."""
    source = os.environ if environ is None else environ
    return {name: source[name] for name in PASSED_THROUGH if name in source}


# -- layers of earlier buildpacks -------------------------------------------------------------


def with_buildpack_layers(
    env: Mapping[str, str], buildpack_layers_dir: str | os.PathLike[str]
) -> Env:
    """``env`` after one buildpack's build: each ``build=true`` layer, in ``<layer>.toml``
    name order (how the lifecycle walks them), adds its root dirs, ``env/`` and ``env.build/``.
    Layers whose toml has ``build`` false (or no ``[types]``) change nothing.
    """
    result = dict(env)
    directory = Path(buildpack_layers_dir)
    if not directory.is_dir():
        return result
    for toml_path in _sorted_entries(directory):
        if not toml_path.name.endswith(".toml") or toml_path.is_dir():
            continue
        layer_dir = toml_path.with_name(toml_path.name[: -len(".toml")])
        if layer_dir.name in ("launch", "build", "store"):
            continue  # launch.toml, build.toml and store.toml are not layers
        metadata = buildpack_files.read_model(LayerContentMetadata, toml_path, root=directory)
        if not metadata.effective_types.build:
            continue
        result = with_build_layer(result, layer_dir)
    return result


def with_build_layer(
    env: Mapping[str, str], layer_dir: str | os.PathLike[str], *, shown_as: str | None = None
) -> Env:
    """One build layer: root dirs prepended, then ``env/``, then ``env.build/``. The root
    dirs go in at ``shown_as`` (where the buildpack sees the layer, e.g. in the sandbox),
    by default the host path; the env files are read on the host."""
    layer = Path(layer_dir).absolute()
    shown = shown_as if shown_as is not None else os.fsdecode(layer)
    result = dict(env)
    for child, names in ROOT_DIRS:
        if (layer / child).is_dir():
            for name in names:
                result[name] = f"{shown}/{child}" + _joined_before(result.get(name, ""), ":")
    # The env files are the buildpack's: read below its directory, through no link.
    root = layer.parent
    result = with_env_dir(result, layer / "env", default_action=OVERRIDE, root=root)
    return with_env_dir(result, layer / "env.build", default_action=OVERRIDE, root=root)


def with_env_dir(
    env: Mapping[str, str],
    env_dir: str | os.PathLike[str],
    *,
    default_action: str = OVERRIDE,
    root: str | os.PathLike[str] | None = None,
) -> Env:
    """Apply one env directory: files in name order, ``NAME.<suffix>`` (digest §3.7).

    No suffix means ``default_action`` (override for layers, default for the operator env);
    ``.prepend``/``.append`` join with the content of ``NAME.delim`` in the same directory,
    or with nothing; ``.default`` sets only an empty variable; unknown suffixes are ignored.
    Files are read below ``root`` (default: the directory itself) through no symlink.
    """
    result = dict(env)
    directory = Path(env_dir)
    inside = Path(root) if root is not None else directory
    for path in _env_files(directory):
        name, dot, action = path.name.partition(".")
        if not dot:
            action = default_action
        if action not in _ACTIONS or not name:
            continue
        value = _read_value(path, inside)
        fallback = PATH_SEPARATOR if action == _PREPEND_PATH else ""
        if action == _PREPEND_PATH:
            action = PREPEND
        delim = _delimiter(directory, name, fallback, inside) if action in (PREPEND, APPEND) else ""
        apply_modification(result, name, action, value, delim)
    return result


# -- platform and operator env ----------------------------------------------------------------


def with_user_env(env: Mapping[str, str], platform_dir: str | os.PathLike[str]) -> Env:
    """``<platform>/env/<NAME>``: prepended with ``:`` to the path vars, overriding the rest.

    The whole file name is the variable name (no suffixes here, as in the lifecycle).
    """
    result = dict(env)
    for path in _env_files(Path(platform_dir) / "env"):
        name = path.name
        value = _read_value(path, path.parent)
        if name in PATH_VARS:
            result[name] = value + _joined_before(result.get(name, ""), PATH_SEPARATOR)
        else:
            result[name] = value
    return result


def with_operator_env(env: Mapping[str, str], build_config_dir: str | os.PathLike[str]) -> Env:
    """``<build-config>/env/``: suffix rules as for layers, but no suffix means ``default``."""
    return with_env_dir(env, Path(build_config_dir) / "env", default_action=DEFAULT)


def with_overrides(
    env: Mapping[str, str],
    *,
    clear_env: bool,
    platform_dir: str | os.PathLike[str] | None,
    build_config_dir: str | os.PathLike[str] | None,
) -> Env:
    """Steps 3 and 4: user env (skipped for ``clear-env``), then operator env (always)."""
    result = dict(env)
    if platform_dir is not None and not clear_env:
        result = with_user_env(result, platform_dir)
    if build_config_dir is not None:
        result = with_operator_env(result, build_config_dir)
    return result


# -- CNB_* inputs -----------------------------------------------------------------------------


def target_env(target: Target | None) -> Env:
    """``CNB_TARGET_*`` describing the run image: os and arch always, the rest when known."""
    if target is None:
        return {}
    env = {"CNB_TARGET_OS": target.os, "CNB_TARGET_ARCH": target.arch}
    distro = target.distros[0] if target.distros else None
    optional = {
        "CNB_TARGET_ARCH_VARIANT": target.variant,
        "CNB_TARGET_DISTRO_NAME": distro.name if distro else "",
        "CNB_TARGET_DISTRO_VERSION": distro.version if distro else "",
    }
    env.update({name: value for name, value in optional.items() if value})
    return env


def detect_env(
    env: Mapping[str, str],
    buildpack: LocatedBuildpack,
    *,
    platform_dir: str | os.PathLike[str],
    build_config_dir: str | os.PathLike[str] | None,
    plan_path: str | os.PathLike[str],
    target: Target | None = None,
    exec_env: str = "",
) -> Env:
    """The whole env of ``bin/detect`` (detect sees no buildpack layers: pass the base env)."""
    paths = {"CNB_BUILD_PLAN_PATH": os.fsdecode(plan_path)}
    return _program_env(
        env, buildpack, platform_dir, build_config_dir, paths, target=target, exec_env=exec_env
    )


def build_env(
    env: Mapping[str, str],
    buildpack: LocatedBuildpack,
    *,
    platform_dir: str | os.PathLike[str],
    build_config_dir: str | os.PathLike[str] | None,
    layers_dir: str | os.PathLike[str],
    plan_path: str | os.PathLike[str],
    target: Target | None = None,
    exec_env: str = "",
) -> Env:
    """The whole env of ``bin/build``; ``env`` already holds earlier buildpacks' layers and
    ``layers_dir`` is this buildpack's own ``<layers>/<escaped id>``.
    """
    paths = {
        "CNB_BP_PLAN_PATH": os.fsdecode(plan_path),
        "CNB_LAYERS_DIR": os.fsdecode(layers_dir),
    }
    return _program_env(
        env, buildpack, platform_dir, build_config_dir, paths, target=target, exec_env=exec_env
    )


def _program_env(
    env: Mapping[str, str],
    buildpack: LocatedBuildpack,
    platform_dir: str | os.PathLike[str],
    build_config_dir: str | os.PathLike[str] | None,
    phase_paths: Mapping[str, str],
    *,
    target: Target | None,
    exec_env: str,
) -> Env:
    """What ``detect_env`` and ``build_env`` share: user and operator env over ``env``, then
    the ``CNB_*`` inputs (buildpack and platform dirs, then the phase's own ``phase_paths``)."""
    result = with_overrides(
        env,
        clear_env=buildpack.descriptor.buildpack.clear_env,
        platform_dir=platform_dir,
        build_config_dir=build_config_dir,
    )
    inputs = {
        "CNB_BUILDPACK_DIR": os.fsdecode(buildpack.directory),
        "CNB_PLATFORM_DIR": os.fsdecode(platform_dir),
        **phase_paths,
    }
    result.update(cnb_inputs(buildpack.descriptor.api, inputs, target=target, exec_env=exec_env))
    return result


def cnb_inputs(
    api: ApiVersion,
    inputs: Mapping[str, str],
    *,
    target: Target | None = None,
    exec_env: str = "",
) -> Env:
    """The ``CNB_*`` variables a buildpack of Buildpack API ``api`` is given: ``inputs``
    (``CNB_BUILDPACK_DIR``, ``CNB_PLATFORM_DIR``, the plan and layers paths) from 0.8,
    ``CNB_TARGET_*`` from 0.10 and ``CNB_EXEC_ENV`` (when set) from 0.12. Before 0.8 only
    ``CNB_BUILDPACK_DIR``: the positional arguments carry the paths.
    """
    if api < CNB_INPUTS_API:
        return {name: value for name, value in inputs.items() if name in ALWAYS_GIVEN}
    result = dict(inputs)
    if api >= TARGET_ENV_API:
        result.update(target_env(target))
    if exec_env and api >= EXEC_ENV_API:
        result["CNB_EXEC_ENV"] = exec_env
    return result


# -- helpers ----------------------------------------------------------------------------------


def _joined_before(existing: str, delim: str) -> str:
    # LC env.go prefix(): the delimiter goes in only when there is something to join.
    return delim + existing if existing else ""


def _delimiter(directory: Path, name: str, fallback: str, root: Path) -> str:
    path = directory / f"{name}.delim"
    exists = path.is_file() or path.is_symlink()
    return _read_value(path, root) if exists else fallback


def _read_value(path: Path, root: Path) -> str:
    data = buildpack_files.read_bytes(path, root=root)
    if b"\0" in data:
        raise BuildError("env file holds a NUL byte, which no env value can", file=str(path))
    return os.fsdecode(data)


def _sorted_entries(directory: Path) -> list[Path]:
    # Byte order of names, as Go's os.ReadDir sorts them.
    return sorted(directory.iterdir(), key=lambda p: os.fsencode(p.name))


def _env_files(directory: Path) -> list[Path]:
    """Regular files (or links to them) of an env directory, in name order; none if absent."""
    if not directory.is_dir():
        return []
    return [path for path in _sorted_entries(directory) if not path.is_dir()]
