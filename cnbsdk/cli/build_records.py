"""``cnbsdk build list [IMAGE]``, ``build status IMAGE [-b N]``, ``build logs IMAGE [-b N]
[--follow]``: the builds of image records, in kp's shape. ``cnbsdk build APP --image REF``
stays the app build: the root group sends ``build list|status|logs`` here
(``main.BUILD_RECORD_COMMANDS``); a directory named ``list`` is built as ``./list``."""

from __future__ import annotations

import time
from typing import Any

import click

from cnbsdk.cli.keep_output import chosen, emit, open_store, output_options, table

FOLLOW_TICK = 0.2


@click.group("build")
def build_records() -> None:
    """Builds of image records."""


@build_records.command("list")
@click.argument("image", required=False)
@output_options
def list_builds(image: str | None, output: str, as_json: bool) -> None:
    """Every build (of IMAGE): BUILD STATUS BUILT IMAGE REASON IMAGE RESOURCE."""
    from cnbsdk.keep.reasons import summary

    with open_store() as store:
        if image is not None:
            store.image_row(image)
        builds = store.builds(image)
    fmt = chosen(output, as_json)
    if fmt != "table":
        emit([b.to_json() for b in builds], fmt)
        return
    table(
        ("BUILD", "STATUS", "BUILT IMAGE", "REASON", "IMAGE RESOURCE"),
        [
            (str(b.number), b.status.upper(), b.result.image, summary(b.reasons), b.image)
            for b in builds
        ],
    )


@build_records.command("status")
@click.argument("image")
@click.option("-b", "--build", "number", type=int, metavar="N", help="Build N (default: latest).")
@output_options
def build_status(image: str, number: int | None, output: str, as_json: bool) -> None:
    """One build of IMAGE: status, reasons with their changes, times, images, buildpacks."""
    import json

    with open_store() as store:
        record = store.build(image, number)
        spec = store.image(image)
    fmt = chosen(output, as_json)
    if fmt != "table":
        emit(record.to_json(), fmt)
        return
    result = record.result
    rows = [
        ("Image", result.image),
        ("Status", record.status.upper()),
        ("Kind", record.kind),
        ("Reasons", ",".join(record.reasons)),
        ("Changes", json.dumps([c.to_json() for c in record.changes], sort_keys=True)),
        ("Status Message", record.status_message),
        ("Queued", record.queued_at),
        ("Started", record.started_at),
        ("Finished", record.finished_at),
        ("Tags", ", ".join(result.tags)),
        ("Builder", f"{record.inputs.builder}@{record.inputs.builder_digest}"),
        ("Run Image", result.run_image or record.inputs.run_image),
        ("Source", spec.source.describe()),
        ("Source Revision", record.inputs.revision),
    ]
    if result.delivery:
        rows.append(("Delivery", result.delivery))
    if result.signature:
        rows.append(("Signature", result.signature))
    if spec.advisory_db and record.succeeded:
        counts = ", ".join(f"{n} {level.lower()}" for level, n in result.vulnerabilities)
        rows.append(("Vulnerabilities", counts or "none known"))
        if record.kind == "rebase":
            rows.append(("Advisories Fixed", ", ".join(result.advisories_fixed) or "none"))
    width = max(len(k) for k, _ in rows) + 2
    for key, value in rows:
        click.echo(f"{key + ':':<{width}}{value}".rstrip())
    click.echo("")
    table(
        ("BUILDPACK ID", "BUILDPACK VERSION"),
        [tuple(bp.rpartition("@")[::2]) for bp in result.buildpacks],
    )


@build_records.command("logs")
@click.argument("image")
@click.option("-b", "--build", "number", type=int, metavar="N", help="Build N (default: latest).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing while the build runs.")
def build_logs(image: str, number: int | None, follow: bool) -> None:
    """The whole log of a build of IMAGE (kept with the build record)."""
    with open_store() as store:
        record = store.build(image, number)
        if follow:
            follow_log(store, record)
            return
        from cnbsdk.keep.runner import build_log

        click.echo(build_log(store, record).decode(errors="replace"), nl=False)


def follow_log(store: Any, record: Any) -> None:
    """Print the build's log as it is written, until the build ends."""
    from cnbsdk.keep.model import ACTIVE
    from cnbsdk.keep.runner import build_log

    printed = 0
    while True:
        current = store.build_by_id(record.id)
        done = current.status not in ACTIVE
        text = build_log(store, current)
        if len(text) > printed:
            click.echo(text[printed:].decode(errors="replace"), nl=False)
            printed = len(text)
        if done:
            return
        time.sleep(FOLLOW_TICK)
