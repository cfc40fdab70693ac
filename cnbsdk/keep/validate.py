"""Checks an image record passes before it is stored: a bad one is a one-line error and
nothing is written (``image create``/``image patch``)."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from cnbsdk.errors import CnbError
from cnbsdk.keep.git import GitFailed, run_git
from cnbsdk.keep.model import BLOB, GIT, LOCAL, ImageSpec, KeepError, Source, check_name
from cnbsdk.oci.reference import DOCKER, DOCKER_ARCHIVE, OCI, ImageRef, parse_reference
from cnbsdk.oci.store import cnbsdk_home

GIT_TIMEOUT = 60
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_spec(
    spec: ImageSpec,
    *,
    check_source: bool = True,
    check_builder: bool = True,
    check_tags: bool = True,
) -> None:
    check_name(spec.name)
    check_destination(spec.tag, field="--tag", registry_checks=check_tags)
    for tag in spec.additional_tags:
        check_destination(tag, field="--additional-tag", registry_checks=check_tags)
    for name, _value in spec.env:
        if not _ENV_NAME.match(name):
            raise KeepError(f"env name {name!r} is not a valid variable name", field="--env")
    for value, flag in (
        (spec.success_history_limit, "--success-build-history-limit"),
        (spec.failed_history_limit, "--failed-build-history-limit"),
    ):
        if value < 1:
            raise KeepError(f"must be at least 1, not {value}", field=flag)
    if check_source:
        check_source_reachable(spec.source)
    if check_builder and spec.builder:
        check_builder_ref(spec.builder)


def check_destination(reference: str, *, field: str, registry_checks: bool = True) -> None:
    """A reference cnbsdk can write: parsed, and for a layout or archive a directory we may
    write in (a registry's permission shows at the first push)."""
    try:
        ref = parse_reference(reference)
    except CnbError as error:
        raise KeepError(str(error), field=field) from None
    if ref.digest and not ref.tag:
        raise KeepError(f"{reference!r} is a digest: give a tag to write to", field=field)
    if ref.transport in (OCI, DOCKER_ARCHIVE):
        target = Path(ref.path)
        parent = target if target.is_dir() else target.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise KeepError(f"cannot write the destination {reference!r} ({parent})", field=field)
    elif ref.transport == DOCKER and registry_checks:
        try:
            check_registry_push(ref)
        except CnbError as error:
            raise KeepError(
                f"cannot write the destination {reference!r}: {error}", field=field
            ) from None


def check_registry_push(ref: ImageRef) -> None:
    """Push access, asked as kpack's prepare step asks it: start a blob upload in the
    repository (and cancel it); nothing is written."""
    from cnbsdk.errors import RegistryError
    from cnbsdk.oci.registry.client import RegistryClient, registry_error_text
    from cnbsdk.oci.registry.upload import push_scope

    client = RegistryClient(ref.registry)
    try:
        path = f"/v2/{ref.repository}/blobs/uploads/"
        response = client.retrying(
            f"start an upload to {ref.repository}",
            lambda: client.send("POST", path, scope=push_scope(ref.repository)),
        )
        response.close()
        location = response.headers.get("Location")
        if response.status_code != 202 or not location:
            raise RegistryError(
                f"registry {ref.registry}: {ref.repository}: {registry_error_text(response)}"
            )
        with contextlib.suppress(CnbError, OSError):
            client.send("DELETE", location, scope=push_scope(ref.repository)).close()
    finally:
        client.close()


def check_source_reachable(source: Source) -> None:
    if source.kind == GIT:
        if not source.revision:
            raise KeepError("give the branch, tag or commit to build", field="--git-revision")
        if source.url.startswith("-"):
            raise KeepError(f"{source.url!r} is not a Git URL", field="--git")
        try:
            run_git(["ls-remote", "--", source.url, "HEAD"], timeout=GIT_TIMEOUT)
        except GitFailed as error:
            raise KeepError(
                f"cannot read the Git repository {source.url!r}: {error.why}", field="--git"
            ) from None
    elif source.kind == LOCAL:
        if not Path(source.url).is_dir():
            raise KeepError(f"{source.url!r} is not a directory", field="--local-path")
        home = cnbsdk_home().resolve()
        if home == Path(source.url).resolve() or Path(source.url).resolve() in home.parents:
            # the store and the images would be part of the source: every build changes it
            raise KeepError(
                f"{source.url!r} holds cnbsdk's home {str(home)!r} (CNBSDK_HOME): give the "
                "app's own directory",
                field="--local-path",
            )
    elif source.kind == BLOB:
        if "://" not in source.url and not Path(source.url).is_file():
            raise KeepError(f"{source.url!r} is neither a file nor a URL", field="--blob")
    else:
        raise KeepError(f"unknown source kind {source.kind!r}")


def check_builder_ref(reference: str) -> None:
    from cnbsdk.distribution.builder_inspect import is_builder
    from cnbsdk.oci.open import read_manifest_and_config

    try:
        _resolved, config = read_manifest_and_config(reference)
    except CnbError as error:
        raise KeepError(f"unknown builder {reference!r}: {error}", field="--builder") from None
    if not is_builder(config):
        raise KeepError(f"{reference!r} is not a builder", field="--builder")
