"""Loading a buildpack plugin: by import reference, or by entry point of group ``cnbsdk``."""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from cnbsdk.buildpack import hookspecs
from cnbsdk.errors import BuildpackError, CnbError
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor

if TYPE_CHECKING:
    import importlib.metadata

    from cnbsdk.buildpack.context import BuildContext, DetectContext
    from cnbsdk.buildpack.results import BuildResult, DetectResult

ENTRY_POINT_GROUP = "cnbsdk"


@dataclass
class BuildpackPlugin:
    """A loaded buildpack: its code, its ``buildpack.toml`` and where it came from."""

    ref: str
    module: object
    descriptor_path: Path
    descriptor: BuildpackDescriptor
    distribution: str = ""
    entry_point: str = ""
    manager: pluggy.PluginManager = field(repr=False, default_factory=lambda: _manager())

    @property
    def package_root(self) -> Path:
        """The directory of the plugin's top-level package (or the file of a lone module):
        what packaging copies into ``lib/``."""
        top = self.ref.split(":")[0].split(".")[0]
        module = sys.modules.get(top) or importlib.import_module(top)
        paths = list(getattr(module, "__path__", []))
        if paths:
            return Path(paths[0]).resolve()
        return Path(str(module.__file__)).resolve()

    @property
    def implements_detect(self) -> bool:
        return bool(self.manager.hook.detect.get_hookimpls())

    @property
    def implements_build(self) -> bool:
        return bool(self.manager.hook.build.get_hookimpls())

    def detect(self, context: DetectContext) -> DetectResult | None:
        """Call the ``detect`` hook; None when the plugin has none or it returned nothing."""
        result: DetectResult | None = self.manager.hook.detect(context=context)
        return result

    def build(self, context: BuildContext) -> BuildResult | None:
        """Call the ``build`` hook; None when the plugin has none or it returned nothing."""
        result: BuildResult | None = self.manager.hook.build(context=context)
        return result


def _manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def _import_ref(ref: str) -> object:
    module_name, _, attribute = ref.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise BuildpackError(f"cannot import buildpack plugin {ref!r}: {error}") from None
    for part in filter(None, attribute.split(".")):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise BuildpackError(
                f"cannot load buildpack plugin {ref!r}: {module_name} has no attribute {part!r}"
            ) from None
    return target


def _module_file(obj: object) -> Path:
    module = obj if isinstance(obj, ModuleType) else inspect.getmodule(obj)
    file = getattr(module, "__file__", None)
    if not file:
        raise BuildpackError(f"cannot tell where buildpack plugin {obj!r} lives (no __file__)")
    return Path(file).resolve()


def _distribution_of(module_name: str) -> str:
    import importlib.metadata  # ~10 ms: not on a packaged buildpack's start path

    top = module_name.split(".")[0]
    for name in importlib.metadata.packages_distributions().get(top, []):
        try:
            return f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - broken install
            continue
    return ""


def _from_object(ref: str, obj: object, *, distribution: str, entry_point: str) -> BuildpackPlugin:
    manager = _manager()
    try:
        manager.register(obj, name=ref)
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise BuildpackError(f"buildpack plugin {ref!r} is not valid: {error}") from None
    custom = manager.hook.buildpack_toml()
    descriptor_path = Path(custom) if custom else _module_file(obj).parent / "buildpack.toml"
    if not descriptor_path.is_file():
        raise BuildpackError(
            f"buildpack plugin {ref!r} has no buildpack.toml",
            file=str(descriptor_path),
            hint="put it next to the plugin's __init__.py or implement buildpack_toml()",
        )
    descriptor = BuildpackDescriptor.read(descriptor_path)
    plugin = BuildpackPlugin(
        ref=ref,
        module=obj,
        descriptor_path=descriptor_path,
        descriptor=descriptor,
        distribution=distribution,
        entry_point=entry_point,
        manager=manager,
    )
    if not plugin.implements_build and not descriptor.is_composite:
        raise BuildpackError(
            f"buildpack plugin {ref!r} implements no build hook",
            hint="mark a function `build(context)` with @hookimpl",
        )
    return plugin


