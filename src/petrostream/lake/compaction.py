"""Compaction: merge the small committed files of each partition into files of a target size.

Safe while the lake writer runs: compaction reads the committed snapshot, never
touches a file the writer has not committed, and records each merge as one
commit in its own log (`compaction`) that adds the merged file and removes its
inputs; a reader of the snapshot sees either the inputs or the merged file,
never both or neither. Per merge:

1. put an intent naming the merged file;
2. put the merged file (atomically) into the partition folder;
3. put the compaction commit (adds the merged file, removes the inputs);
4. delete the inputs, then the intent.

A crash before 3 leaves an orphan merged file that the next compaction (or the
writer's start-up, when no compaction runs) deletes; a crash after 3 leaves
retired inputs that the next compaction deletes.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from petrostream import schema
from petrostream.lake.base import TABLES
from petrostream.lake.commitlog import COMPACTION, Commit, CommitLog, FileEntry, snapshot

if TYPE_CHECKING:
    import pyarrow as pa

    from petrostream.lake.base import LakeStore

log = logging.getLogger(__name__)

DEFAULT_TARGET_BYTES: Final = 128 * 1024 * 1024
_ORDER: Final = {c: i for i, c in enumerate(schema.RECORD_COLUMNS)}


@dataclass(slots=True)
class CompactionReport:
    """What a compaction did to one table."""

    table: str
    partitions: int = 0  # partitions that had something to merge
    merges: int = 0  # merged files written (= compaction commits)
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    rows: int = 0  # rows rewritten

    def line(self) -> str:
        """One human line."""
        return (
            f"{self.table}: {self.files_before:,} -> {self.files_after:,} files "
            f"({self.bytes_before:,} -> {self.bytes_after:,} bytes), "
            f"{self.merges:,} merged file(s) in {self.partitions:,} partition(s)"
        )


def recover(store: LakeStore) -> int:
    """Finish what an interrupted compaction left: orphans of uncommitted merges, retired inputs.

    The caller holds the compaction lock. Returns the number of files deleted.
    """
    commitlog = CommitLog(store, COMPACTION)
    deleted = len(commitlog.recover().orphans_deleted)
    # Every merge deletes its inputs before the next one starts, so only the last
    # commit can have left inputs behind.
    last = commitlog.latest()
    for path in last.removed if last else ():
        if store.exists(path):
            store.delete(path)
            deleted += 1
    return deleted


def plan(files: list[FileEntry], target_bytes: int) -> list[list[FileEntry]]:
    """Group one partition's files into merges of about ``target_bytes`` each.

    Files already at half the target or more are left alone; a group holds at
    least two files and its inputs add up to at most the target (a lone small
    file stays as it is).
    """
    small = sorted((f for f in files if f.bytes < target_bytes // 2), key=lambda f: f.path)
    groups: list[list[FileEntry]] = []
    current: list[FileEntry] = []
    size = 0
    for entry in small:
        if current and size + entry.bytes > target_bytes:
            groups.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.bytes
    groups.append(current)
    return [g for g in groups if len(g) >= 2]


def compact(
    store: LakeStore,
    *,
    table: str = "sensors",
    target_bytes: int = DEFAULT_TARGET_BYTES,
    codec: str = "zstd",
    progress: Callable[[CompactionReport], None] | None = None,
) -> CompactionReport:
    """Merge small committed files of every partition of ``table``; return the report.

    The caller holds the compaction lock (`ActorLock(home, "compaction")`).

    Raises:
        ValueError: an unknown table or a target below 1 MB.
        OSError: the lake cannot be read or written (committed state stays valid).
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}: use one of {', '.join(TABLES)}")
    if target_bytes < 1024 * 1024:
        raise ValueError(f"target size {target_bytes} bytes is below 1 MB")
    recover(store)
    commitlog = CommitLog(store, COMPACTION)
    last = commitlog.latest()
    number = last.number if last else 0
    live = snapshot(store, table)
    report = CompactionReport(table, files_before=len(live))
    report.bytes_before = sum(f.bytes for f in live.values())
    by_partition: dict[str, list[FileEntry]] = {}
    for entry in live.values():
        by_partition.setdefault(entry.partition, []).append(entry)
    for partition, files in sorted(by_partition.items()):
        groups = plan(files, target_bytes)
        if groups:
            report.partitions += 1
        for group in groups:
            number += 1
            merged = _merge(store, commitlog, number, partition, table, group, codec)
            report.merges += 1
            report.rows += merged.rows
            if progress:
                progress(report)
    after = snapshot(store, table)
    report.files_after = len(after)
    report.bytes_after = sum(f.bytes for f in after.values())
    return report


def _merge(
    store: LakeStore,
    commitlog: CommitLog,
    number: int,
    partition: str,
    table: str,
    group: list[FileEntry],
    codec: str,
) -> FileEntry:
    digest = hashlib.sha256("|".join(f.path for f in group).encode()).hexdigest()[:24]
    path = f"{partition}/compact-{digest}.parquet"
    commitlog.write_intent(number, [path])
    merged = merge_tables([store.read_parquet(f.path) for f in group])
    size = store.write_parquet(path, merged, codec=codec)
    entry = FileEntry(path, table, merged.num_rows, size)
    commitlog.append(
        Commit(
            number=number,
            actor=COMPACTION,
            added=(entry,),
            removed=tuple(f.path for f in group),
            committed_at=datetime.now(UTC).isoformat(),
            stats={"inputs": len(group), "rows": merged.num_rows},
        )
    )
    for f in group:
        store.delete(f.path)
    commitlog.clear_intent(number)
    log.debug("merged %d files of %s into %s", len(group), posixpath.basename(partition), path)
    return entry


def merge_tables(tables: list[pa.Table]) -> pa.Table:
    """Concatenate files of one partition whose columns may differ (union by name)."""
    import pyarrow as pa

    merged = pa.concat_tables(tables, promote_options="default")
    names = sorted(merged.column_names, key=lambda n: (_ORDER.get(n, len(_ORDER)), n))
    return merged.select(names)
