"""The build and run images a build uses when none are given: cnbsdk's shipped Debian 12
stack, created once into the local image store (``cnbsdk/build:bookworm`` and
``cnbsdk/run:bookworm``) and reused afterwards without touching the network.

They are made from the shipped lock while every pinned ``.deb`` can still be had (the
download cache first, then the mirror), else from the newest versions (one log line says
which packages Debian replaced). The lock they were really made from is kept in
``$CNBSDK_HOME/stacks/bookworm/stack.lock``; ``cnbsdk stack update --default`` patches them.
A file lock keeps two builds started at the same time from creating them twice.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.cache_dir import cache_root
from cnbsdk.errors import CnbError
from cnbsdk.oci.open import read_manifest_and_config
from cnbsdk.oci.reference import parse_reference
from cnbsdk.oci.store import ImageStore, cnbsdk_home, store_tag
from cnbsdk.progress import ProgressFactory, silent
from cnbsdk.stacks import shipped_stack
from cnbsdk.stacks.create import (
    IMAGE_FORMAT,
    default_lock_path,
    same_packages,
    stack_workspace,
    write_stack_images,
)
from cnbsdk.stacks.definition import StackDefinition
from cnbsdk.stacks.follow import follow_lock
from cnbsdk.stacks.lock import LOCK_LABEL, StackLock
from cnbsdk.stacks.update import StackUpdate, update_stack

DEFAULT_STACK = "bookworm"
DEFAULT_BUILD_IMAGE = "cnbsdk/build:bookworm"
DEFAULT_RUN_IMAGE = "cnbsdk/run:bookworm"


@dataclass(frozen=True)
class DefaultStack:
    build_image: str
    run_image: str
    created: bool
    lock_file: Path  # the lock the images were made from


def default_lock_file() -> Path:
    """Where the lock the default stack was really made from is kept."""
    return cnbsdk_home() / "stacks" / DEFAULT_STACK / "stack.lock"


def _present(store: ImageStore, ref: str) -> bool:
    return store.layout.exists() and store.layout.find(store_tag(parse_reference(ref))) is not None


@contextmanager
def _exclusive() -> Iterator[None]:
    home = cnbsdk_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".default-stack.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def default_stack(
    *,
    need_build: bool = True,
    need_run: bool = True,
    log: Callable[[str], None] = lambda line: None,
    progress: ProgressFactory = silent,
    stack_file: Path | None = None,
) -> DefaultStack:
    """The default images, creating the missing ones in the local store first.
    ``stack_file`` replaces the shipped stack file (its ``stack.lock`` beside it)."""
    store = ImageStore()
    wanted = {
        "build": DEFAULT_BUILD_IMAGE if need_build else None,
        "run": DEFAULT_RUN_IMAGE if need_run else None,
    }
    lock_file = default_lock_file()
    stack_file = stack_file or shipped_stack()

    def missing() -> dict[str, str]:
        if _outdated_remembered(lock_file, stack_file, store):
            return {"build": DEFAULT_BUILD_IMAGE, "run": DEFAULT_RUN_IMAGE}
        return {kind: ref for kind, ref in wanted.items() if ref and not _present(store, ref)}

    if not missing():
        return DefaultStack(DEFAULT_BUILD_IMAGE, DEFAULT_RUN_IMAGE, False, _known_lock(lock_file))
    with _exclusive():
        absent = missing()
        if absent and _outdated(lock_file, stack_file):
            log("The default stack was made by another cnbsdk or for other packages: remaking it")
        if absent:
            _create(absent, lock_file, stack_file, log, progress)
    return DefaultStack(DEFAULT_BUILD_IMAGE, DEFAULT_RUN_IMAGE, bool(absent), lock_file)


# (lock file, stack file) -> (the stat of both and of the store's index, _outdated's answer)
_remembered: dict[tuple[Path, Path], tuple[tuple[object, ...], bool]] = {}
RACY_SECONDS = 2.0


def _outdated_remembered(lock_file: Path, stack_file: Path, store: ImageStore) -> bool:
    """``_outdated``, remembered for this process while neither file nor the store's index
    changes (reading the 35 kB lock took ~5 ms of every build). Files changed within
    ``RACY_SECONDS`` are read every time: a change in the same mtime tick keeps the stat."""
    signature: list[object] = []
    newest = 0.0
    for path in (lock_file, stack_file, store.layout.path / "index.json"):
        try:
            info = path.stat()
        except OSError:
            signature.append(None)
            continue
        signature.append((info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))
        newest = max(newest, info.st_mtime, info.st_ctime)
    key = (lock_file, stack_file)
    known = _remembered.get(key)
    if known is not None and known[0] == tuple(signature):
        return known[1]
    answer = _outdated(lock_file, stack_file)
    if newest < time.time() - RACY_SECONDS:
        _remembered[key] = (tuple(signature), answer)
    return answer


def _outdated(lock_file: Path, stack_file: Path) -> bool:
    """Whether the images were made for other package lists than the stack file's now, or
    by a cnbsdk that made them otherwise (their lock label has another format, or none)."""
    if _other_format(DEFAULT_RUN_IMAGE):
        return True
    if not lock_file.is_file():
        return False
    try:
        kept = StackLock.read(lock_file)
    except CnbError:
        return True
    return kept.requirements != StackDefinition.read(stack_file).requirements_digest()


def _other_format(ref: str) -> bool:
    """Whether the image at ``ref`` was made by a cnbsdk writing stack images otherwise."""
    store = ImageStore()
    if not _present(store, ref):
        return False
    try:
        _resolved, config = read_manifest_and_config(ref)
        label = json.loads(config.labels.get(LOCK_LABEL, "{}"))
    except (CnbError, ValueError):
        return True
    return not isinstance(label, dict) or label.get("format") != IMAGE_FORMAT


def _known_lock(lock_file: Path) -> Path:
    # A store filled by a cnbsdk that kept no record: the images came from the shipped lock.
    return lock_file if lock_file.is_file() else default_lock_path(shipped_stack())


def _create(
    absent: dict[str, str],
    lock_file: Path,
    stack_file: Path,
    log: Callable[[str], None],
    progress: ProgressFactory,
) -> None:
    definition = StackDefinition.read(stack_file)
    cache = cache_root()
    workspace = stack_workspace(definition, stack_file, cache)
    kept = (
        None
        if _outdated(lock_file, stack_file) or not lock_file.is_file()
        else StackLock.read(lock_file)
    )
    if kept is not None and not workspace.missing(kept.packages):
        lock = kept
    else:
        followed = follow_lock(definition, default_lock_path(stack_file), workspace, cache)
        lock = followed.lock
        line = followed.summary(definition.distribution.name)
        if line:
            log(line)
    # A lock other than the one the present image was made from: remake both, so the pair
    # always comes from one lock.
    refs = absent
    if kept is None or not same_packages(kept, lock):
        refs = {"build": DEFAULT_BUILD_IMAGE, "run": DEFAULT_RUN_IMAGE}
    log(
        f"Creating the default stack images {' and '.join(refs.values())}"
        " (once; they are kept in the store)"
    )
    write_stack_images(
        definition,
        lock,
        workspace,
        build_image=refs.get("build"),
        run_image=refs.get("run"),
        lock_file=str(lock_file),
        progress=progress,
        cache_dir=cache,
    )
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock.write(lock_file)


def update_default_stack(
    *,
    log: Callable[[str], None] = lambda line: None,
    progress: ProgressFactory = silent,
    stack_file: Path | None = None,
) -> StackUpdate:
    """``cnbsdk stack update --default``: patch the default stack in place (store images
    and the lock in ``$CNBSDK_HOME``); the default builder follows on its next use."""
    default_stack(log=log, progress=progress, stack_file=stack_file)
    with _exclusive():
        return update_stack(
            stack_file or shipped_stack(),
            build_image=DEFAULT_BUILD_IMAGE,
            run_image=DEFAULT_RUN_IMAGE,
            lock_file=default_lock_file(),
            progress=progress,
        )
