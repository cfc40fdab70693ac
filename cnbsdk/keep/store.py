"""The embedded store: one SQLite file, ``$CNBSDK_HOME/keep.db``, holding the image records,
their builds and the builds' logs.

One file to back up and no server to run. WAL mode lets readers (``image status``,
``build logs --follow``) run while the service writes; every change is one transaction
(``BEGIN IMMEDIATE``, so two writers queue on the busy timeout instead of failing), and a
build's record and its log are deleted in the same transaction. The schema carries its
version in ``PRAGMA user_version``; ``MIGRATIONS[n]`` takes version n to n+1, run in order
when an older store is opened. A file that is not a SQLite database (or a store from a newer
cnbsdk) is a one-line error naming the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cnbsdk.keep.model import (
    ACTIVE,
    BuildRecord,
    BuildResult,
    Change,
    ImageSpec,
    Inputs,
    KeepError,
)
from cnbsdk.oci.store import cnbsdk_home

STORE_FILE = "keep.db"
BUSY_TIMEOUT_MS = 30_000

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: images, builds, logs
    """
    CREATE TABLE images (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        created_at TEXT NOT NULL,
        build_counter INTEGER NOT NULL DEFAULT 0,
        trigger_requested TEXT NOT NULL DEFAULT '',
        resolution_error TEXT NOT NULL DEFAULT '',
        resolution_failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE builds (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        image TEXT NOT NULL REFERENCES images(name) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        status TEXT NOT NULL,
        kind TEXT NOT NULL,
        changes TEXT NOT NULL,
        priority INTEGER NOT NULL,
        inputs TEXT NOT NULL,
        result TEXT NOT NULL DEFAULT '{}',
        status_message TEXT NOT NULL DEFAULT '',
        queued_at TEXT NOT NULL DEFAULT '',
        started_at TEXT NOT NULL DEFAULT '',
        finished_at TEXT NOT NULL DEFAULT '',
        pid INTEGER NOT NULL DEFAULT 0,
        pid_start TEXT NOT NULL DEFAULT '',
        UNIQUE (image, number)
    );
    CREATE INDEX builds_by_status ON builds (status, priority);
    CREATE TABLE logs (
        build_id INTEGER PRIMARY KEY REFERENCES builds(id) ON DELETE CASCADE,
        text BLOB NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def store_file() -> Path:
    return cnbsdk_home() / STORE_FILE


def now_text() -> str:
    """RFC 3339 UTC, to the second: the times builds record."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """The store at ``path`` (default ``$CNBSDK_HOME/keep.db``), migrated when opened.
    ``read_only`` opens an existing, current store for reading only (the web API's
    connections: SQLite refuses every write on them, ``PRAGMA query_only``)."""

    def __init__(self, path: Path | None = None, *, read_only: bool = False) -> None:
        self.path = path or store_file()
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if read_only and not self.path.is_file():
                raise KeepError("no such store", file=str(self.path))
            # Not ``mode=ro``: SQLite shares a WAL file's shared memory between the
            # connections of one process, and a read-only first opener breaks the writers.
            self._db = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=not read_only,  # closed by the thread that opened them all
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if read_only:
                self._db.execute("PRAGMA query_only = ON")
                self._db.execute("PRAGMA cache_size = -512")  # KiB: one per web thread
                self._check_version()
                return
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise KeepError(
                f"is not a usable cnbsdk store ({error}): restore it from a backup or move "
                "it away to start an empty one",
                file=str(self.path),
            ) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_version(self) -> int:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise KeepError(
                f"was written by a newer cnbsdk (schema {version}, this one knows "
                f"{SCHEMA_VERSION})",
                file=str(self.path),
            )
        return version

    def _migrate(self) -> None:
        if self._check_version() == SCHEMA_VERSION:
            return
        with self.transaction() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            for index in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[index].split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it or nothing."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- images ------------------------------------------------------------------------

    def add_image(self, spec: ImageSpec) -> None:
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM images WHERE name = ?", (spec.name,)).fetchone():
                raise KeepError(
                    f"image {spec.name!r} already exists (change it with "
                    f"'cnbsdk image patch {spec.name}')"
                )
            db.execute(
                "INSERT INTO images (name, spec, created_at) VALUES (?, ?, ?)",
                (spec.name, json.dumps(spec.to_json()), now_text()),
            )

    def update_image(self, spec: ImageSpec) -> None:
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE images SET spec = ?, next_attempt_at = 0 WHERE name = ?",
                (json.dumps(spec.to_json()), spec.name),
            )
            if cursor.rowcount != 1:
                raise _no_image(spec.name)

    def image(self, name: str) -> ImageSpec:
        row = self.image_row(name)
        return ImageSpec.from_json(json.loads(row["spec"]))

    def image_row(self, name: str) -> sqlite3.Row:
        row = self._db.execute("SELECT * FROM images WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise _no_image(name)
        return row  # type: ignore[no-any-return]

    def image_rows(self) -> list[sqlite3.Row]:
        return list(self._db.execute("SELECT * FROM images ORDER BY name"))

    def images(self) -> list[ImageSpec]:
        return [ImageSpec.from_json(json.loads(r["spec"])) for r in self.image_rows()]

    def delete_image(self, name: str) -> list[int]:
        """Delete the image with its builds and logs; returns the deleted build ids."""
        with self.transaction() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM builds WHERE image = ?", (name,))]
            if db.execute("DELETE FROM images WHERE name = ?", (name,)).rowcount != 1:
                raise _no_image(name)
        return ids

    def request_trigger(self, name: str, when: str) -> int:
        """Mark the image for a TRIGGER build; returns the number that build will get."""
        with self.transaction() as db:
            row = db.execute("SELECT build_counter FROM images WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise _no_image(name)
            db.execute("UPDATE images SET trigger_requested = ? WHERE name = ?", (when, name))
            return int(row[0]) + 1

    def record_resolution(self, name: str, error: str, next_attempt_at: float) -> None:
        with self.transaction() as db:
            if error:
                db.execute(
                    "UPDATE images SET resolution_error = ?, next_attempt_at = ?, "
                    "resolution_failures = resolution_failures + 1 WHERE name = ?",
                    (error, next_attempt_at, name),
                )
            else:
                db.execute(
                    "UPDATE images SET resolution_error = '', next_attempt_at = 0, "
                    "resolution_failures = 0 WHERE name = ?",
                    (name,),
                )

    # -- builds ------------------------------------------------------------------------

    def queue_build(
        self,
        name: str,
        *,
        kind: str,
        changes: tuple[Change, ...],
        priority: int,
        inputs: Inputs,
        consumed_trigger: str = "",
    ) -> BuildRecord | None:
        """Queue the image's next build, unless one is queued or running (one build per
        image at a time). Consumes the trigger it was made for, in the same transaction."""
        with self.transaction() as db:
            active = db.execute(
                f"SELECT 1 FROM builds WHERE image = ? AND status IN {ACTIVE!r}", (name,)
            ).fetchone()
            if active:
                return None
            row = db.execute(
                "SELECT build_counter, trigger_requested FROM images WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise _no_image(name)
            number = int(row[0]) + 1
            trigger = row[1] if row[1] != consumed_trigger else ""
            db.execute(
                "UPDATE images SET build_counter = ?, trigger_requested = ? WHERE name = ?",
                (number, trigger, name),
            )
            cursor = db.execute(
                "INSERT INTO builds (image, number, status, kind, changes, priority, inputs, "
                "queued_at) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                (
                    name,
                    number,
                    kind,
                    json.dumps([c.to_json() for c in changes]),
                    priority,
                    json.dumps(inputs.to_json()),
                    now_text(),
                ),
            )
            build_id = int(cursor.lastrowid or 0)
        return self.build_by_id(build_id)

    def claim(self, build_id: int, pid: int, pid_start: str) -> bool:
        """queued -> building for this process; False when someone else claimed it."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE builds SET status = 'building', started_at = ?, pid = ?, pid_start = ? "
                "WHERE id = ? AND status = 'queued'",
                (now_text(), pid, pid_start, build_id),
            )
            return cursor.rowcount == 1

    def set_inputs(self, build_id: int, inputs: Inputs) -> None:
        """What the build really used, when it differs from what it was queued with."""
        with self.transaction() as db:
            db.execute(
                "UPDATE builds SET inputs = ? WHERE id = ?",
                (json.dumps(inputs.to_json()), build_id),
            )

    def finish(
        self,
        build_id: int,
        *,
        status: str,
        message: str,
        result: BuildResult,
        log: bytes,
    ) -> None:
        """The build's outcome and its whole log, in one transaction."""
        with self.transaction() as db:
            db.execute(
                "UPDATE builds SET status = ?, status_message = ?, result = ?, finished_at = ?, "
                "pid = 0 WHERE id = ?",
                (status, message, json.dumps(result.to_json()), now_text(), build_id),
            )
            db.execute(
                "INSERT OR REPLACE INTO logs (build_id, text) VALUES (?, ?)", (build_id, log)
            )

    def build_by_id(self, build_id: int) -> BuildRecord:
        row = self._db.execute("SELECT * FROM builds WHERE id = ?", (build_id,)).fetchone()
        if row is None:
            raise KeepError(f"no build with id {build_id}")
        return _build(row)

    def builds(self, image: str | None = None) -> list[BuildRecord]:
        if image is None:
            rows = self._db.execute("SELECT * FROM builds ORDER BY image, number")
        else:
            rows = self._db.execute(
                "SELECT * FROM builds WHERE image = ? ORDER BY number", (image,)
            )
        return [_build(r) for r in rows]

    def build(self, image: str, number: int | None = None) -> BuildRecord:
        """Build ``number`` of the image, or its latest."""
        self.image_row(image)
        if number is None:
            row = self._db.execute(
                "SELECT * FROM builds WHERE image = ? ORDER BY number DESC LIMIT 1", (image,)
            ).fetchone()
            if row is None:
                raise KeepError(f"image {image!r} has no builds yet")
        else:
            row = self._db.execute(
                "SELECT * FROM builds WHERE image = ? AND number = ?", (image, number)
            ).fetchone()
            if row is None:
                raise KeepError(f"image {image!r} has no build {number}")
        return _build(row)

    def last_build(self, image: str) -> BuildRecord | None:
        row = self._db.execute(
            "SELECT * FROM builds WHERE image = ? AND status NOT IN ('queued', 'building') "
            "ORDER BY number DESC LIMIT 1",
            (image,),
        ).fetchone()
        return _build(row) if row is not None else None

    def last_successful(self, image: str) -> BuildRecord | None:
        row = self._db.execute(
            "SELECT * FROM builds WHERE image = ? AND status = 'success' "
            "ORDER BY number DESC LIMIT 1",
            (image,),
        ).fetchone()
        return _build(row) if row is not None else None

    def builds_in(self, *statuses: str) -> list[BuildRecord]:
        marks = ",".join("?" * len(statuses))
        rows = self._db.execute(
            f"SELECT * FROM builds WHERE status IN ({marks}) ORDER BY priority DESC, id",
            statuses,
        )
        return [_build(r) for r in rows]

    def pid_start(self, build_id: int) -> str:
        row = self._db.execute("SELECT pid_start FROM builds WHERE id = ?", (build_id,)).fetchone()
        return str(row[0]) if row else ""

    def log(self, build_id: int) -> bytes | None:
        row = self._db.execute("SELECT text FROM logs WHERE build_id = ?", (build_id,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def log_part(self, build_id: int, offset: int, size: int) -> bytes | None:
        """``size`` bytes of a finished build's log from ``offset`` (None: not stored)."""
        row = self._db.execute(
            "SELECT substr(text, ?, ?) FROM logs WHERE build_id = ?", (offset + 1, size, build_id)
        ).fetchone()
        return bytes(row[0] or b"") if row is not None else None

    def delete_builds(self, build_ids: list[int]) -> None:
        """Records and their logs together."""
        if not build_ids:
            return
        with self.transaction() as db:
            for build_id in build_ids:
                db.execute("DELETE FROM builds WHERE id = ?", (build_id,))

    def set_delivery(self, build_id: int, text: str) -> None:
        with self.transaction() as db:
            row = db.execute("SELECT result FROM builds WHERE id = ?", (build_id,)).fetchone()
            data: dict[str, Any] = json.loads(row[0]) if row else {}
            data["delivery"] = text
            db.execute("UPDATE builds SET result = ? WHERE id = ?", (json.dumps(data), build_id))


def _no_image(name: str) -> KeepError:
    return KeepError(f"no image named {name!r} (see 'cnbsdk image list')")


def _build(row: sqlite3.Row) -> BuildRecord:
    return BuildRecord(
        id=int(row["id"]),
        image=str(row["image"]),
        number=int(row["number"]),
        status=str(row["status"]),
        kind=str(row["kind"]),
        changes=tuple(Change.from_json(c) for c in json.loads(row["changes"])),
        priority=int(row["priority"]),
        inputs=Inputs.from_json(json.loads(row["inputs"])),
        result=BuildResult.from_json(json.loads(row["result"])),
        status_message=str(row["status_message"]),
        queued_at=str(row["queued_at"]),
        started_at=str(row["started_at"]),
        finished_at=str(row["finished_at"]),
        pid=int(row["pid"]),
    )
