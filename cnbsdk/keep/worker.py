"""``python -m cnbsdk.keep.worker BUILD_ID``: one queued build, run in a process of its own
by ``cnbsdk serve`` (the build needs a main thread for its signal handling, and a process
per build is what bounds and isolates concurrent builds)."""

from __future__ import annotations

import sys

from cnbsdk.errors import CnbError
from cnbsdk.keep.runner import run_build
from cnbsdk.keep.store import Store


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m cnbsdk.keep.worker BUILD_ID", file=sys.stderr)
        return 2
    try:
        with Store() as store:
            record = store.build_by_id(int(argv[1]))
            finished = run_build(store, record)
    except CnbError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0 if finished is None or finished.succeeded else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
