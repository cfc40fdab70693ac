"""Layers as handles: ask for a layer, get it back reused or emptied, with the reason logged.

``context.layers.cached(name, expected={...})`` compares the metadata restored from the
cache with ``expected``: equal means the layer is kept (``reused``), different means it is
wiped and recreated, and the log says which and why. Authors who need another rule pass
``on_restored(metadata, path) -> (Action, cause)`` and, for metadata that no longer reads,
``on_invalid(raw) -> (Action.DELETE | ReplaceMetadata(...), cause)``.

The ``<layer>.toml`` file is always written here, with its ``[types]`` table: restored
files never carry it, and a layer without types is ignored by the lifecycle.
"""

from __future__ import annotations

import enum
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk.buildpack.env import LayerEnv
from cnbsdk.buildpack.exec_d import install_exec_d_program
from cnbsdk.buildpack.log import Logger
from cnbsdk.buildpack.sbom import Sbom, write_sbom
from cnbsdk.errors import BuildpackError, SpecError
from cnbsdk.spec.ids import LayerName
from cnbsdk.spec.layer_toml import LayerContentMetadata, LayerTypes
from cnbsdk.spec.toml_file import dump_toml, parse_toml, read_toml


class Action(enum.Enum):
    """What to do with a restored layer."""

    KEEP = "keep"
    DELETE = "delete"


@dataclass(frozen=True)
class ReplaceMetadata:
    """``on_invalid`` answer: rewrite the restored metadata (a migration), then decide again."""

    metadata: Mapping[str, Any]


RestoredAnswer = Action | tuple[Action, str]
InvalidAnswer = Action | ReplaceMetadata | tuple[Action | ReplaceMetadata, str]
OnRestored = Callable[[dict[str, Any], Path], RestoredAnswer]
OnInvalid = Callable[[dict[str, Any]], InvalidAnswer]

NEW, REUSED, REBUILT = "new", "reused", "rebuilt"
_MAX_REPLACEMENTS = 3


def _normalise(metadata: Mapping[str, Any], *, layer: str) -> dict[str, Any]:
    """The metadata as it will read back from TOML (tuples become lists...)."""
    try:
        return dict(parse_toml(dump_toml({"m": dict(metadata)}), file="<metadata>")["m"])
    except (TypeError, ValueError, SpecError) as error:
        raise BuildpackError(
            f"layer {layer!r}: metadata cannot be written as TOML: {error}",
            hint="use strings, numbers, booleans, lists and dicts (no None)",
        ) from None


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe_unchanged(expected: Mapping[str, Any]) -> str:
    """``version 22.11.0 unchanged``."""
    scalars = [f"{k} {_show(v)}" for k, v in expected.items() if not isinstance(v, (dict, list))]
    if not scalars:
        return "metadata unchanged"
    return ", ".join(scalars) + " unchanged"


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``version changed from 22.10.0 to 22.11.0``; several changes joined by ``; ``."""
    changes = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            changes.append(f"{key} {_show(new[key])} is new")
        elif key not in new:
            changes.append(f"{key} is no longer set")
        elif old[key] != new[key]:
            changes.append(f"{key} changed from {_show(old[key])} to {_show(new[key])}")
    return "; ".join(changes) or "metadata changed"


def _split_answer(answer: Any, *, callback: str, allowed: tuple[type, ...]) -> tuple[Any, str]:
    action, cause = answer, ""
    if isinstance(answer, tuple) and len(answer) == 2:
        action, cause = answer
    if not isinstance(action, allowed) or (callback == "on_invalid" and action is Action.KEEP):
        wanted = (
            "Action.KEEP or Action.DELETE"
            if callback == "on_restored"
            else "Action.DELETE or ReplaceMetadata(...)"
        )
        raise BuildpackError(
            f"{callback} must return {wanted}, optionally with a cause, got {answer!r}"
        )
    return action, str(cause)


class LayerRef:
    """A layer of this build: its directory, whether it was reused and why, and writers."""

    def __init__(
        self,
        layers: Layers,
        name: str,
        types: LayerTypes,
        metadata: dict[str, Any],
        state: str,
        cause: str,
    ) -> None:
        self._layers = layers
        self.name = name
        self.types = types
        self._metadata = metadata
        self.state = state
        self.cause = cause

    def __repr__(self) -> str:
        return f"LayerRef({self.name!r}, state={self.state!r}, cause={self.cause!r})"

    @property
    def path(self) -> Path:
        return self._layers.layers_dir / self.name

    @property
    def toml_path(self) -> Path:
        return self._layers.layers_dir / f"{self.name}.toml"

    @property
    def reused(self) -> bool:
        """True when the restored contents were kept: skip the work that made them."""
        return self.state == REUSED

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    def write_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Replace the layer's metadata (what the next build compares against)."""
        self._metadata = _normalise(metadata, layer=self.name)
        LayerContentMetadata(types=self.types, metadata=self._metadata).write(self.toml_path)

    def write_env(self, env: LayerEnv) -> list[Path]:
        """Write the layer's env files (env/, env.build/, env.launch/...)."""
        return env.write(self.path)

    def read_env(self) -> LayerEnv:
        return LayerEnv.read(self.path)

    def write_exec_d(self, name: str, program: Path, *, process: str | None = None) -> Path:
        """Install an exec.d program that the launcher runs before the app."""
        return install_exec_d_program(self.path, name, Path(program), process=process)

    def write_sbom(self, sbom: Sbom | str, content: bytes | None = None) -> Path:
        """Write ``<layers>/<layer>.sbom.<ext>``: ``write_sbom(Sbom(...))`` or
        ``write_sbom(media_type, content)``; the format must be in sbom-formats."""
        if isinstance(sbom, str):
            if content is None:
                raise BuildpackError(f"layer {self.name!r}: write_sbom needs the SBOM content")
            sbom = Sbom(sbom, content)
        return write_sbom(
            self._layers.layers_dir,
            self.name,
            sbom,
            declared=self._layers.sbom_formats,
            descriptor_file=self._layers.descriptor_file,
        )


