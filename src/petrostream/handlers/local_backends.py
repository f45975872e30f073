"""Local handler backends: detection state and dead letters in SQLite under the home.

Both live in ``<home>/realtime.db`` (WAL), so one process can crash at any point
and the next run finds state, notified keys and dead letters consistent. The
state is the AWS design's, on SQLite: one row per shard holding all its wells
(`SqliteBlobStore` under `ShardStateStore`), written once per batch.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from petrostream.errors import TransientError
from petrostream.handlers.base import DeadLetter, StateConflict, StoredState
from petrostream.handlers.shard_state import ShardStateStore
from petrostream.sqlite import open_wal

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS shard_state (
    key TEXT PRIMARY KEY,          -- handlers.shard_state.shard_key(shard_id)
    data BLOB NOT NULL,            -- handlers.shard_state.encode_shard
    tag INTEGER NOT NULL,          -- incremented by every write (an ETag)
    updated_at REAL NOT NULL
);
-- one row per well, as releases before the per-shard state wrote it (read only)
CREATE TABLE IF NOT EXISTS detection_state (
    well_id TEXT PRIMARY KEY,
    state BLOB NOT NULL,
    version INTEGER NOT NULL,
    positions TEXT NOT NULL,       -- JSON {shard_id: sequence_number}
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS notified (
    key TEXT PRIMARY KEY,          -- alert_id:status
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    shard_id TEXT NOT NULL,
    sequence_number TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    data BLOB NOT NULL,
    arrival REAL NOT NULL,
    event_source_arn TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (shard_id, sequence_number)
);
"""


class _Db:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.conn = open_wal(path, _SCHEMA)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            with self.lock:
                return self.conn.execute(sql, args)
        except sqlite3.OperationalError as exc:  # locked / busy past the timeout
            raise TransientError(f"{self.path}: {exc}") from None


class SqliteBlobStore:
    """`BlobStore` in the ``shard_state`` table; the tag is a counter."""

    def __init__(self, db: _Db) -> None:
        self._db = db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite transaction around a batch: its shard rows and markers commit together."""
        with self._db.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.conn.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The row's bytes and tag, or None."""
        row = self._db.execute("SELECT data, tag FROM shard_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]))

    def put(self, key: str, data: bytes, *, if_match: str | None) -> str:
        """Insert (``if_match`` None) or update the row at tag ``if_match``."""
        if if_match is None:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO shard_state (key, data, tag, updated_at)"
                " VALUES (?, ?, 1, ?)",
                (key, data, time.time()),
            )
            tag = 1
        else:
            tag = int(if_match) + 1
            cur = self._db.execute(
                "UPDATE shard_state SET data = ?, tag = ?, updated_at = ?"
                " WHERE key = ? AND tag = ?",
                (data, tag, time.time(), key, int(if_match)),
            )
        if cur.rowcount != 1:
            raise StateConflict(f"state {key} moved past tag {if_match}")
        return str(tag)

    def list_keys(self) -> list[str]:
        """Every shard row's key."""
        return [r[0] for r in self._db.execute("SELECT key FROM shard_state ORDER BY key")]


class SqliteMarkers:
    """`MarkerStore` in the ``notified`` table."""

    def __init__(self, db: _Db) -> None:
        self._db = db

    def was_notified(self, key: str) -> bool:
        """Whether ``key`` was marked."""
        row = self._db.execute("SELECT 1 FROM notified WHERE key = ?", (key,)).fetchone()
        return row is not None

    def mark_notified(self, key: str) -> None:
        """Mark ``key`` (idempotent)."""
        self._db.execute(
            "INSERT OR IGNORE INTO notified (key, at) VALUES (?, ?)", (key, time.time())
        )


class SqliteStateStore(ShardStateStore):
    """`ShardStateStore` in ``<home>/realtime.db``: a row per shard, the markers beside it.

    A well stored per row by an earlier release (``detection_state``) is read from
    there until its shard's row holds it.
    """

    def __init__(self, path: Path) -> None:
        db = _Db(path)
        self._db = db
        super().__init__(SqliteBlobStore(db), SqliteMarkers(db), legacy=self._legacy_load)

    def _legacy_load(self, well_id: str) -> StoredState:
        row = self._db.execute(
            "SELECT state, version, positions FROM detection_state WHERE well_id = ?", (well_id,)
        ).fetchone()
        if row is None:
            return StoredState()
        return StoredState(bytes(row[0]), int(row[1]), json.loads(row[2]))


class SqliteDeadLetters:
    """`DeadLetterSink` in a ``dead_letters`` table; idempotent per shard and sequence."""

    def __init__(self, path: Path) -> None:
        self._db = _Db(path)

    def put(self, letters: Sequence[DeadLetter]) -> None:
        """Insert each letter once."""
        now = time.time()
        with self._db.lock:
            for d in letters:
                self._db.execute(
                    "INSERT OR IGNORE INTO dead_letters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        d.shard_id,
                        d.sequence_number,
                        d.reason,
                        d.detail,
                        d.partition_key,
                        d.data,
                        d.arrival,
                        d.event_source_arn,
                        now,
                    ),
                )

    def list(self, *, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters first."""
        rows = self._db.execute(
            "SELECT reason, detail, shard_id, sequence_number, partition_key, data, arrival,"
            " event_source_arn FROM dead_letters ORDER BY at DESC, shard_id,"
            " CAST(sequence_number AS INTEGER) DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            DeadLetter(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), float(r[6]), r[7]) for r in rows
        ]

    def count_by_reason(self) -> dict[str, int]:
        """How many dead letters per reason."""
        rows = self._db.execute(
            "SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason ORDER BY reason"
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}
