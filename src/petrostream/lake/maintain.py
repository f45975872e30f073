"""`petrostream maintain`: compact small files, expire old snapshots, delete orphan files.

pyiceberg 0.12 has no ``rewrite_data_files``; the rewrite is built on its public
transaction API. For each partition of the current snapshot that holds two or more
files smaller than half the target size:

1. read the rows of the partition's data files in the current snapshot (in the
   table's current schema) and write them as new files of that partition
   (`petrostream.lake.tables.write_data_files`: the writer's encodings, sorted by the
   table's sort order);
2. commit one overwrite snapshot that deletes exactly those files and adds the new
   ones: a reader sees either the old files or the new, never both.

The commit is checked against the snapshot the files were listed from: when the lake
writer (or another maintain) commits in between, the catalog refuses it
(``CommitFailedException``), and the partition is listed, read and rewritten again
from the newest snapshot; the writer's new files stay. Nothing is lost, nothing
counted twice; the refused attempt's files are orphans, deleted by step 4 later.
A maintenance snapshot carries the writer's checkpoint forward
(``petrostream.checkpoint-of``), so expiring the writer's older snapshots never
loses where the writer resumes.

Then snapshots older than ``expire_older_than`` are expired (the current one always
stays) and data files that no remaining snapshot references and that are older than
``orphan_older_than`` (the files of a flush killed before its commit, and those of
expired snapshots) are deleted. The age guard leaves alone the files of a flush that
is committing right now.

On AWS, Athena's ``OPTIMIZE … REWRITE DATA`` and ``VACUUM``, or the Glue Data
Catalog's table optimizers (Terraform), do the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from petrostream.lake import tables

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

log = logging.getLogger(__name__)

ATTEMPTS: Final = 10  # conflicting commits retried per partition
CARRIED_KEY: Final = tables.CARRIED_KEY
EPOCH: Final = date(1970, 1, 1)


@dataclass(slots=True)
class MaintainReport:
    """What one `maintain` did to one table."""

    table: str
    files_before: int = 0
    files_after: int = 0
    rewritten_partitions: int = 0
    rewritten_files: int = 0  # small files replaced
    retries: int = 0  # overwrites refused because another commit came first
    expired_snapshots: int = 0
    orphans_deleted: int = 0
    orphan_bytes: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One human line."""
        return (
            f"{self.table}: {self.files_before:,} -> {self.files_after:,} files "
            f"({self.rewritten_files:,} small files of {self.rewritten_partitions:,} "
            f"partition(s) rewritten, {self.retries} retried), "
            f"{self.expired_snapshots:,} snapshot(s) expired, "
            f"{self.orphans_deleted:,} orphan file(s) deleted ({self.orphan_bytes / 1e6:.1f} MB)"
        )


Progress = Callable[[MaintainReport], None]