def load_plugin(ref: str, *, distribution: bool = True) -> BuildpackPlugin:
    """Load a plugin from an import reference: ``"pkg.mod"`` or ``"pkg.mod:attr"``.
    ``distribution=False`` leaves out the installed distribution's name and version (the
    packaged runtime never shows it, and finding it reads every installed package)."""
    obj = _import_ref(ref)
    found = _distribution_of(ref.partition(":")[0]) if distribution else ""
    return _from_object(ref, obj, distribution=found, entry_point="")


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    import importlib.metadata

    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_point(entry: importlib.metadata.EntryPoint) -> BuildpackPlugin:
    try:
        obj: Any = entry.load()
    except Exception as error:  # a broken plugin must name itself, whatever it raised
        raise BuildpackError(
            f"entry point {entry.name!r} ({entry.value}) of group {ENTRY_POINT_GROUP!r} "
            f"failed to load: {type(error).__name__}: {error}"
        ) from None
    dist = getattr(entry, "dist", None)
    distribution = f"{dist.name} {dist.version}" if dist is not None else ""
    try:
        return _from_object(entry.value, obj, distribution=distribution, entry_point=entry.name)
    except CnbError as error:
        raise BuildpackError(f"entry point {entry.name!r} ({entry.value}): {error}") from None


@dataclass(frozen=True)
class BrokenPlugin:
    """An installed entry point that does not load as a buildpack, and why (one line)."""

    entry_point: str
    value: str
    distribution: str
    error: str


@dataclass(frozen=True)
class InstalledBuildpacks:
    """Every entry point of group ``cnbsdk``: the buildpacks that load, and the broken ones."""

    plugins: list[BuildpackPlugin]
    broken: list[BrokenPlugin]


def scan_installed() -> InstalledBuildpacks:
    """Load every installed buildpack; one that fails to load is set aside with its error
    rather than failing the others (a broken plugin must not hide the working ones)."""
    plugins: list[BuildpackPlugin] = []
    broken: list[BrokenPlugin] = []
    for entry in _entry_points():
        try:
            plugins.append(_load_entry_point(entry))
        except CnbError as error:
            dist = getattr(entry, "dist", None)
            distribution = f"{dist.name} {dist.version}" if dist is not None else ""
            broken.append(BrokenPlugin(entry.name, entry.value, distribution, str(error)))
    plugins.sort(key=lambda p: str(p.descriptor.buildpack.id))
    return InstalledBuildpacks(plugins, broken)


def installed_buildpacks() -> list[BuildpackPlugin]:
    """Every buildpack installed in this environment, sorted by buildpack id; raises the
    error of the first broken one (``scan_installed`` sets broken ones aside instead)."""
    plugins = [_load_entry_point(entry) for entry in _entry_points()]
    return sorted(plugins, key=lambda p: str(p.descriptor.buildpack.id))


def find_installed(id_or_name: str) -> BuildpackPlugin:
    """The installed buildpack whose id, entry-point name or distribution name matches.
    Another plugin being broken does not matter; the one asked for being broken does."""
    for entry in _entry_points():
        if entry.name == id_or_name:
            return _load_entry_point(entry)
    scanned = scan_installed()
    for plugin in scanned.plugins:
        dist_name = plugin.distribution.split(" ")[0]
        if id_or_name in (str(plugin.descriptor.buildpack.id), dist_name):
            return plugin
    for broken in scanned.broken:
        if id_or_name == broken.distribution.split(" ")[0]:
            raise BuildpackError(broken.error)
    known = ", ".join(str(p.descriptor.buildpack.id) for p in scanned.plugins) or "none"
    unloadable = ", ".join(b.entry_point for b in scanned.broken)
    more = f"; broken, so not searched: {unloadable}" if unloadable else ""
    raise BuildpackError(f"no installed buildpack {id_or_name!r} (installed: {known}{more})")
