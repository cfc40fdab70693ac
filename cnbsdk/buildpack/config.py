"""Configuration a buildpack declares in ``[[metadata.configurations]]`` of buildpack.toml.

Each value comes from the platform env (``<platform>/env/<NAME>``), else the process env,
else the declared default. Only declared names can be read, so a typo fails loudly, and
the table printed at the start of every build documents what the user can set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cnbsdk.buildpack.log import PROCESS, SUBPROCESS, Logger
from cnbsdk.errors import BuildpackError
from cnbsdk.spec.buildpack_toml import Configuration

_TRUE = {"1", "t", "true", "y", "yes", "on"}
_FALSE = {"", "0", "f", "false", "n", "no", "off"}


@dataclass(frozen=True)
class ResolvedValue:
    """A configuration value and where it came from."""

    name: str
    value: str
    source: str  # "platform", "environment" or "default"
    description: str = ""

    @property
    def explicitly_set(self) -> bool:
        return self.source != "default"


class ConfigurationResolver:
    """Resolves declared configuration names."""

    def __init__(
        self,
        declared: Sequence[Configuration],
        platform_env: Mapping[str, str],
        environ: Mapping[str, str],
        *,
        descriptor_file: str = "buildpack.toml",
    ) -> None:
        self.declared = {c.name: c for c in declared}
        self._platform_env = platform_env
        self._environ = environ
        self._descriptor_file = descriptor_file

    def resolve(self, name: str) -> ResolvedValue:
        config = self.declared.get(name)
        if config is None:
            raise BuildpackError(
                f"configuration {name} is not declared",
                file=self._descriptor_file,
                field="metadata.configurations",
                hint=f'add [[metadata.configurations]] name = "{name}"',
            )
        if name in self._platform_env:
            return ResolvedValue(name, self._platform_env[name], "platform", config.description)
        if name in self._environ:
            return ResolvedValue(name, self._environ[name], "environment", config.description)
        return ResolvedValue(name, config.default, "default", config.description)

    def get(self, name: str) -> str:
        return self.resolve(name).value

    def __getitem__(self, name: str) -> str:
        return self.get(name)

    def is_set(self, name: str) -> bool:
        """Whether the user set ``name`` (rather than getting the default)."""
        return self.resolve(name).explicitly_set

    def bool(self, name: str) -> bool:
        """A boolean value: true/yes/on/1 or false/no/off/0/empty (any case)."""
        value = self.get(name).strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise BuildpackError(f"configuration {name}: expected true or false, got {value!r}")

    def log_table(self, logger: Logger) -> None:
        """Print ``Build Configuration:`` and ``Launch Configuration:`` tables."""
        build = [c for c in self.declared.values() if c.build or not c.launch]
        launch = [c for c in self.declared.values() if c.launch]
        for title, configs in (("Build Configuration:", build), ("Launch Configuration:", launch)):
            if not configs:
                continue
            logger.line(PROCESS, title)
            rows = []
            for config in configs:
                resolved = self.resolve(config.name)
                rows.append([f"${config.name}", resolved.value, config.description])
            logger.table(rows, indent=SUBPROCESS)
