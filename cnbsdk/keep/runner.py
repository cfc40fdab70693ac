"""Running one queued build of an image: claim it, write its log as it goes, rebuild with
the image's cache (``cnbsdk build``'s code: ``lifecycle.creator.create``) or rebase
(``cnbsdk rebase``'s code: ``lifecycle.rebase.rebase``), write the build and additional
tags, record the outcome with the whole log, prune the history, call the delivery hook.

A failed build records its log and leaves the image as it was (the creator and the rebaser
commit the destination last). While a build runs its log is a file beside the store
(``build logs --follow`` reads it); when it ends the log moves into the store.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cnbsdk.errors import CnbError
from cnbsdk.keep.delivery import deliver
from cnbsdk.keep.history import prune
from cnbsdk.keep.model import FAILURE, SUCCESS, BuildRecord, BuildResult, ImageSpec
from cnbsdk.keep.processes import process_start
from cnbsdk.keep.source_dir import source_directory
from cnbsdk.keep.store import Store
from cnbsdk.keep.tags import build_tag
from cnbsdk.oci.store import cnbsdk_home

Echo = Callable[[str], None]


def live_log_path(build_id: int) -> Path:
    return cnbsdk_home() / "keep-logs" / f"{build_id}.log"


def build_log(store: Store, record: BuildRecord) -> bytes:
    """A build's log so far: the stored one once the build ended, else its live log file
    (``cnbsdk build logs`` and the web API)."""
    text = store.log(record.id)
    if text is None:
        try:
            text = live_log_path(record.id).read_bytes()
        except FileNotFoundError:  # queued, or it just ended: then the store has it
            text = store.log(record.id) or b""
    return text


def change_lines(record: BuildRecord) -> list[str]:
    """``Build reason(s): X,Y`` and one block per change, as kpack's prepare step prints."""
    lines = [f"Build reason(s): {','.join(record.reasons)}"]
    for change in record.changes:
        lines.append(f"{change.reason}:" + (f" {change.message}" if change.message else ""))
        lines.append(f"- {_value(change.old)}")
        lines.append(f"+ {_value(change.new)}")
    return lines


