"""The lake writer: a stream consumer that lands every reading in Parquet exactly once.

Loop: read pages from every shard, keep the raw records in one buffer, and
flush when the buffer holds ``buffer_bytes`` of record data or its oldest record
has waited ``buffer_seconds``. A flush:

1. decodes the buffer in bulk (`petrostream.lake.decode`), splits the readings by
   partition ``dt=<date of ts>/well_id=<well>`` (a late reading lands in the
   partition of its own ``ts``), and the rejects by ``dt=<arrival date>``;
2. puts an *intent* naming the files it is about to write, then each file,
   atomically (`LakeStore`), under a name derived from the shard ranges it covers,
   so that retrying the same flush overwrites rather than duplicates;
3. puts the *commit*: the files and, per shard, the last sequence number read.
   This is the only checkpoint that counts; it lives in the lake, beside the data;
4. mirrors the checkpoint into the stream's `CheckpointStore` (for lag display).

A restart runs `CommitLog.recover` first (deleting the files of an intent that
never got its commit), then resumes every shard after the committed sequence
number. A kill at any moment therefore loses nothing and duplicates nothing.

The buffer is one budget shared by all partitions, and every flush writes one
file per partition it holds: that keeps a single exact checkpoint per shard,
and bounds memory by the buffer size whatever the number of partitions.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from petrostream import schema
from petrostream.errors import TransientError
from petrostream.lake.base import REJECTS, SENSORS
from petrostream.lake.commitlog import WRITER, Commit, CommitLog, FileEntry
from petrostream.lake.decode import decode_records, rejects_table
from petrostream.stream.base import CheckpointStore, GetRecordsResult, IteratorType, StreamRecord

if TYPE_CHECKING:
    import pyarrow as pa

    from petrostream.lake.base import LakeStore
    from petrostream.settings import Settings
    from petrostream.stream.base import Stream

log = logging.getLogger(__name__)

CONSUMER: Final = WRITER
PAGE_LIMIT: Final = 10_000
POLL_SECONDS: Final = 0.2
FLUSH_ATTEMPTS: Final = 5
# Memory a buffered record costs beside its data (record object, sequence number,
# partition key): the buffer budget counts memory, so peak RSS follows the setting.
RECORD_OVERHEAD: Final = 200
# Columns every sensors file carries, even when all null; sensors come and go.
ALWAYS: Final[tuple[str, ...]] = ("instance_id", "ts", "source_ts", *schema.LABEL_COLUMNS)
_CANONICAL_ORDER: Final = {c: i for i, c in enumerate(schema.RECORD_COLUMNS)}


@dataclass(slots=True)
class WriterStats:
    """Running counters of a writer, for progress lines and the final summary."""

    records: int = 0  # stream records read
    readings: int = 0  # rows committed to sensors
    rejects: int = 0  # rows committed to rejects
    files: int = 0  # data files committed
    commits: int = 0
    bytes: int = 0  # Parquet bytes committed
    lag_ms: int = 0  # max millis_behind_latest of the last pages
    buffered: int = 0  # records waiting for the next flush
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        """Seconds since the writer started."""
        return time.monotonic() - self.started

    def line(self) -> str:
        """One human line: rate, files, rejects, lag."""
        rate = self.records / self.elapsed if self.elapsed > 0 else 0.0
        return (
            f"lake: {self.records:,} records ({rate:,.0f}/s), {self.readings:,} readings in "
            f"{self.files:,} files / {self.commits:,} commits, {self.rejects:,} rejects, "
            f"{self.buffered:,} buffered, lag {self.lag_ms:,} ms"
        )


ProgressFn = Callable[[WriterStats], None]


class LakeWriter:
    """The ``lake-writer`` consumer of a stream into a lake.

    Args:
        stream: where records come from; if it is also a `CheckpointStore`, the
            committed checkpoint is mirrored into it after every commit.
        store: the lake.
        buffer_seconds: flush when the oldest buffered record has waited this long.
        buffer_bytes: flush when the buffered record data reaches this size.
        codec: Parquet compression codec.
        consumer: the name checkpoints and rejects carry.
        clock: monotonic seconds (injectable for tests).

    One writer per lake at a time (hold `ActorLock(home, "lake-writer")`).
    """

    def __init__(
        self,
        stream: Stream,
        store: LakeStore,
        *,
        buffer_seconds: float = 60.0,
        buffer_bytes: int = 5 * 1024 * 1024,
        codec: str = "zstd",
        consumer: str = CONSUMER,
        page_limit: int = PAGE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.store = store
        self.buffer_seconds = buffer_seconds
        self.buffer_bytes = buffer_bytes
        self.codec = codec
        self.consumer = consumer
        self.page_limit = page_limit
        self.clock = clock
        self.log = CommitLog(store, WRITER)
        self.stats = WriterStats()
        self.checkpoint: dict[str, str] = {}
        self._last_number = 0
        self._buffer: list[StreamRecord] = []
        self._ranges: dict[str, tuple[str, str]] = {}  # shard -> first, last seq buffered
        self._buffer_size = 0
        self._buffer_since = 0.0
        self._iterators: dict[str, str] = {}
        self._recovered = False

    @classmethod
    def from_settings(cls, stream: Stream, store: LakeStore, settings: Settings) -> LakeWriter:
        """A writer with the buffer and codec settings."""
        return cls(
            stream,
            store,
            buffer_seconds=settings.buffer_seconds,
            buffer_bytes=settings.buffer_bytes,
            codec=settings.parquet_codec,
        )

    # -- start-up -----------------------------------------------------------------

    def recover(self) -> dict[str, str]:
        """Drop orphans of an uncommitted flush and load the committed checkpoint.

        Called by `run` before reading; returns ``{shard_id: sequence number}``.
        """
        recovery = self.log.recover()
        if recovery.orphans_deleted:
            log.warning("deleted %d uncommitted file(s) of an interrupted flush",
                     len(recovery.orphans_deleted))  # fmt: skip
        last = recovery.last
        self._last_number = last.number if last else 0
        self.checkpoint = dict(last.checkpoint) if last else {}
        self._iterators = {}
        for shard in self.stream.list_shards():
            seq = self.checkpoint.get(shard.shard_id)
            if seq is None:
                it = self.stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
            else:
                it = self.stream.get_shard_iterator(
                    shard.shard_id, IteratorType.AFTER_SEQUENCE_NUMBER, sequence_number=seq
                )
            self._iterators[shard.shard_id] = it
        self._recovered = True
        return dict(self.checkpoint)

    # -- the loop -----------------------------------------------------------------

    def run(
        self,
        *,
        drain: bool = False,
        stop: threading.Event | None = None,
        progress: ProgressFn | None = None,
        progress_seconds: float = 2.0,
    ) -> WriterStats:
        """Consume until ``stop`` is set, or with ``drain`` until the stream is caught up.

        Either way the buffer is flushed and committed before returning.

        Raises:
            OSError: the lake cannot be written after retries (the last commit stays valid).
        """
        stop = stop or threading.Event()
        if not self._recovered:
            self.recover()
        next_progress = self.clock() + progress_seconds
        while not stop.is_set():
            got = self.poll()
            if self._due():
                self.flush()
            if progress and self.clock() >= next_progress:
                progress(self.stats)
                next_progress = self.clock() + progress_seconds
            if not got:
                if drain and self.stats.lag_ms == 0:
                    break
                stop.wait(POLL_SECONDS)
        self.flush()
        if progress:
            progress(self.stats)
        return self.stats

    def poll(self) -> int:
        """Read one page from every shard into the buffer; return the records read.

        Flushes in between when the buffer reaches its size.
        """
        got = 0
        lag = 0
        for shard_id, iterator in list(self._iterators.items()):
            result = self._get_records(iterator)
            if result is None:
                continue
            if result.next_iterator is None:
                del self._iterators[shard_id]  # closed shard, fully read
            else:
                self._iterators[shard_id] = result.next_iterator
            lag = max(lag, result.millis_behind_latest)
            if result.records:
                if not self._buffer:
                    self._buffer_since = self.clock()
                self._buffer.extend(result.records)
                first = self._ranges.get(shard_id, (result.records[0].sequence_number, ""))[0]
                self._ranges[shard_id] = (first, result.records[-1].sequence_number)
                self._buffer_size += (
                    sum(len(r.data) for r in result.records) + len(result.records) * RECORD_OVERHEAD
                )
                got += len(result.records)
                if self._buffer_size >= self.buffer_bytes:
                    self.flush()
        self.stats.records += got
        self.stats.lag_ms = lag
        self.stats.buffered = len(self._buffer)
        return got

    def _get_records(self, iterator: str) -> GetRecordsResult | None:
        try:
            return self.stream.get_records(iterator, limit=self.page_limit)
        except TransientError as exc:
            log.warning("get_records failed, retrying on the next poll: %s", exc)
            return None

    def _due(self) -> bool:
        if not self._buffer:
            return False
        return (
            self._buffer_size >= self.buffer_bytes
            or self.clock() - self._buffer_since >= self.buffer_seconds
        )

    # -- flush and commit ---------------------------------------------------------

    def flush(self) -> Commit | None:
        """Write the buffer as Parquet and commit it with the checkpoint; None if empty.

        Retries on I/O errors (the files of a retried flush keep their names).
        """
        if not self._buffer:
            return None
        for attempt in range(1, FLUSH_ATTEMPTS + 1):
            try:
                commit = self._flush_once()
                break
            except OSError as exc:
                if attempt == FLUSH_ATTEMPTS:
                    raise
                log.warning("flush failed (attempt %d), retrying: %s", attempt, exc)
                time.sleep(min(5.0, 0.2 * 2**attempt))
        self._buffer = []
        self._ranges = {}
        _release_arrow_memory()
        self._buffer_size = 0
        self.stats.buffered = 0
        self._mirror(commit.checkpoint)
        return commit

    def _flush_once(self) -> Commit:
        records = self._buffer
        ranges = self._ranges or _ranges_of(records)
        tag = ";".join(f"{s}:{a}-{b}" for s, (a, b) in sorted(ranges.items()))
        batch = decode_records(records)
        planned: list[tuple[str, str, pa.Table]] = []
        if batch.table is not None:
            for (dt, well_id), part in _partitions(batch.table, ("dt", "well_id")):
                folder = f"{SENSORS}/dt={dt}/well_id={well_id}"
                planned.append((SENSORS, _file_path(folder, tag), sensors_file_table(part)))
        if batch.rejects:
            rejects = rejects_table(batch.rejects, self.consumer)
            for (dt,), part in _partitions(rejects, ("dt",)):
                folder = f"{REJECTS}/dt={dt}"
                planned.append((REJECTS, _file_path(folder, tag), part.drop_columns(["dt"])))
        number = self._last_number + 1
        self.log.write_intent(number, [path for _, path, _ in planned])
        added = []
        for table_name, path, table in planned:
            size = self.store.write_parquet(path, table, codec=self.codec)
            added.append(FileEntry(path, table_name, table.num_rows, size))
        checkpoint = dict(self.checkpoint)
        checkpoint.update({s: b for s, (_, b) in ranges.items()})
        readings = batch.table.num_rows if batch.table is not None else 0
        commit = Commit(
            number=number,
            actor=WRITER,
            added=tuple(added),
            checkpoint=checkpoint,
            committed_at=datetime.now(UTC).isoformat(),
            stats={"records": len(records), "readings": readings, "rejects": len(batch.rejects)},
        )
        self.log.append(commit)
        self.log.clear_intent(number)
        self._last_number = number
        self.checkpoint = checkpoint
        self.stats.readings += readings
        self.stats.rejects += len(batch.rejects)
        self.stats.files += len(added)
        self.stats.commits += 1
        self.stats.bytes += sum(f.bytes for f in added)
        return commit

    def _mirror(self, checkpoint: dict[str, str]) -> None:
        if not isinstance(self.stream, CheckpointStore):
            return
        try:
            for shard_id, seq in checkpoint.items():
                self.stream.set_checkpoint(self.consumer, shard_id, seq)
        except Exception as exc:  # noqa: BLE001 - display only; the lake's commit is the truth
            log.warning("could not mirror the checkpoint into the stream: %s", exc)


def _release_arrow_memory() -> None:
    """Give the flush's Arrow buffers back to the OS (the pool would keep them cached)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _ranges_of(records: list[StreamRecord]) -> dict[str, tuple[str, str]]:
    ranges: dict[str, tuple[str, str]] = {}
    for rec in records:
        first = ranges.get(rec.shard_id)
        ranges[rec.shard_id] = (first[0] if first else rec.sequence_number, rec.sequence_number)
    return ranges


