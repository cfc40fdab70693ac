"""What an ``exec.d`` executable writes to fd 3 at launch (buildpack.md §Exec.d Output (TOML)).

Top-level ``NAME = "value"`` pairs only; the launcher sets each as an environment variable,
overriding what was there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnbsdk.spec.fields import Fields
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_io import TomlFileModel

# buildpack.md §Exec.d Output: each name is a TOML bare key.
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class ExecDOutput(TomlFileModel):
    """The environment variables one exec.d executable sets."""

    DEFAULT_FILE: ClassVar[str] = "exec.d output"

    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> ExecDOutput:
        validate(data, "exec-d", file=file)
        f = Fields(data, file=file)
        env: dict[str, str] = {}
        for name in f.table:
            if not _BARE_KEY.match(name):
                raise f.error(name, "is not a valid variable name: use letters, digits, '_', '-'")
            env[name] = f.str(name, required=True)
        return cls(env=env)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.env)