class Layers:
    """The layers directory of this buildpack; hands out one LayerRef per layer name."""

    def __init__(
        self,
        layers_dir: Path,
        *,
        logger: Logger | None = None,
        sbom_formats: Sequence[str] = (),
        descriptor_file: str = "buildpack.toml",
    ) -> None:
        self.layers_dir = Path(layers_dir)
        self.logger = logger if logger is not None else Logger()
        self.sbom_formats = tuple(sbom_formats)
        self.descriptor_file = descriptor_file
        self.handled: dict[str, LayerRef] = {}

    def _claim(self, name: str) -> str:
        layer = LayerName(name)
        if layer in self.handled:
            raise BuildpackError(f"layer {name!r} was already created in this build")
        return str(layer)

    def _wipe(self, name: str) -> None:
        path = self.layers_dir / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        (self.layers_dir / f"{name}.toml").unlink(missing_ok=True)
        for sbom in self.layers_dir.glob(f"{name}.sbom.*.json"):
            sbom.unlink()

    def _create(
        self, name: str, types: LayerTypes, metadata: dict[str, Any], state: str, cause: str
    ) -> LayerRef:
        self._wipe(name)
        (self.layers_dir / name).mkdir(parents=True)
        ref = LayerRef(self, name, types, metadata, state, cause)
        ref.write_metadata(metadata)
        self.handled[name] = ref
        return ref

    def uncached(self, name: str, *, build: bool = False, launch: bool = False) -> LayerRef:
        """An empty layer, rebuilt on every build (nothing is restored or cached)."""
        layer = self._claim(name)
        types = LayerTypes(launch=launch, build=build, cache=False)
        ref = self._create(layer, types, {}, NEW, "not cached")
        self.logger.debug(f"Creating uncached layer '{layer}'")
        return ref

    def cached(
        self,
        name: str,
        expected: Mapping[str, Any] | None = None,
        *,
        build: bool = False,
        launch: bool = False,
        on_restored: OnRestored | None = None,
        on_invalid: OnInvalid | None = None,
    ) -> LayerRef:
        """A cached layer: kept when the restored one is still good, else emptied.

        Without ``on_restored`` the restored metadata must equal ``expected`` (compared as
        TOML values) to be kept; with ``expected=None`` any restored layer is kept. The new
        or kept layer's metadata is ``expected`` (or the restored metadata when kept).
        """
        layer = self._claim(name)
        types = LayerTypes(launch=launch, build=build, cache=True)
        wanted = _normalise(expected or {}, layer=layer)
        toml_path = self.layers_dir / f"{layer}.toml"
        path = self.layers_dir / layer

        for _ in range(_MAX_REPLACEMENTS + 1):
            if not toml_path.is_file():
                ref = self._create(layer, types, wanted, NEW, "no cached layer")
                self.logger.creating_layer(layer)
                return ref
            try:
                restored = dict(LayerContentMetadata.read(toml_path).metadata)
            except SpecError as error:
                answer = (
                    on_invalid(self._raw(toml_path))
                    if on_invalid is not None
                    else (Action.DELETE, f"its metadata could not be read: {error.message}")
                )
                action, cause = _split_answer(
                    answer, callback="on_invalid", allowed=(Action, ReplaceMetadata)
                )
                if isinstance(action, ReplaceMetadata):
                    migrated = _normalise(action.metadata, layer=layer)
                    LayerContentMetadata(types=None, metadata=migrated).write(toml_path)
                    self.logger.debug(f"Replaced the metadata of layer '{layer}': {cause}")
                    continue
                return self._rebuild(layer, types, wanted, cause)

            if not path.is_dir():
                return self._rebuild(layer, types, wanted, "its contents were not restored")
            if on_restored is not None:
                answer_r = on_restored(dict(restored), path)
                action, cause = _split_answer(answer_r, callback="on_restored", allowed=(Action,))
            elif expected is None or restored == wanted:
                action = Action.KEEP
                cause = describe_unchanged(wanted) if expected is not None else "restored"
            else:
                action, cause = Action.DELETE, describe_changes(restored, wanted)

            if action is Action.DELETE:
                return self._rebuild(layer, types, wanted, cause)
            ref = LayerRef(self, layer, types, restored, REUSED, cause)
            ref.write_metadata(restored)  # the [types] table is not restored: write it again
            self.handled[layer] = ref
            self.logger.reusing_layer(layer, cause)
            return ref
        raise BuildpackError(
            f"layer {layer!r}: on_invalid replaced the metadata {_MAX_REPLACEMENTS} times "
            "and it still does not read"
        )

    def _rebuild(
        self, layer: str, types: LayerTypes, metadata: dict[str, Any], cause: str
    ) -> LayerRef:
        ref = self._create(layer, types, metadata, REBUILT, cause)
        self.logger.rebuilding_layer(layer, cause)
        return ref

    @staticmethod
    def _raw(toml_path: Path) -> dict[str, Any]:
        try:
            return read_toml(toml_path)
        except SpecError:
            return {}
