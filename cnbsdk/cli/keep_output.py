"""What the keep-current commands share: ``--output json|yaml`` (and ``--json``) on every
read command, kp-style tables, and opening the store."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click


def output_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (the same as --output json)."
    )(function)
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["table", "json", "yaml"]),
        default="table",
        show_default=True,
        help="How to print it.",
    )(function)


def chosen(output: str, as_json: bool) -> str:
    return "json" if as_json else output


def emit(data: Any, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell, as kp prints them."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    for row in (headers, *rows):
        click.echo("    ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def open_store() -> Any:
    from cnbsdk.keep.store import Store

    return Store()
