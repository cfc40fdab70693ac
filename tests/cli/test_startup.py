"""Start-up cost: what a ``cnbsdk`` process imports before it does anything. No timings
(those vary with the machine); the modules that made every command a second slower must
simply not be loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HELLO = Path(__file__).parents[1] / "lifecycle/e2e/fixtures/buildpacks/hello/buildpack.toml"
# Never needed to start or to read a CNB file. rfc3987_syntax (from jsonschema's format
# extras) builds a lark grammar when imported: ~1 s on every `import jsonschema`.
SLOW = {"rfc3987_syntax", "lark"}
NETWORK = {"requests", "urllib3"}


def loaded_by(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_version_and_help_load_neither_schemas_nor_the_network_stack():
    for argv in (["--version"], ["--help"]):
        modules = loaded_by(
            "from cnbsdk.cli.main import cli\n"
            f"try:\n    cli.main({argv!r}, prog_name='cnbsdk')\nexcept SystemExit:\n    pass"
        )
        assert not modules & (SLOW | NETWORK | {"jsonschema"}), argv


def test_validating_a_buildpack_toml_does_not_build_grammars():
    modules = loaded_by(
        "from cnbsdk.spec.buildpack_toml import BuildpackDescriptor\n"
        f"BuildpackDescriptor.read({str(HELLO)!r})"
    )
    assert "jsonschema" in modules  # the schema is still applied
    assert not modules & SLOW


def test_a_command_imports_only_its_own_module():
    modules = loaded_by(
        "from cnbsdk.cli.main import cli\n"
        "try:\n    cli.main(['validate', '--help'], prog_name='cnbsdk')\n"
        "except SystemExit:\n    pass"
    )
    assert "cnbsdk.cli.validate" in modules
    loaded_commands = {m for m in modules if m.startswith("cnbsdk.cli.") and m.count(".") == 2}
    assert loaded_commands <= {"cnbsdk.cli.main", "cnbsdk.cli.validate"}
    assert not any(m.startswith(("cnbsdk.lifecycle", "cnbsdk.distribution")) for m in modules)
