"""Layer environment files (buildpack.md §Environment Variable Modification Rules).

One ``LayerEnv`` holds every modification a layer makes, for every scope:

=================  ==========================  ==================================
scope              directory                   applies to
=================  ==========================  ==================================
``Scope.ALL``      ``<layer>/env/``            later buildpacks' build and launch
``Scope.BUILD``    ``<layer>/env.build/``      later buildpacks' build
``Scope.LAUNCH``   ``<layer>/env.launch/``     every launched process
``Scope.process``  ``<layer>/env.launch/<p>/`` the launched process ``p`` only
=================  ==========================  ==================================

Files are ``<NAME>.<override|default|prepend|append|delim>`` and hold the value byte for
byte: no trailing newline is added or stripped.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cnbsdk.errors import BuildpackError
from cnbsdk.spec.ids import ProcessType
from cnbsdk.spec.toml_file import write_if_changed

OVERRIDE, DEFAULT, PREPEND, APPEND, DELIM = "override", "default", "prepend", "append", "delim"
BEHAVIOURS = (OVERRIDE, DEFAULT, PREPEND, APPEND, DELIM)


@dataclass(frozen=True)
class Scope:
    """Where a modification applies: all, build, launch, or one launch process."""

    kind: str
    process: str = ""

    ALL: ClassVar[Scope]
    BUILD: ClassVar[Scope]
    LAUNCH: ClassVar[Scope]

    @classmethod
    def for_process(cls, process_type: str) -> Scope:
        return cls("process", ProcessType(process_type))

    @property
    def directory(self) -> str:
        """The directory of this scope inside a layer, e.g. ``env.launch/web``."""
        if self.kind == "process":
            return f"env.launch/{self.process}"
        return {"all": "env", "build": "env.build", "launch": "env.launch"}[self.kind]

    def applied_directories(self) -> tuple[str, ...]:
        """The directories applied, in order, for a build or launch in this scope."""
        if self.kind == "all":
            return ("env",)
        if self.kind == "process":
            return ("env", "env.launch", self.directory)
        return ("env", self.directory)


Scope.ALL = Scope("all")
Scope.BUILD = Scope("build")
Scope.LAUNCH = Scope("launch")


@dataclass(frozen=True)
class Modification:
    """One env file: ``<scope dir>/<name>.<behaviour>`` holding ``value``."""

    scope: Scope
    name: str
    behaviour: str
    value: str

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.behaviour}"


def _check_name(name: str) -> None:
    if not name or "." in name or "/" in name or "=" in name or "\0" in name:
        raise BuildpackError(
            f"invalid environment variable name {name!r}: no '.', '/', '=' or NUL allowed"
        )


class LayerEnv:
    """The env modifications of one layer; write them, or apply them to a running env."""

    def __init__(self) -> None:
        # (scope, name, behaviour) -> Modification; insertion order is kept for logs.
        self._entries: dict[tuple[Scope, str, str], Modification] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LayerEnv) and self._entries == other._entries

    def __repr__(self) -> str:
        return f"LayerEnv({list(self._entries.values())!r})"

    @property
    def modifications(self) -> tuple[Modification, ...]:
        return tuple(self._entries.values())

    def _add(self, scope: Scope, name: str, behaviour: str, value: str) -> LayerEnv:
        _check_name(name)
        if not isinstance(value, str):
            raise BuildpackError(f"environment variable {name}: value must be a string")
        self._entries[(scope, name, behaviour)] = Modification(scope, name, behaviour, value)
        return self

    def override(self, name: str, value: str, scope: Scope = Scope.ALL) -> LayerEnv:
        return self._add(scope, name, OVERRIDE, value)

    def default(self, name: str, value: str, scope: Scope = Scope.ALL) -> LayerEnv:
        return self._add(scope, name, DEFAULT, value)

    def prepend(
        self, name: str, value: str, delim: str | None = None, scope: Scope = Scope.ALL
    ) -> LayerEnv:
        """Put ``value`` in front; without a ``delim`` the lifecycle joins with nothing."""
        if delim is not None:
            self._add(scope, name, DELIM, delim)
        return self._add(scope, name, PREPEND, value)

    def append(
        self, name: str, value: str, delim: str | None = None, scope: Scope = Scope.ALL
    ) -> LayerEnv:
        """Put ``value`` at the end; without a ``delim`` the lifecycle joins with nothing."""
        if delim is not None:
            self._add(scope, name, DELIM, delim)
        return self._add(scope, name, APPEND, value)

    def delimiter(self, name: str, delim: str, scope: Scope = Scope.ALL) -> LayerEnv:
        return self._add(scope, name, DELIM, delim)

    # -- files ------------------------------------------------------------------------------

    def write(self, layer_path: Path) -> list[Path]:
        """Write every modification as a file under ``layer_path``; return the paths. Files
        that already hold their value are left alone (a reused layer stays untouched)."""
        written = []
        for mod in self._entries.values():
            directory = layer_path / mod.scope.directory
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / mod.file_name
            write_if_changed(path, mod.value.encode("utf-8"))
            written.append(path)
        return written

    @classmethod
    def read(cls, layer_path: Path) -> LayerEnv:
        """Read the env files of a layer (unknown suffixes are ignored, as the lifecycle does)."""
        env = cls()
        scopes = [Scope.ALL, Scope.BUILD, Scope.LAUNCH]
        launch_dir = layer_path / "env.launch"
        if launch_dir.is_dir():
            scopes += [Scope("process", p.name) for p in sorted(launch_dir.iterdir()) if p.is_dir()]
        for scope in scopes:
            directory = layer_path / scope.directory
            if not directory.is_dir():
                continue
            for path in sorted(directory.iterdir()):
                name, _, suffix = path.name.partition(".")
                behaviour = suffix or OVERRIDE
                if path.is_file() and behaviour in BEHAVIOURS:
                    value = path.read_bytes().decode("utf-8", errors="surrogateescape")
                    env._entries[(scope, name, behaviour)] = Modification(
                        scope, name, behaviour, value
                    )
        return env

    def describe(self, scope: Scope) -> dict[str, str]:
        """``NAME -> value`` for the build log, e.g. ``{"PATH": "/layer/bin:$PATH"}``."""
        described: dict[str, str] = {}
        for directory in scope.applied_directories():
            mods = [m for m in self._entries.values() if m.scope.directory == directory]
            delims = {m.name: m.value for m in mods if m.behaviour == DELIM}
            for mod in mods:
                delim = delims.get(mod.name, "")
                if mod.behaviour in (OVERRIDE, DEFAULT):
                    described[mod.name] = mod.value
                elif mod.behaviour == PREPEND:
                    described[mod.name] = f"{mod.value}{delim}${mod.name}"
                elif mod.behaviour == APPEND:
                    described[mod.name] = f"${mod.name}{delim}{mod.value}"
        return described

    # -- applying -------------------------------------------------------------------------

    def apply(
        self, scope: Scope, environ: MutableMapping[str, str] | None = None
    ) -> MutableMapping[str, str]:
        """Apply the modifications for ``scope`` to ``environ`` (default ``os.environ``) in
        place, as the lifecycle would for the next buildpack, and return it.

        This lets a buildpack use what it just installed (e.g. ``PATH`` to a fresh
        toolchain) in its own later steps. Directories apply in order (``env/``, then
        ``env.build/`` or ``env.launch/``, then ``env.launch/<process>/``) and within one
        directory files apply in name order, like the lifecycle's ``env`` package.
        """
        target = os.environ if environ is None else environ
        for directory in scope.applied_directories():
            mods = sorted(
                (m for m in self._entries.values() if m.scope.directory == directory),
                key=lambda m: m.file_name,
            )
            delims = {m.name: m.value for m in mods if m.behaviour == DELIM}
            for mod in mods:
                _apply_one(target, mod, delims.get(mod.name, ""))
        return target


def _apply_one(environ: MutableMapping[str, str], mod: Modification, delim: str) -> None:
    apply_modification(environ, mod.name, mod.behaviour, mod.value, delim)


def apply_modification(
    environ: MutableMapping[str, str], name: str, behaviour: str, value: str, delim: str = ""
) -> None:
    """One env file's rule, as the lifecycle applies it (LC ``env/env.go``) and as
    ``lifecycle/build_env.py`` applies it for the next buildpack: ``override`` sets,
    ``default`` sets an empty variable only, ``prepend``/``append`` join with ``delim``
    (``<NAME>.delim``; none means plain concatenation), put only between two non-empty
    parts. ``delim`` itself changes nothing."""
    existing = environ.get(name, "")
    if behaviour == OVERRIDE:
        environ[name] = value
    elif behaviour == DEFAULT:
        if not existing:
            environ[name] = value
    elif behaviour == PREPEND:
        environ[name] = value + (delim + existing if existing else "")
    elif behaviour == APPEND:
        environ[name] = (existing + delim if existing else "") + value
