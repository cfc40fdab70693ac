"""An image's source, at the revision a build resolved, as a directory to build: a Git
checkout of exactly that commit, the local directory itself, or the blob unpacked."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from cnbsdk.keep.git import GitFailed, run_git
from cnbsdk.keep.inputs import ResolutionFailed
from cnbsdk.keep.model import BLOB, GIT, LOCAL, Source

GIT_TIMEOUT = 600


def source_directory(source: Source, revision: str, scratch: Path) -> Path:
    """The directory to build (``sub_path`` applied), made below ``scratch`` if needed."""
    if source.kind == GIT:
        root = scratch / "source"
        _git(["clone", "--quiet", "--no-checkout", "--", source.url, str(root)])
        _git(["-C", str(root), "checkout", "--quiet", "--detach", revision])
        shutil.rmtree(root / ".git")
    elif source.kind == LOCAL:
        root = Path(source.url)
    elif source.kind == BLOB:
        from cnbsdk.deps.archive import install_artifact

        root = scratch / "source"
        archive = scratch / ("blob-" + Path(source.url.rstrip("/")).name)
        if "://" in source.url:
            try:
                with (
                    urllib.request.urlopen(source.url, timeout=GIT_TIMEOUT) as response,
                    archive.open("wb") as out,
                ):
                    shutil.copyfileobj(response, out)
            except OSError as error:
                raise ResolutionFailed(f"cannot download the blob {source.url}: {error}") from None
        else:
            shutil.copyfile(source.url, archive)
        install_artifact(archive, root)
    else:
        raise ResolutionFailed(f"unknown source kind {source.kind!r}")
    app = root / source.sub_path if source.sub_path else root
    if not app.is_dir():
        raise ResolutionFailed(f"the source has no directory {source.sub_path!r}")
    return app


def _git(args: list[str]) -> None:
    try:
        run_git(args, timeout=GIT_TIMEOUT)
    except GitFailed as error:
        raise ResolutionFailed(f"git {args[0]} failed: {error.why}") from None