def _value(value: object) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def run_build(store: Store, record: BuildRecord, *, echo: Echo | None = None) -> BuildRecord | None:
    """Run the queued build ``record`` in this process; None when another process claimed
    it first. Must run in the main thread (the build turns SIGINT/SIGTERM into a clean
    abort)."""
    pid = os.getpid()
    if not store.claim(record.id, pid, process_start(pid)):
        return None
    spec = store.image(record.image)
    path = live_log_path(record.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    when = datetime.now(timezone.utc)
    with path.open("w", encoding="utf-8") as out:

        def log(line: str) -> None:
            out.write(line + "\n")
            out.flush()
            if echo is not None:
                echo(line)

        status, message, result = FAILURE, "", BuildResult()
        interrupted: BaseException | None = None
        try:
            for line in change_lines(record):
                log(line)
            before = _scan_before(spec, record, log)
            if record.kind == "rebase":
                log("===> REBASE")
                digest = _rebase(spec, record, log)
            else:
                log("===> BUILD")
                record = _current_content(store, spec, record, log)
                digest = _build(spec, record, log)
            log("===> COMPLETION")
            tags = _write_tags(spec, record.number, when, log)
            result = _result(spec, record, digest, tags, time.monotonic() - started)
            result = _supply_steps(spec, record, result, when, before, log)
            status = SUCCESS
            log(f"Build successful: {result.image}")
        except CnbError as error:
            message = str(error)
            log(f"error: {message}")
        except KeyboardInterrupt as error:  # SIGINT/SIGTERM: BuildInterrupted
            message = str(error) or "interrupted"
            log(f"error: {message}")
            interrupted = error
        except Exception as error:  # a bug must still end the build as failed, with the why
            message = f"unexpected error: {error!r}"
            log(f"error: {message}")
            for line in traceback.format_exc().splitlines():
                log(line)
    store.finish(record.id, status=status, message=message, result=result, log=path.read_bytes())
    path.unlink(missing_ok=True)
    if interrupted is not None:
        # Stopped from outside (serve shutting down): the build is owed, so it waits again.
        store.queue_build(
            record.image,
            kind=record.kind,
            changes=record.changes,
            priority=record.priority,
            inputs=record.inputs,
        )
        raise interrupted
    prune(store, spec)
    finished = store.build_by_id(record.id)
    if finished.succeeded and (spec.delivery.command or spec.delivery.webhook):
        said = deliver(spec.delivery, finished.to_json(), log=echo or (lambda line: None))
        store.set_delivery(record.id, said)
        finished = store.build_by_id(record.id)
    return finished


def _current_content(store: Store, spec: ImageSpec, record: BuildRecord, log: Echo) -> BuildRecord:
    """A local directory or blob is built as it is now (a Git source is checked out at the
    recorded commit): the record says which content that was."""
    from dataclasses import replace

    from cnbsdk.keep.inputs import resolve_source
    from cnbsdk.keep.model import GIT

    if spec.source.kind == GIT:
        return record
    revision = resolve_source(spec.source)
    if revision == record.inputs.revision:
        return record
    log(f"The source changed since this build was queued: building {revision}")
    inputs = replace(record.inputs, revision=revision)
    store.set_inputs(record.id, inputs)
    return replace(record, inputs=inputs)


def _build(spec: ImageSpec, record: BuildRecord, log: Echo) -> str:
    from cnbsdk.lifecycle.creator import BuildOptions, create

    with tempfile.TemporaryDirectory(prefix="cnbsdk-keep-") as scratch:
        app = source_directory(spec.source, record.inputs.revision, Path(scratch))
        log(f"Source: {spec.source.describe()} at {record.inputs.revision}")
        options = BuildOptions(
            app=app,
            image=spec.tag,
            builder=record.inputs.builder,
            env=tuple(f"{name}={value}" for name, value in spec.env),
        )
        return create(options, log=log).digest


def _rebase(spec: ImageSpec, record: BuildRecord, log: Echo) -> str:
    from cnbsdk.lifecycle.rebase import rebase

    run_image = record.inputs.run_image.rpartition("@")[0] or record.inputs.run_image
    return rebase(spec.tag, run_image=run_image, log=log).new_digest


def _scan_before(spec: ImageSpec, record: BuildRecord, log: Echo) -> Any:
    """A scanned image's report before a rebase, to say what the rebase fixed."""
    if not spec.advisory_db or record.kind != "rebase":
        return None
    from cnbsdk.supply.image_sbom import merged_sbom
    from cnbsdk.supply.osv import AdvisoryDatabase
    from cnbsdk.supply.scan import scan

    log(f"Scanning {spec.tag} before the rebase ({spec.advisory_db})")
    return scan(spec.tag, merged_sbom(spec.tag), AdvisoryDatabase.load(Path(spec.advisory_db)))


def _supply_steps(
    spec: ImageSpec,
    record: BuildRecord,
    result: BuildResult,
    when: datetime,
    before: Any,
    log: Echo,
) -> BuildResult:
    """Sign the built image (payload annotations: the build number and time, as kpack adds)
    and scan it, when the image record asks for either; a failure fails the build."""
    from dataclasses import replace

    if spec.signing_key:
        from cnbsdk.supply.attachments import subject
        from cnbsdk.supply.keys import PASSWORD_VARIABLE, load_private_key, needs_password
        from cnbsdk.supply.signatures import sign

        key_path = Path(spec.signing_key)
        encrypted = needs_password(key_path)
        password = os.environ.get(PASSWORD_VARIABLE, "").encode() if encrypted else None
        key = load_private_key(key_path, password)
        annotations = {
            "buildNumber": str(record.number),
            "buildTimestamp": when.strftime("%Y%m%d.%H%M%S"),
        }
        signed = sign(subject(spec.tag), key, annotations)
        log(f"Signed {result.image} with key {key.public.fingerprint}: {signed.reference}")
        result = replace(result, signature=signed.reference)
    if spec.advisory_db:
        from cnbsdk.supply.image_sbom import merged_sbom
        from cnbsdk.supply.osv import AdvisoryDatabase
        from cnbsdk.supply.scan import diff, scan

        report = scan(
            spec.tag, merged_sbom(spec.tag), AdvisoryDatabase.load(Path(spec.advisory_db))
        )
        counts = tuple((level, n) for level, n in report.counts().items() if n)
        summary = ", ".join(f"{n} {level.lower()}" for level, n in counts) or "none"
        log(f"Scanned {result.image}: {len(report.findings)} advisories ({summary})")
        fixed: tuple[str, ...] = ()
        if before is not None:
            fixed = tuple(f"{f.package.display} {f.advisory}" for f in diff(before, report).fixed)
            log(f"The rebase fixed {len(fixed)}: {', '.join(fixed) or 'none'}")
        result = replace(result, vulnerabilities=counts, advisories_fixed=fixed)
    return result


def _write_tags(spec: ImageSpec, number: int, when: datetime, log: Echo) -> tuple[str, ...]:
    from cnbsdk.oci.copy import copy_image

    tags = [build_tag(spec.tag, number, when), *spec.additional_tags]
    for tag in tags:
        copy_image(spec.tag, tag)
        log(f"Tagged {tag}")
    return (spec.tag, *tags)


def _result(
    spec: ImageSpec, record: BuildRecord, digest: str, tags: tuple[str, ...], seconds: float
) -> BuildResult:
    from cnbsdk.oci.open import read_manifest_and_config
    from cnbsdk.oci.reference import parse_reference
    from cnbsdk.spec.labels import (
        BUILD_METADATA_LABEL,
        LIFECYCLE_METADATA_LABEL,
        BuildMetadata,
        LifecycleMetadata,
    )

    _resolved, config = read_manifest_and_config(spec.tag)
    labels = config.labels
    run_image = record.inputs.run_image
    if LIFECYCLE_METADATA_LABEL in labels:
        meta = LifecycleMetadata.from_json(labels[LIFECYCLE_METADATA_LABEL]).run_image
        if "sha256:" in meta.reference:
            name = meta.image or run_image.rpartition("@")[0]
            run_image = f"{name}@sha256:{meta.reference.rpartition('sha256:')[2]}"
    buildpacks: tuple[str, ...] = ()
    if BUILD_METADATA_LABEL in labels:
        group = BuildMetadata.from_json(labels[BUILD_METADATA_LABEL]).buildpacks
        buildpacks = tuple(f"{bp.id}@{bp.version}" for bp in group)
    return BuildResult(
        digest=digest,
        image=f"{parse_reference(spec.tag)}@{digest}",
        tags=tags,
        run_image=run_image,
        buildpacks=buildpacks,
        lifecycle_version=record.inputs.lifecycle_version,
        stack_id=record.inputs.stack_id,
        seconds=round(seconds, 3),
    )
