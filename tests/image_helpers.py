"""Helpers the image tests share: the CLI in this process, a private CNBSDK_HOME holding the
default stack, reading an image (manifest, config and the raw manifest bytes) by ref, and
copying one with changed labels."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cnbsdk.cli.main import cli
from cnbsdk.lifecycle.default_stack import DefaultStack, default_stack
from cnbsdk.oci.image import read_image
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.models import ImageConfig, Manifest
from cnbsdk.oci.open import open_destination, open_source


def cnbsdk(*args: str) -> Result:
    """The CLI in this process (fast: one import of everything per session)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@contextmanager
def private_home(home: Path) -> Iterator[DefaultStack]:
    """``CNBSDK_HOME=home`` (and no ``SOURCE_DATE_EPOCH``) while in the block, its store
    holding the default stack (created on entry)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNBSDK_HOME", str(home))
        patch.delenv("SOURCE_DATE_EPOCH", raising=False)
        yield default_stack()


def read_image_ref(ref: str) -> tuple[Manifest, ImageConfig, bytes]:
    """The manifest, config and raw manifest bytes of the image at ``ref``."""
    source = open_source(ref)
    try:
        manifest, config = read_image(source)
        raw, _media_type = source.get_manifest()
    finally:
        source.close()
    return manifest, config, raw


def relabel(source_ref: str, dest_ref: str, labels: Mapping[str, str]) -> None:
    """Copy an image with ``labels`` set in its config (same layers, a new config); the
    destination may be the source's own ref."""
    source = open_source(source_ref)
    try:
        manifest, config = read_image(source)
        dest = open_destination(dest_ref)
        try:
            new_config = replace(config, labels={**config.labels, **labels})
            write_image(dest, new_config, [], base=(source, manifest))
        finally:
            dest.close()
    finally:
        source.close()


def shipped_stack_today(dest: Path) -> Path:
    """A copy of the shipped stack file in ``dest`` with a lock that resolves today: the
    shipped lock while Debian still serves every pin, else the newest versions (as the
    default stack does) — so no test depends on the shipped lock still resolving."""
    from cnbsdk.cache_dir import cache_root
    from cnbsdk.stacks import shipped_stack
    from cnbsdk.stacks.create import stack_workspace
    from cnbsdk.stacks.definition import StackDefinition
    from cnbsdk.stacks.follow import follow_lock

    stack_file = dest / "stack-definition.toml"
    shutil.copy(shipped_stack(), stack_file)
    definition = StackDefinition.read(stack_file)
    workspace = stack_workspace(definition, stack_file, cache_root())
    lock = follow_lock(definition, shipped_stack().with_name("stack.lock"), workspace, cache_root())
    lock.lock.write(dest / "stack.lock")
    return stack_file