def _file_path(folder: str, tag: str) -> str:
    digest = hashlib.sha256(f"{folder}|{tag}".encode()).hexdigest()[:24]
    return f"{folder}/part-{digest}.parquet"


def _partitions(table: pa.Table, keys: tuple[str, ...]) -> list[tuple[tuple[str, ...], pa.Table]]:
    """Split ``table`` by the values of ``keys`` (string columns), keeping row order."""
    import numpy as np
    import pyarrow.compute as pc

    codes = np.zeros(table.num_rows, dtype=np.int64)
    dictionaries = []
    for key in keys:
        encoded = pc.dictionary_encode(table.column(key)).combine_chunks()
        dictionary = encoded.dictionary.to_pylist()
        dictionaries.append(dictionary)
        codes = codes * len(dictionary) + encoded.indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    bounds = [0, *(np.flatnonzero(np.diff(ordered)) + 1).tolist(), len(ordered)]
    taken = table.take(order) if len(bounds) > 2 else table
    parts = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        code = int(ordered[start])
        values = []
        for dictionary in reversed(dictionaries):
            code, index = divmod(code, len(dictionary))
            values.append(str(dictionary[index]))
        parts.append((tuple(reversed(values)), taken.slice(start, end - start)))
    return parts


def sensors_file_table(part: pa.Table) -> pa.Table:
    """The columns a sensors file stores: no partition columns, no all-null sensors.

    A file's schema is the union of its buffer's columns: key and label columns
    always, a sensor (canonical or new) only if some reading of the file has it.
    Canonical columns keep canonical order; new ones follow, sorted by name.
    """
    names = []
    for name in part.column_names:
        if name in schema.PARTITION_COLUMNS:
            continue
        column = part.column(name)
        if name in ALWAYS or column.null_count < len(column):
            names.append(name)
    names.sort(key=lambda n: (_CANONICAL_ORDER.get(n, len(_CANONICAL_ORDER)), n))
    return part.select(names)
