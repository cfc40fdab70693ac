"""The embedded store: schema version and migrations, one build per image at a time,
records and logs deleted together, two processes writing at once, a damaged file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cnbsdk.keep.history import prune
from cnbsdk.keep.model import (
    FAILURE,
    LOCAL,
    SUCCESS,
    BuildResult,
    Change,
    ImageSpec,
    Inputs,
    KeepError,
    Source,
)
from cnbsdk.keep.store import SCHEMA_VERSION, Store

INPUTS = Inputs({}, LOCAL, "sha256:x", "b", "sha256:b", (), "run@sha256:r", "", "0.20.0")


def spec(name: str = "app", **changes: object) -> ImageSpec:
    base = ImageSpec(name=name, tag=f"{name}:latest", source=Source(LOCAL, "/src"))
    return base.with_changes(**changes) if changes else base


def finished_build(store: Store, name: str, status: str, log: bytes = b"log\n") -> int:
    record = store.queue_build(
        name, kind="build", changes=(Change("CONFIG", {}, {}),), priority=1, inputs=INPUTS
    )
    assert record is not None
    store.finish(record.id, status=status, message="", result=BuildResult(), log=log)
    return record.id


def test_a_new_store_has_the_current_schema_version(home: Path) -> None:
    with Store():
        pass
    db = sqlite3.connect(home / "keep.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_from_a_newer_cnbsdk_is_refused_in_one_line(home: Path) -> None:
    with Store():
        pass
    db = sqlite3.connect(home / "keep.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(KeepError, match="newer cnbsdk"):
        Store()


def test_a_corrupt_store_is_one_line_naming_the_file(home: Path) -> None:
    home.mkdir()
    (home / "keep.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(KeepError) as caught:
        Store()
    assert str(home / "keep.db") in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_existing_name_is_refused_and_nothing_changes(home: Path) -> None:
    with Store() as store:
        store.add_image(spec(tag="first:1"))
        with pytest.raises(KeepError, match="already exists"):
            store.add_image(spec(tag="second:1"))
        assert store.image("app").tag == "first:1"


def test_one_build_per_image_at_a_time(home: Path) -> None:
    with Store() as store:
        store.add_image(spec())
        first = store.queue_build("app", kind="build", changes=(), priority=1, inputs=INPUTS)
        assert first is not None and first.number == 1
        assert store.queue_build("app", kind="build", changes=(), priority=1, inputs=INPUTS) is None
        assert store.claim(first.id, 1, "x")
        assert not store.claim(first.id, 2, "y")  # already building


def test_pruning_removes_the_oldest_records_with_their_logs(home: Path) -> None:
    with Store() as store:
        store.add_image(spec(success_history_limit=2, failed_history_limit=1))
        ids = [
            finished_build(store, "app", s, f"log {i}\n".encode())
            for i, s in enumerate([SUCCESS, FAILURE, SUCCESS, FAILURE, SUCCESS])
        ]
        assert prune(store, store.image("app")) == [1, 2]
        assert [b.number for b in store.builds("app")] == [3, 4, 5]
        assert store.log(ids[0]) is None and store.log(ids[1]) is None
        assert store.log(ids[4]) == b"log 4\n"
        orphans = store._db.execute(
            "SELECT COUNT(*) FROM logs WHERE build_id NOT IN (SELECT id FROM builds)"
        ).fetchone()[0]
        assert orphans == 0


def test_deleting_an_image_deletes_its_builds_and_logs(home: Path) -> None:
    with Store() as store:
        store.add_image(spec())
        build_id = finished_build(store, "app", SUCCESS)
        store.delete_image("app")
        assert store.log(build_id) is None
        with pytest.raises(KeepError, match="no image named"):
            store.image("app")


WRITER = """
import sys
from cnbsdk.keep.model import Change, Inputs, LOCAL, BuildResult
from cnbsdk.keep.store import Store
inputs = Inputs({}, LOCAL, "r", "b", "d", (), "run", "", "")
with Store() as store:
    for _ in range(40):
        r = store.queue_build(sys.argv[1], kind="build", changes=(), priority=1, inputs=inputs)
        store.finish(r.id, status="success", message="", result=BuildResult(), log=b"x" * 1000)
"""


def test_two_processes_writing_at_once_lose_nothing(home: Path) -> None:
    with Store() as store:
        store.add_image(spec("one"))
        store.add_image(spec("two"))
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, name], stderr=subprocess.PIPE)
        for name in ("one", "two")
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    with Store() as store:
        for name in ("one", "two"):
            assert [b.number for b in store.builds(name)] == list(range(1, 41))
