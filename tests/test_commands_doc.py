"""docs/commands.md names every command and every long option that `cnbsdk --help` shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from cnbsdk.cli.main import cli

COMMANDS_DOC = Path(__file__).resolve().parents[1] / "docs" / "commands.md"


CONTEXT = click.Context(cli)


def _subcommand(group: click.Group, name: str) -> click.Command:
    # list_commands/get_command, not .commands: the root group loads commands lazily.
    command = group.get_command(CONTEXT, name)
    assert command is not None, name
    return command


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(CONTEXT)):
            yield from _commands(_subcommand(command, name), (*path, name))


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = _subcommand(command, name)
    return command


def test_the_walk_reaches_every_command_module() -> None:
    paths = set(_commands(cli))
    assert {("build",), ("run",), ("package", "builder"), ("stack", "create")} <= paths


def test_every_command_and_option_is_documented() -> None:
    doc = COMMANDS_DOC.read_text(encoding="utf-8")
    undocumented = []
    for path in _commands(cli):
        name = " ".join(path)
        if path and f"cnbsdk {name}" not in doc and f"`{name}`" not in doc:
            undocumented.append(f"command {name!r}")
        for param in _command(path).params:
            if not isinstance(param, click.Option):
                continue
            for option in param.opts + param.secondary_opts:
                if option.startswith("--") and option != "--help" and option not in doc:
                    undocumented.append(f"option {option} of {name or 'cnbsdk'!r}")
    assert undocumented == []
