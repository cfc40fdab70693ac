"""The build and run images a build uses when none are given: cnbsdk's shipped Debian 12
stack, created once into the local image store (``cnbsdk/build:bookworm`` and
``cnbsdk/run:bookworm``) from its pinned lock, and reused afterwards.

Creating them needs the Debian packages of the lock (downloaded once through the host's apt
configuration and cached under ``cache_root()``); a file lock keeps two builds started at
the same time from creating them twice.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from dataclasses import dataclass

from cnbsdk.oci.reference import parse_reference
from cnbsdk.oci.store import ImageStore, cnbsdk_home, store_tag
from cnbsdk.stacks import shipped_stack
from cnbsdk.stacks.create import create_stack, default_lock_path
from cnbsdk.stacks.progress import ProgressFactory, silent

DEFAULT_BUILD_IMAGE = "cnbsdk/build:bookworm"
DEFAULT_RUN_IMAGE = "cnbsdk/run:bookworm"


@dataclass(frozen=True)
class DefaultStack:
    build_image: str
    run_image: str
    created: bool


def _present(store: ImageStore, ref: str) -> bool:
    return store.layout.exists() and store.layout.find(store_tag(parse_reference(ref))) is not None


def default_stack(
    *,
    need_build: bool = True,
    need_run: bool = True,
    log: Callable[[str], None] = lambda line: None,
    progress: ProgressFactory = silent,
) -> DefaultStack:
    """The default images, creating the missing ones in the local store first."""
    store = ImageStore()
    wanted = {
        "build": DEFAULT_BUILD_IMAGE if need_build else None,
        "run": DEFAULT_RUN_IMAGE if need_run else None,
    }
    missing = {kind: ref for kind, ref in wanted.items() if ref and not _present(store, ref)}
    if not missing:
        return DefaultStack(DEFAULT_BUILD_IMAGE, DEFAULT_RUN_IMAGE, created=False)
    home = cnbsdk_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".default-stack.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = {kind: ref for kind, ref in missing.items() if not _present(store, ref)}
        if missing:
            names = " and ".join(missing.values())
            log(f"Creating the default stack images {names} (once; they are kept in the store)")
            stack_file = shipped_stack()
            create_stack(
                stack_file,
                build_image=missing.get("build"),
                run_image=missing.get("run"),
                lock_file=default_lock_path(stack_file),
                progress=progress,
            )
    return DefaultStack(DEFAULT_BUILD_IMAGE, DEFAULT_RUN_IMAGE, created=bool(missing))
