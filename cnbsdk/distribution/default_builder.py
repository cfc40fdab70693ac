"""The default builder: what ``cnbsdk build`` uses when it is given no builder and no
buildpacks.

``cnbsdk/builder:bookworm`` lives in the local store. It is made on first use from cnbsdk's
shipped stack (the default build and run images) and every installed plugin buildpack, each
in a group of its own (as pack's sample builders have one group per language: the first
buildpack whose detect passes builds the app), in the order of ``LANGUAGE_ORDER`` (below), then
the other plugins in id order. Its label
``dev.cnbsdk.builder.fingerprint`` records what it was made from: the stack lock's digest,
each plugin's id, version and content hash, the runtime vendored into each plugin (cnbsdk's
author API, pluggy, tomli...) and the packaging code, and the lifecycle (its binaries and
APIs); on every use the fingerprint is computed again and a different one remakes the builder.

Which builder is the default can be set (``cnbsdk builder default REF``) in
``$CNBSDK_HOME/config.toml`` as ``default-builder``. A build picks, first found:
``--builder``, project.toml's ``[io.buildpacks] builder``, the configured default,
``cnbsdk/builder:bookworm``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.buildpack.plugin import BuildpackPlugin, scan_installed
from cnbsdk.distribution import vendor
from cnbsdk.distribution.builder import BUILDPACK_ORDER_LABEL, LifecycleBundle, assemble_builder
from cnbsdk.errors import CnbError, PackageError
from cnbsdk.oci.digest import tree_digest
from cnbsdk.oci.open import read_manifest_and_config
from cnbsdk.oci.reference import parse_reference
from cnbsdk.oci.store import cnbsdk_home
from cnbsdk.spec.builder_toml import BuilderModule, BuilderToml
from cnbsdk.spec.ids import BuildpackId
from cnbsdk.spec.order import GroupEntry, OrderGroup
from cnbsdk.spec.platform_files import RunImage
from cnbsdk.spec.toml_file import read_toml, write_toml

Log = Callable[[str], None]

DEFAULT_BUILDER = "cnbsdk/builder:bookworm"
FINGERPRINT_LABEL = "dev.cnbsdk.builder.fingerprint"
CONFIG_KEY = "default-builder"


def config_path() -> Path:
    """``$CNBSDK_HOME/config.toml``: cnbsdk's own settings."""
    return cnbsdk_home() / "config.toml"


def configured_default_builder() -> str | None:
    """The default builder set with ``cnbsdk builder default REF``, if any."""
    path = config_path()
    if not path.is_file():
        return None
    value = read_toml(path).get(CONFIG_KEY)
    if value is not None and not isinstance(value, str):
        raise PackageError(
            "must be a string (an image reference)", file=str(path), field=CONFIG_KEY
        )
    return value or None


def set_default_builder(reference: str | None) -> Path:
    """Set (or, with None, forget) the default builder; other settings are kept."""
    if reference is not None:
        parse_reference(reference)  # a bad reference fails here, not in the next build
    path = config_path()
    data = read_toml(path) if path.is_file() else {}
    if reference is None:
        data.pop(CONFIG_KEY, None)
    else:
        data[CONFIG_KEY] = reference
    path.parent.mkdir(parents=True, exist_ok=True)
    write_toml(path, data)
    return path


def default_builder_ref() -> str:
    """The configured default, else ``cnbsdk/builder:bookworm``."""
    return configured_default_builder() or DEFAULT_BUILDER


# -- fingerprint -------------------------------------------------------------------------


@dataclass(frozen=True)
class PluginState:
    """What the fingerprint records of one plugin buildpack."""

    id: str
    version: str
    content: str

    @classmethod
    def of(cls, plugin: BuildpackPlugin) -> PluginState:
        info = plugin.descriptor.buildpack
        content = hashlib.sha256(
            (tree_digest(plugin.descriptor_path) + tree_digest(plugin.package_root)).encode()
        ).hexdigest()
        return cls(str(info.id), str(info.version), content)


