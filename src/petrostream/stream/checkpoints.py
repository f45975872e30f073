"""Checkpoints of consumers of a remote stream (Kinesis), kept in a local SQLite file.

The local stream keeps its checkpoints in its own file (`LocalStream` is its own
`CheckpointStore`); a Kinesis stream has no place for them, so the local runtime
keeps them here, one file per home. Sequence numbers are stored as text (Kinesis'
run to 56 digits, past SQLite's 64-bit integers) and compared with `sequence_key`.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from petrostream.errors import PetroStreamError, TransientError
from petrostream.stream.base import sequence_key


class SQLiteCheckpointStore:
    """A `CheckpointStore` in one SQLite file (WAL), safe across processes.

    Args:
        path: the file, created with its folder on first use.
        stream: the stream name the checkpoints belong to (one file may hold several).
    """

    def __init__(self, path: Path, *, stream: str) -> None:
        self.path = Path(path)
        self.stream = stream
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS checkpoints (stream TEXT NOT NULL, "
                "consumer TEXT NOT NULL, shard_id TEXT NOT NULL, seq TEXT NOT NULL, "
                "PRIMARY KEY (stream, consumer, shard_id)) WITHOUT ROWID"
            )
        except sqlite3.OperationalError as exc:
            raise TransientError(f"checkpoint file {self.path} is busy ({exc}); retry") from exc
        except sqlite3.DatabaseError as exc:
            raise PetroStreamError(f"checkpoint file {self.path} is not usable: {exc}") from exc

    def get_checkpoint(self, consumer: str, shard_id: str) -> str | None:
        """Return the consumer's last processed sequence number on the shard, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT seq FROM checkpoints WHERE stream = ? AND consumer = ? AND shard_id = ?",
                (self.stream, consumer, shard_id),
            ).fetchone()
        return None if row is None else str(row[0])

    def set_checkpoint(self, consumer: str, shard_id: str, sequence_number: str) -> None:
        """Record progress; committed when it returns; an older sequence number is ignored.

        Raises:
            ValueError: an empty consumer name or a sequence number that is not decimal.
            TransientError: the file stayed locked by another process.
        """
        if not consumer:
            raise ValueError("consumer name must not be empty")
        if not sequence_number.isdigit():
            raise ValueError(f"{sequence_number!r} is not a sequence number")
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise TransientError(f"checkpoint file {self.path} is busy ({exc})") from exc
            try:
                row = self._conn.execute(
                    "SELECT seq FROM checkpoints "
                    "WHERE stream = ? AND consumer = ? AND shard_id = ?",
                    (self.stream, consumer, shard_id),
                ).fetchone()
                if row is None or sequence_key(row[0]) < sequence_key(sequence_number):
                    self._conn.execute(
                        "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?)",
                        (self.stream, consumer, shard_id, sequence_number),
                    )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def checkpoints(self) -> dict[str, dict[str, str]]:
        """Return every checkpoint of this stream as ``{consumer: {shard_id: sequence}}``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT consumer, shard_id, seq FROM checkpoints WHERE stream = ?",
                (self.stream,),
            ).fetchall()
        out: dict[str, dict[str, str]] = {}
        for consumer, shard_id, seq in rows:
            out.setdefault(consumer, {})[shard_id] = seq
        return out

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()
