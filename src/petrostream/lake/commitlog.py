"""The lake's commit log: which files are committed, and the writer's stream checkpoint.

Each actor that changes the lake keeps its own log under
``<lake>/_petrostream/<actor>/``:

* ``commits/<n>.json`` (``n`` zero-padded, so names sort): one small JSON per
  commit naming the files it adds and removes and, for the lake writer, the
  per-shard sequence numbers it covers (cumulative). A commit is put last,
  after its files, and a put is atomic: a commit is there whole or not at all.
* ``intents/<n>.json``: put *before* the files of commit ``n``; names them. An
  intent without its commit marks files of an interrupted flush (orphans), which
  `CommitLog.recover` deletes before the actor writes anything new.

The committed state of a table (its *snapshot*) is every file some commit added
and no commit removed. The lake writer only adds files; compaction only replaces
committed files. Two actors never need the same commit number, so no
compare-and-swap is needed; each actor is single (a lock per actor, see
`petrostream.lake.locks`). `snapshot` reads the writer's log before the
compaction log: a compaction commit only ever names files committed before it,
so reading in that order never yields a removed file together with its
replacement.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from petrostream.lake.base import META_DIR

if TYPE_CHECKING:
    from petrostream.lake.base import LakeStore

WRITER: Final = "lake-writer"
COMPACTION: Final = "compaction"
ACTORS: Final[tuple[str, ...]] = (WRITER, COMPACTION)  # snapshot reading order (see above)
FORMAT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A data file a commit adds: lake-relative path, table, row count, size in bytes."""

    path: str
    table: str
    rows: int
    bytes: int

    @property
    def partition(self) -> str:
        """The partition folder, relative to the lake (``sensors/dt=…/well_id=…``)."""
        return posixpath.dirname(self.path)

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object."""
        return {"path": self.path, "table": self.table, "rows": self.rows, "bytes": self.bytes}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> FileEntry:
        """Parse an entry written by `to_json`."""
        return cls(str(obj["path"]), str(obj["table"]), int(obj["rows"]), int(obj["bytes"]))


@dataclass(frozen=True, slots=True)
class Commit:
    """One atomic change of the lake.

    Attributes:
        number: position in the actor's log, from 1, without gaps.
        actor: ``lake-writer`` or ``compaction``.
        added: files this commit makes visible.
        removed: lake-relative paths of files this commit retires (compaction).
        checkpoint: lake writer only: ``{shard_id: last sequence number}`` of every
            record in this commit and the ones before it.
        committed_at: ISO-8601 UTC time of the commit.
        stats: counters for people (records read, rejects...).
    """

    number: int
    actor: str
    added: tuple[FileEntry, ...] = ()
    removed: tuple[str, ...] = ()
    checkpoint: dict[str, str] = field(default_factory=dict)
    committed_at: str = ""
    stats: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The commit as a JSON object."""
        return {
            "version": FORMAT_VERSION,
            "number": self.number,
            "actor": self.actor,
            "committed_at": self.committed_at or datetime.now(UTC).isoformat(),
            "added": [f.to_json() for f in self.added],
            "removed": list(self.removed),
            "checkpoint": dict(self.checkpoint),
            "stats": dict(self.stats),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Commit:
        """Parse a commit written by `to_json`."""
        return cls(
            number=int(obj["number"]),
            actor=str(obj["actor"]),
            added=tuple(FileEntry.from_json(f) for f in obj.get("added", [])),
            removed=tuple(str(p) for p in obj.get("removed", [])),
            checkpoint={str(k): str(v) for k, v in obj.get("checkpoint", {}).items()},
            committed_at=str(obj.get("committed_at", "")),
            stats={str(k): int(v) for k, v in obj.get("stats", {}).items()},
        )


@dataclass(frozen=True, slots=True)
class Recovery:
    """What `CommitLog.recover` found: the last commit and the orphan files it deleted."""

    last: Commit | None
    orphans_deleted: tuple[str, ...]


class CommitLog:
    """One actor's commit log in a lake (see the module docstring for the protocol).

    Not safe for two processes of the same actor at once: callers hold the
    actor's lock.
    """

    def __init__(self, store: LakeStore, actor: str) -> None:
        self.store = store
        self.actor = actor
        self.prefix = f"{META_DIR}/{actor}"

    def commit_path(self, number: int) -> str:
        """Lake-relative path of commit ``number``."""
        return f"{self.prefix}/commits/{number:020d}.json"

    def intent_path(self, number: int) -> str:
        """Lake-relative path of the intent of commit ``number``."""
        return f"{self.prefix}/intents/{number:020d}.json"

    def numbers(self) -> list[int]:
        """The numbers of every commit in the log, ascending."""
        return _numbers(self.store, f"{self.prefix}/commits")

    def read(self, number: int) -> Commit:
        """Read commit ``number``."""
        return Commit.from_json(self.store.read_json(self.commit_path(number)))

    def commits(self) -> list[Commit]:
        """Every commit of the log, in order."""
        return [self.read(n) for n in self.numbers()]

    def latest(self) -> Commit | None:
        """The last commit, or None for an empty log."""
        numbers = self.numbers()
        return self.read(numbers[-1]) if numbers else None

    def write_intent(self, number: int, paths: list[str]) -> None:
        """Announce the files commit ``number`` is about to put (call before putting them)."""
        self.store.write_json(self.intent_path(number), {"number": number, "paths": paths})

    def append(self, commit: Commit) -> None:
        """Put ``commit``: from now on its files are committed. Call after its files are put."""
        if commit.actor != self.actor:
            raise ValueError(f"commit of {commit.actor!r} appended to the {self.actor!r} log")
        self.store.write_json(self.commit_path(commit.number), commit.to_json())

    def clear_intent(self, number: int) -> None:
        """Delete the intent of a committed (or abandoned) commit."""
        self.store.delete(self.intent_path(number))

    def intent_paths(self) -> list[str]:
        """Lake-relative paths named by the intents still in the log, in intent order.

        An intent is cleared once its commit is put, so these are the files of a
        flush in progress or of an interrupted one (orphans until `recover`).
        """
        paths: list[str] = []
        for number in _numbers(self.store, f"{self.prefix}/intents"):
            try:
                intent = self.store.read_json(self.intent_path(number))
            except FileNotFoundError:  # cleared between the listing and the read
                continue
            paths.extend(str(p) for p in intent.get("paths", []))
        return paths

    def recover(self) -> Recovery:
        """Delete the files of every intent that has no commit, then the intents.

        Call once at start-up, before writing anything: afterwards the lake holds
        only committed files of this actor. Idempotent (a crash during recovery
        is recovered by the next one).
        """
        numbers = self.numbers()
        last_number = numbers[-1] if numbers else 0
        deleted: list[str] = []
        for number in _numbers(self.store, f"{self.prefix}/intents"):
            if number > last_number:
                intent = self.store.read_json(self.intent_path(number))
                for path in intent.get("paths", []):
                    self.store.delete(str(path))
                    deleted.append(str(path))
            self.clear_intent(number)
        last = self.read(last_number) if last_number else None
        return Recovery(last, tuple(deleted))


def _numbers(store: LakeStore, prefix: str) -> list[int]:
    numbers = []
    for entry in store.list_files(prefix, suffix=".json"):
        stem = posixpath.basename(entry.path)[: -len(".json")]
        if stem.isdigit():
            numbers.append(int(stem))
    return sorted(numbers)


def snapshot(store: LakeStore, table: str | None = None) -> dict[str, FileEntry]:
    """The committed files of the lake (of one table if given), by lake-relative path.

    This is the exact view a reader should query: every committed reading once,
    whatever the writer or compaction is doing at the moment.
    """
    return fold((commit for actor in ACTORS for commit in CommitLog(store, actor).commits()), table)


def fold(commits: Iterable[Commit], table: str | None = None) -> dict[str, FileEntry]:
    """The files ``commits`` leave committed (of one table if given), by lake-relative path.

    ``commits`` come in `snapshot`'s order: each actor's log in commit order, the
    writer's before compaction's. For readers that keep the commits they already
    read (commits never change once put) instead of reading every log again.
    """
    added: dict[str, FileEntry] = {}
    removed: set[str] = set()
    for commit in commits:
        for entry in commit.added:
            added[entry.path] = entry
        removed.update(commit.removed)
    return {
        path: entry
        for path, entry in sorted(added.items())
        if path not in removed and (table is None or entry.table == table)
    }


def committed_files(store: LakeStore, table: str) -> list[str]:
    """URIs of the committed files of ``table``, for DuckDB/pyarrow ``read_parquet([...])``."""
    return [store.uri_of(path) for path in snapshot(store, table)]
