"""The inputs an image's next build would be made from, resolved now: the source revision,
the builder (its digest, buildpacks, run image by digest, stack id, lifecycle version).
Resolution reads the network or the disk; a failure is a ``ResolutionFailed`` the loop
records on the image and retries with back-off."""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.errors import CnbError
from cnbsdk.keep.git import GitFailed, run_git
from cnbsdk.keep.model import BLOB, GIT, LOCAL, ImageSpec, Inputs, KeepError, Source
from cnbsdk.oci.digest import tree_digest

Log = Callable[[str], None]
GIT_TIMEOUT = 60
_HEX40 = frozenset("0123456789abcdef")


class ResolutionFailed(KeepError):
    """The source, builder or run image could not be read now."""


@dataclass(frozen=True)
class BuilderState:
    reference: str
    digest: str
    buildpacks: tuple[str, ...]
    run_image: str  # name@digest
    run_image_name: str
    stack_id: str
    lifecycle_version: str


def resolve(spec: ImageSpec, builders: dict[str, BuilderState] | None = None) -> Inputs:
    """The image's inputs now (``builders`` caches builders across images in one pass)."""
    revision = resolve_source(spec.source)
    reference = spec.builder or default_builder()
    cache = builders if builders is not None else {}
    if reference not in cache:
        cache[reference] = resolve_builder(reference)
    builder = cache[reference]
    return Inputs(
        config=spec.config(),
        source_kind=spec.source.kind,
        revision=revision,
        builder=builder.reference,
        builder_digest=builder.digest,
        buildpacks=builder.buildpacks,
        run_image=builder.run_image,
        stack_id=builder.stack_id,
        lifecycle_version=builder.lifecycle_version,
    )


def resolve_source(source: Source) -> str:
    """A Git commit, or ``sha256:`` of a directory's or blob's content."""
    if source.kind == GIT:
        return git_commit(source.url, source.revision)
    if source.kind == LOCAL:
        path = Path(source.url)
        if not path.is_dir():
            raise ResolutionFailed(f"the local directory {source.url} is gone")
        return "sha256:" + tree_digest(path)
    if source.kind == BLOB:
        return "sha256:" + _blob_digest(source.url)
    raise ResolutionFailed(f"unknown source kind {source.kind!r}")


def git_commit(url: str, revision: str) -> str:
    """The commit ``revision`` (a branch, tag or commit) names in the repository now."""
    if len(revision) == 40 and set(revision) <= _HEX40:
        return revision
    try:
        out = run_git(["ls-remote", "--", url, revision], timeout=GIT_TIMEOUT)
    except GitFailed as error:
        raise ResolutionFailed(f"cannot read the Git repository {url}: {error.why}") from None
    refs: dict[str, str] = {}
    for line in out.splitlines():
        commit, _, name = line.partition("\t")
        refs[name] = commit
    for name in (
        f"refs/heads/{revision}",
        f"refs/tags/{revision}^{{}}",
        f"refs/tags/{revision}",
        revision,
    ):
        if name in refs:
            return refs[name]
    raise ResolutionFailed(f"the Git repository {url} has no branch or tag {revision!r}")


def _blob_digest(url: str) -> str:
    if "://" not in url:
        path = Path(url)
        if not path.is_file():
            raise ResolutionFailed(f"the blob {url} is gone")
        return tree_digest(path)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=GIT_TIMEOUT) as response:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                digest.update(chunk)
    except OSError as error:
        raise ResolutionFailed(f"cannot download the blob {url}: {error}") from None
    return digest.hexdigest()


def default_builder() -> str:
    from cnbsdk.distribution.default_builder import default_builder_ref

    return default_builder_ref()


def resolve_builder(reference: str, log: Log = lambda line: None) -> BuilderState:
    """The builder as it is now; the default builder is remade first when its stack or
    plugins changed, which is how a ``stack update --default`` reaches every image."""
    from cnbsdk.distribution.builder_inspect import builder_info
    from cnbsdk.distribution.default_builder import DEFAULT_BUILDER
    from cnbsdk.oci.open import read_manifest_and_config

    try:
        if reference == DEFAULT_BUILDER:
            from cnbsdk.lifecycle.from_builder import ensure_default

            ensure_default(log)
        resolved, config = read_manifest_and_config(reference)
        info = builder_info(reference, resolved.digest, config)
        if not info.run_images:
            raise ResolutionFailed(f"the builder {reference} names no run image")
        run_name = info.run_images[0].image
        run_resolved, _ = read_manifest_and_config(run_name)
    except ResolutionFailed:
        raise
    except CnbError as error:
        raise ResolutionFailed(f"cannot read the builder {reference}: {error}") from None
    return BuilderState(
        reference=reference,
        digest=resolved.digest,
        buildpacks=tuple(sorted(f"{bp.id}@{bp.version}" for bp in info.buildpacks)),
        run_image=f"{run_name}@{run_resolved.digest}",
        run_image_name=run_name,
        stack_id=info.stack_id,
        lifecycle_version=info.lifecycle_version,
    )