def maintain(
    catalog: Catalog,
    name: str,
    *,
    target_bytes: int = 128 * 1000**2,
    expire_older_than: timedelta = timedelta(days=1),
    orphan_older_than: timedelta = timedelta(hours=1),
    progress: Progress | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> MaintainReport:
    """Compact, expire and clean table ``name``; safe while the lake writer runs.

    Raises:
        OSError: the warehouse cannot be read or written (the table stays as committed).
    """
    report = MaintainReport(name)
    d = tables.DEFS[name]
    if not catalog.table_exists(d.identifier):
        return report
    table = catalog.load_table(d.identifier)
    groups = _small_groups(table, target_bytes)
    report.files_before = len(list(table.scan().plan_files()))
    for key in groups:
        _rewrite(catalog, d, key, target_bytes, report)
        if progress:
            progress(report)
    table = catalog.load_table(d.identifier)
    report.expired_snapshots = _expire(table, now() - expire_older_than)
    table = catalog.load_table(d.identifier)
    _delete_orphans(table, now() - orphan_older_than, report)
    report.files_after = len(list(table.scan().plan_files()))
    return report


def _small_groups(table: Table, target_bytes: int) -> list[tuple[Any, ...]]:
    """Partitions (as their partition records) with two or more files under half the target."""
    small: dict[tuple[Any, ...], int] = {}
    for task in table.scan().plan_files():
        if task.file.file_size_in_bytes < target_bytes // 2:
            key = _key(task.file)
            small[key] = small.get(key, 0) + 1
    return sorted(k for k, n in small.items() if n > 1)


def _key(data_file: Any) -> tuple[Any, ...]:
    """A data file's partition values as a tuple (day number, bucket)."""
    record = data_file.partition
    return tuple(record[i] for i in range(len(record)))


def _rewrite(
    catalog: Catalog,
    d: tables.TableDef,
    key: tuple[Any, ...],
    target_bytes: int,
    report: MaintainReport,
) -> None:
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    for attempt in range(1, ATTEMPTS + 1):
        table = catalog.load_table(d.identifier)
        tasks = [t for t in table.scan().plan_files() if _key(t.file) == key]
        small = [t for t in tasks if t.file.file_size_in_bytes < target_bytes // 2]
        if len(small) < 2:
            return  # another maintain (or Glue's optimizer) got there first
        rows = _rows_of(table, tasks, d)
        summary = _carried_checkpoint(table)
        try:
            with table.transaction() as tx:
                files = tables.write_data_files(tx.table_metadata, table.io, [rows], sort=d.sort)
                with tx.update_snapshot(snapshot_properties=summary).overwrite() as rewrite:
                    for task in tasks:
                        rewrite.delete_data_file(task.file)
                    for data_file in files:
                        rewrite.append_data_file(data_file)
        except (CommitFailedException, ValidationException) as exc:
            report.retries += 1
            log.info("maintain: %s %s: another commit came first (%s), again", d.name, key, exc)
            time.sleep(min(1.0, 0.05 * attempt))
            continue
        report.rewritten_partitions += 1
        report.rewritten_files += len(tasks)
        return
    report.problems.append(f"{d.name} partition {key}: still conflicting after {ATTEMPTS} tries")


def _rows_of(table: Table, tasks: list[Any], d: tables.TableDef) -> Any:
    """Every row of the data files of ``tasks``, in the table's current schema.

    A sensor column all null in these rows is left out, as the writer leaves it out.
    """
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan

    from petrostream.lake.writer import sensors_file_table

    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    rows = scan.to_table(tasks)
    return sensors_file_table(rows) if d.name == tables.SENSORS else rows


def _carried_checkpoint(table: Table) -> dict[str, str]:
    """The writer's checkpoint of the current snapshot, for a maintenance snapshot."""
    snapshot = table.current_snapshot()
    props = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    writer = props.get(tables.WRITER_KEY) or props.get(CARRIED_KEY)
    if writer is None:
        return {}
    carried = {k: v for k, v in props.items() if k.startswith(tables.CHECKPOINT_PREFIX)}
    return {CARRIED_KEY: writer, **carried}


def _expire(table: Table, before: datetime) -> int:
    current = table.current_snapshot()
    old = [
        s.snapshot_id
        for s in table.snapshots()
        if s.timestamp_ms < before.timestamp() * 1000
        and (current is None or s.snapshot_id != current.snapshot_id)
    ]
    if old:
        table.maintenance.expire_snapshots().by_ids(old).commit()
    return len(old)


def _delete_orphans(table: Table, before: datetime, report: MaintainReport) -> None:
    """Delete data files no snapshot references, last modified before ``before``."""
    import pyarrow.fs as pafs

    referenced: set[str] = set()
    for snapshot in table.snapshots():
        for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files():
            referenced.add(_strip(task.file.file_path))
    fs, root = pafs.FileSystem.from_uri(f"{table.location().rstrip('/')}/data")
    selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
    cutoff = before.timestamp() * 1e9
    for info in fs.get_file_info(selector):
        if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
            continue
        if _strip(info.path) in referenced or (info.mtime_ns or 0) >= cutoff:
            continue
        fs.delete_file(info.path)
        report.orphans_deleted += 1
        report.orphan_bytes += int(info.size or 0)


def _strip(path: str) -> str:
    return path.split("://", 1)[-1].lstrip("/")