def default_builder_fingerprint(
    *,
    stack_lock: Path,
    plugins: Sequence[PluginState],
    lifecycle: LifecycleBundle,
    build_image: str,
    run_image: str,
) -> str:
    """``sha256:<hex>`` over everything the default builder is made from."""
    data = {
        "stack-lock": tree_digest(stack_lock) if stack_lock.is_file() else "",
        # The images' digests, not only their names: a stack remade under the same names
        # (a stack update, a newer cnbsdk's package lists) remakes the builder.
        "images": [_with_digest(build_image), _with_digest(run_image)],
        "buildpacks": sorted([p.id, p.version, p.content] for p in plugins),
        # What packaging adds to each plugin: the vendored runtime and the packager's own
        # code (entry scripts, layer layout), so upgrading cnbsdk remakes the builder.
        "runtime": [tree_digest(path) for path in vendor.runtime_sources()],
        "packager": tree_digest(Path(__file__).parent),
        "lifecycle": [
            lifecycle.version,
            sorted((name, tree_digest(Path(path))) for name, path in lifecycle.binaries.items()),
            lifecycle.apis_json(),
        ],
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _with_digest(reference: str) -> str:
    try:
        resolved, _config = read_manifest_and_config(reference)
    except CnbError:
        return reference
    return f"{reference}@{resolved.digest}"


def recorded_fingerprint(reference: str) -> str | None:
    """The fingerprint label of the builder at ``reference``; None when there is none."""
    try:
        _resolved, config = read_manifest_and_config(reference)
    except CnbError:
        return None
    return config.labels.get(FINGERPRINT_LABEL)


def _builder_buildpack_ids(reference: str) -> set[str]:
    """The buildpack ids in the order of the builder at ``reference`` (none if unreadable)."""
    try:
        _resolved, config = read_manifest_and_config(reference)
        order = json.loads(config.labels.get(BUILDPACK_ORDER_LABEL, "[]"))
        return {entry["id"] for group in order for entry in group.get("group", [])}
    except (CnbError, ValueError, TypeError, KeyError, AttributeError):
        return set()


# -- making it ---------------------------------------------------------------------------


# Which language buildpack gets an app that several would detect: the first whose detect
# passes builds it. An app is usually one language with stray files of others: a Java app
# with a package.json for its front end (built by Maven/Gradle plugins), a Node.js app with
# a requirements.txt for a helper script. So the buildpacks with the narrowest markers and
# the largest build come first: Java (pom.xml, build.gradle), then Node.js (package.json),
# then Python, which detects broadly (requirements.txt, pyproject.toml, .python-version,
# setup.py...) to fail loudly in its build rather than not at all. Other plugins follow, in
# id order. An app that needs two languages names its buildpacks (--buildpack or
# project.toml's group).
LANGUAGE_ORDER = ("cnbsdk/java", "cnbsdk/node", "cnbsdk/python")


def detection_order(plugins: Sequence[PluginState]) -> list[PluginState]:
    """``plugins`` in the default builder's order: ``LANGUAGE_ORDER``, then by id."""
    rank = {bp_id: index for index, bp_id in enumerate(LANGUAGE_ORDER)}
    return sorted(plugins, key=lambda p: (rank.get(p.id, len(rank)), p.id))


def default_builder_toml(
    build_image: str, run_image: str, plugins: Sequence[PluginState]
) -> BuilderToml:
    """The builder.toml of the default builder (kept in memory, never written)."""
    ordered = detection_order(plugins)
    return BuilderToml(
        description="cnbsdk's default builder: the Debian 12 stack and every installed "
        "plugin buildpack, one group each",
        buildpacks=tuple(BuilderModule(uri=f"cnbsdk:{p.id}") for p in ordered),
        order=tuple(OrderGroup((GroupEntry(id=BuildpackId(p.id)),)) for p in ordered),
        build_image_ref=build_image,
        run_images_declared=(RunImage(run_image),),
    )


@dataclass(frozen=True)
class DefaultBuilder:
    reference: str
    fingerprint: str
    created: bool


def ensure_default_builder(
    *,
    build_image: str,
    run_image: str,
    stack_lock: Path,
    lifecycle: LifecycleBundle,
    plugins: Sequence[PluginState] | None = None,
    reference: str = DEFAULT_BUILDER,
    log: Log = lambda line: None,
) -> DefaultBuilder:
    """The default builder at ``reference``, (re)made when its fingerprint is missing or
    differs from the current one. ``plugins`` defaults to the installed plugin buildpacks."""
    if plugins is None:
        scanned = scan_installed()
        for broken in scanned.broken:
            # One broken plugin must not break builds of apps that never use it.
            log(
                f"Warning: installed buildpack {broken.entry_point!r} is left out of the "
                f"default builder: {broken.error}"
            )
        states = [PluginState.of(p) for p in scanned.plugins]
    else:
        states = list(plugins)
    fingerprint = default_builder_fingerprint(
        stack_lock=stack_lock,
        plugins=states,
        lifecycle=lifecycle,
        build_image=build_image,
        run_image=run_image,
    )
    recorded = recorded_fingerprint(reference)
    if recorded == fingerprint:
        return DefaultBuilder(reference, fingerprint, created=False)
    home = cnbsdk_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".default-builder.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recorded = recorded_fingerprint(reference)
        if recorded == fingerprint:
            return DefaultBuilder(reference, fingerprint, created=False)
        why = (
            "first use"
            if recorded is None
            else "its stack, buildpacks, cnbsdk's buildpack runtime or lifecycle changed"
        )
        names = ", ".join(f"{p.id}@{p.version}" for p in sorted(states, key=lambda p: p.id))
        for gone in sorted(_builder_buildpack_ids(reference) - {p.id for p in states}):
            log(
                f"Warning: buildpack {gone} was in the default builder but is no longer "
                "installed (or its entry point is gone): it is left out"
            )
        log(f"Creating the default builder {reference} ({why}; buildpacks: {names or 'none'})")
        if not states:
            log("Warning: no plugin buildpacks are installed: the default builder has none")
        assemble_builder(
            default_builder_toml(build_image, run_image, states),
            reference,
            base_dir=Path.cwd(),
            file=f"the default builder {reference}",
            lifecycle=lifecycle,
            log=log,
            extra_labels={FINGERPRINT_LABEL: fingerprint},
        )
    return DefaultBuilder(reference, fingerprint, created=True)
