"""The lake writer: a stream consumer that lands every reading in Parquet exactly once.

Loop: read pages from every shard, decode each page into Arrow and split it by
partition (day of ``ts``, ``well_id``) as it arrives, and flush when the records of
one partition reach ``buffer_bytes`` (5 MB, Firehose's default), all of them reach
``buffer_total_bytes`` (64 MB), or the oldest has waited ``buffer_seconds``. A flush
is one Iceberg append per table (`petrostream.lake.tables.commit_append`): pyiceberg
writes the data files, then one atomic catalog commit makes them visible, and the
snapshot's summary carries, per shard, the last sequence number read. That snapshot
is the only checkpoint that counts; it lives in the table, beside the data. The
checkpoint is then mirrored into the stream's `CheckpointStore` (for lag display).

A flush that holds rejects commits ``rejects`` first, then ``sensors``, both with the
same checkpoint. A restart resumes every shard after the checkpoint of the newest
``sensors`` snapshot of this writer; rejects a crash between the two commits had
already committed are recognised by their sequence number against the ``rejects``
checkpoint and dropped. A file of a flush killed before its commit is in no snapshot:
no reader sees it, and `petrostream maintain` deletes it as an orphan. A kill at any
moment therefore loses nothing and duplicates nothing.

Partitions fill on their own (size per partition, as Firehose's dynamic
partitioning counts it), yet every flush writes every partition the buffer holds:
one flush, one snapshot, one exact checkpoint per shard. With an even fleet the
partitions fill together and their files hold up to ``buffer_bytes`` of records
each (per-partition flushes would need per-partition checkpoints; compaction merges
what a hot partition's flushes leave small in the others). ``buffer_total_bytes``
bounds memory whatever the number of partitions.

Inside `run`, four threads overlap (pyarrow's JSON parse and Parquet write
release the GIL): the loop reads pages, two decoder threads parse and split pages
as soon as they are read, and a flush thread writes and commits the previous
buffer. At most one flush is in flight: when the next buffer is full before the
previous flush has committed, reading waits, so at most two buffers are in memory.
Flushes run one after the other, in order, so commits and checkpoints are exactly
those of sequential flushes. On a local stream the loop reads pages with
`LocalStream.get_record_blobs` (no record object per record); other streams go
through `get_records`.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from petrostream import schema
from petrostream.errors import TransientError
from petrostream.lake import tables
from petrostream.lake.base import FLOAT_ENCODING
from petrostream.lake.decode import (
    Origin,
    Reject,
    concat_tables,
    decode_data,
    rejects_table,
)
from petrostream.record import KNOWN_FIELDS, MAX_NEW_COLUMNS, MAX_NEW_FIELDS, ColumnBudget
from petrostream.stream.base import BlobReader, CheckpointStore, GetRecordsResult, IteratorType

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from petrostream.settings import Settings
    from petrostream.stream.base import Stream
    from petrostream.stream.local import RecordBlobs

log = logging.getLogger(__name__)

CONSUMER: Final = "lake-writer"
PAGE_LIMIT: Final = 10_000
DECODE_AHEAD: Final = 2  # pages read and not yet decoded that a size check does not wait for
DECODERS: Final = 2  # threads decoding pages (one page each at a time)
POLL_SECONDS: Final = 0.2
FLUSH_ATTEMPTS: Final = 5
STREAM_CACHE_MIB: Final = 8  # SQLite page cache of a local stream the writer reads
# Columns every sensors file carries, even when all null; sensors come and go.
ALWAYS: Final[tuple[str, ...]] = (
    "well_id",
    "instance_id",
    "ts",
    "source_ts",
    *schema.LABEL_COLUMNS,
)
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


@dataclass(frozen=True, slots=True)
class _Page:
    """One page of one shard in the buffer: payloads, first/last sequence, origins."""

    shard_id: str
    data: list[bytes]
    first: str
    last: str
    origin: Callable[[int], Origin]

    @classmethod
    def of_records(cls, shard_id: str, result: GetRecordsResult) -> _Page:
        records = result.records
        return cls(
            shard_id,
            [r.data for r in records],
            records[0].sequence_number,
            records[-1].sequence_number,
            lambda i: (records[i].shard_id, records[i].sequence_number, records[i].arrival),
        )

    @classmethod
    def of_blobs(cls, blobs: RecordBlobs) -> _Page:
        seqs = blobs.sequence_numbers
        return cls(
            blobs.shard_id,
            blobs.data,
            str(seqs[0]),
            str(seqs[-1]),
            lambda i: (blobs.shard_id, str(seqs[i]), blobs.arrival(i)),
        )


PartitionKey = tuple[str, str]  # (dt, well_id)


@dataclass(frozen=True, slots=True)
class _SplitPage:
    """One page decoded (`decode_data`) and split by partition (`decode_page`)."""

    parts: dict[PartitionKey, pa.Table]  # rows of each partition, partition columns dropped
    rejects: list[Reject]
    record_bytes: float  # mean size of the page's records on the stream


def decode_page(
    datas: list[bytes],
    origin: Callable[[int], Origin],
    size: int,
    budget: ColumnBudget | None = None,
) -> _SplitPage:
    """Decode a page of record payloads (``size`` bytes in all), split by partition.

    ``budget``: the new columns the lake admits (the writer's, kept across pages).
    """
    try:
        batch = decode_data(datas, origin, budget=budget)
    finally:
        if isinstance(budget, _PageBudget):
            budget.finish()
    parts: dict[PartitionKey, pa.Table] = {}
    if batch.table is not None:
        for (dt, well_id), table in _partitions(batch.table, ("dt", "well_id")):
            parts[dt, well_id] = table
    return _SplitPage(parts, batch.rejects, size / len(datas))


@dataclass(slots=True)
class _Buffer:
    """Records read and not yet flushed, decoded and split page by page, with their shard ranges.

    Each page is decoded and split by partition as it arrives (`decode_page`), in the
    decoder thread inside `run` (the JSON parse releases the GIL, so it runs beside the
    reading and the flush in flight), else at once. The buffer keeps each page's
    readings per partition and its rejects, not its raw records.

    Sizes count record bytes as they were on the stream (as Firehose counts its
    buffer): ``size`` all of them, ``partition_bytes`` those of each partition whose
    page is decoded (a page's records of a partition x the page's mean record size).
    """

    pages: list[Future[_SplitPage]] = field(default_factory=list)  # in stream order
    ranges: dict[str, tuple[str, str]] = field(default_factory=dict)  # shard -> first, last
    records: int = 0
    size: int = 0  # record bytes of every page
    since: float = 0.0  # clock() when the first page came in
    partition_bytes: dict[PartitionKey, float] = field(default_factory=dict)
    _counted: int = 0  # pages (from the start) whose partitions are in `partition_bytes`

    def add(
        self,
        page: _Page,
        now: float,
        decoder: Executor | None = None,
        budget: ColumnBudget | None = None,
    ) -> None:
        """Append a page (not empty) read at ``now``; decode it in ``decoder`` or now."""
        if not self.records:
            self.since = now
        size = sum(map(len, page.data))
        if decoder is None:
            done: Future[_SplitPage] = Future()
            done.set_result(decode_page(page.data, page.origin, size, budget))
            self.pages.append(done)
        else:
            self.pages.append(decoder.submit(decode_page, page.data, page.origin, size, budget))
        first = self.ranges.get(page.shard_id, (page.first, ""))[0]
        self.ranges[page.shard_id] = (first, page.last)
        self.records += len(page.data)
        self.size += size

    def largest_partition(self) -> float:
        """Record bytes of the biggest partition, over all pages but the last `DECODE_AHEAD`.

        Waits for those pages' decoding: reading stays at most `DECODE_AHEAD` pages
        ahead of the decoder, and flushes fall on the same pages whether pages are
        decoded in a thread or at once (the same stream gives the same files).
        """
        while self._counted < len(self.pages) - DECODE_AHEAD:
            split = self.pages[self._counted].result()
            for key, table in split.parts.items():
                grown = self.partition_bytes.get(key, 0.0) + table.num_rows * split.record_bytes
                self.partition_bytes[key] = grown
            self._counted += 1
        return max(self.partition_bytes.values(), default=0.0)

    def decoded(self) -> tuple[dict[PartitionKey, list[pa.Table]], list[Reject]]:
        """Every reading of the buffer by partition (stream order) and its rejects.

        Waits for the pages still being decoded; drops the buffer's own references.
        """
        parts: dict[PartitionKey, list[pa.Table]] = {}
        rejects: list[Reject] = []
        pages, self.pages = self.pages, []
        for future in pages:
            split = future.result()
            for key, table in split.parts.items():
                parts.setdefault(key, []).append(table)
            rejects.extend(split.rejects)
        return parts, rejects


@dataclass(frozen=True, slots=True)
class _Plan:
    """A decoded buffer: its shard ranges, the rows of each table, its stats."""

    ranges: dict[str, tuple[str, str]]
    sensors: list[pa.Table]  # one table per partition of the sensors table
    rejects: pa.Table | None
    stats: dict[str, int]


@dataclass(frozen=True, slots=True)
class Flush:
    """What one flush committed: the snapshot ids per table, the checkpoint, the counts."""

    snapshots: dict[str, int]
    checkpoint: dict[str, str]
    stats: dict[str, int]


class LakeWriter:
    """The ``lake-writer`` consumer of a stream into a lake.

    Args:
        stream: where records come from; if it is also a `CheckpointStore`, the
            committed checkpoint is mirrored into it after every commit.
        catalog: the lake's Iceberg catalog (`petrostream.lake.tables.open_catalog`).
        buffer_seconds: flush when the oldest buffered record has waited this long.
        buffer_bytes: flush when the records of one partition reach this size.
        buffer_total_bytes: flush when the records of all partitions reach this size
            (bounds memory whatever the number of partitions).
        codec: Parquet compression codec of the files it writes.
        float_encoding: how doubles are encoded (`petrostream.lake.base.parquet_encodings`).
        max_new_columns: new (non-canonical) sensor columns the lake admits in all,
            counting those ``sensors`` already has; a record that would pass it is a
            ``too_many_columns`` reject.
        max_new_fields: new fields one record may carry (``too_many_fields``).
        consumer: the name checkpoints and rejects carry.
        clock: monotonic seconds (injectable for tests).

    One writer per lake at a time (hold `ActorLock(home, "lake-writer")`).
    """

    def __init__(
        self,
        stream: Stream,
        catalog: Catalog,
        *,
        buffer_seconds: float = 60.0,
        buffer_bytes: int = 5 * 1024 * 1024,
        buffer_total_bytes: int = 64 * 1024 * 1024,
        codec: str = "zstd",
        float_encoding: str = FLOAT_ENCODING,
        max_new_columns: int = MAX_NEW_COLUMNS,
        max_new_fields: int = MAX_NEW_FIELDS,
        consumer: str = CONSUMER,
        page_limit: int = PAGE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.catalog = catalog
        self.buffer_seconds = buffer_seconds
        self.buffer_bytes = buffer_bytes
        self.buffer_total_bytes = buffer_total_bytes
        self.codec = codec
        self.float_encoding = float_encoding
        self.max_new_columns = max_new_columns
        self.max_new_fields = max_new_fields
        self._budget = _SharedBudget(max_new_columns, max_fields=max_new_fields)
        self.consumer = consumer
        self.page_limit = page_limit
        self.clock = clock
        self._tables = {
            name: tables.open_table(catalog, name) for name in (tables.SENSORS, tables.REJECTS)
        }
        # pyiceberg's write path (~0.5 s of imports) at start, not in the first flush
        importlib.import_module("pyiceberg.io.pyarrow")
        self.stats = WriterStats()
        self.checkpoint: dict[str, str] = {}
        self._rejects_checkpoint: dict[str, str] = {}
        self._buffer = _Buffer()
        self._iterators: dict[str, str] = {}
        self._recovered = False
        # Set while `run` flushes in the background: the executor and the flush in flight.
        self._pool: ThreadPoolExecutor | None = None
        self._decoder: ThreadPoolExecutor | None = None  # decodes pages as they are read
        self._pending: Future[Flush] | None = None
        self._get_blobs: Callable[..., RecordBlobs] | None = None
        if isinstance(stream, BlobReader):
            self._get_blobs = stream.get_record_blobs
            # Read once, in order: SQLite's page cache would only hold memory the
            # buffers need (64 MiB by default; measured: no change in speed).
            stream.set_page_cache(STREAM_CACHE_MIB)

    @classmethod
    def from_settings(cls, stream: Stream, catalog: Catalog, settings: Settings) -> LakeWriter:
        """A writer with the buffer, codec and encoding settings."""
        return cls(
            stream,
            catalog,
            buffer_seconds=settings.buffer_seconds,
            buffer_bytes=settings.buffer_bytes,
            buffer_total_bytes=settings.buffer_total_bytes,
            codec=settings.parquet_codec,
            float_encoding=settings.parquet_float_encoding,
            max_new_columns=settings.max_new_columns,
            max_new_fields=settings.max_new_fields_per_record,
        )

    # -- start-up -----------------------------------------------------------------

    def recover(self) -> dict[str, str]:
        """Load the committed checkpoint: that of this writer's newest ``sensors`` snapshot.

        Called by `run` before reading; returns ``{shard_id: sequence number}``.
        """
        for name in self._tables:
            self._tables[name] = self.catalog.load_table(tables.DEFS[name].identifier)
        self.checkpoint = tables.writer_checkpoint(self._tables[tables.SENSORS], self.consumer)
        self._rejects_checkpoint = tables.writer_checkpoint(
            self._tables[tables.REJECTS], self.consumer
        )
        columns = [f.name for f in self._tables[tables.SENSORS].schema().fields]
        self._budget = _SharedBudget(self.max_new_columns, columns, max_fields=self.max_new_fields)
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
        prefer_jemalloc()
        next_progress = self.clock() + progress_seconds
        # Leaving the block (normally or by an error) waits for the flush in flight.
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-flush") as pool,
            ThreadPoolExecutor(DECODERS, thread_name_prefix="lake-decode") as decoder,
        ):
            self._pool = pool
            self._decoder = decoder
            try:
                while not stop.is_set():
                    got = self.poll()
                    if self._due():
                        self._hand_off()
                    self._raise_failed_flush()
                    if progress and self.clock() >= next_progress:
                        progress(self.stats)
                        next_progress = self.clock() + progress_seconds
                    if not got:
                        if drain and self.stats.lag_ms == 0:
                            break
                        stop.wait(POLL_SECONDS)
                self._wait_flush()
            finally:
                self._pool = None
                self._decoder = None
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
            read = self._read_page(shard_id, iterator)
            if read is None:
                continue
            page, next_iterator, behind = read
            if next_iterator is None:
                del self._iterators[shard_id]  # closed shard, fully read
            else:
                self._iterators[shard_id] = next_iterator
            lag = max(lag, behind)
            if page is not None:
                self._buffer.add(page, self.clock(), self._decoder, self._budget.page())
                got += len(page.data)
                if self._full():
                    self._hand_off()
        self.stats.records += got
        self.stats.lag_ms = lag
        self.stats.buffered = self._buffer.records
        return got

    def _read_page(
        self, shard_id: str, iterator: str
    ) -> tuple[_Page | None, str | None, int] | None:
        """One page of a shard: (page or None if empty, next iterator, lag); None on error."""
        try:
            if self._get_blobs is not None:
                blobs = self._get_blobs(iterator, limit=self.page_limit)
                page = _Page.of_blobs(blobs) if blobs.data else None
                return page, blobs.next_iterator, blobs.millis_behind_latest
            result = self.stream.get_records(iterator, limit=self.page_limit)
        except TransientError as exc:
            log.warning("get_records failed, retrying on the next poll: %s", exc)
            return None
        page = _Page.of_records(shard_id, result) if result.records else None
        return page, result.next_iterator, result.millis_behind_latest

    def _full(self) -> bool:
        """A partition's records, or all of them, reached their size."""
        return (
            self._buffer.size >= self.buffer_total_bytes
            or self._buffer.largest_partition() >= self.buffer_bytes
        )

    def _due(self) -> bool:
        if not self._buffer.records:
            return False
        return self._full() or self.clock() - self._buffer.since >= self.buffer_seconds

    # -- flush and commit ---------------------------------------------------------

    def flush(self) -> Flush | None:
        """Commit the buffer to the tables with the checkpoint; None if empty.

        Waits first for a background flush in flight (and raises its error).
        Retries on I/O errors and on a commit that lost a race (`maintain`'s).
        """
        self._wait_flush()
        if not self._buffer.records:
            return None
        buffer = self._buffer
        flushed = self._flush_buffer(buffer)
        self._buffer = _Buffer()
        self.stats.buffered = 0
        return flushed

    def _hand_off(self) -> None:
        """Flush the buffer: in the background inside `run` (one at a time), else now."""
        if self._pool is None:
            self.flush()
            return
        self._wait_flush()  # at most one flush in flight: two buffers in memory at most
        buffer, self._buffer = self._buffer, _Buffer()
        self.stats.buffered = 0
        self._pending = self._pool.submit(self._flush_buffer, buffer)

    def _wait_flush(self) -> None:
        """Wait for the background flush in flight, if any; raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _raise_failed_flush(self) -> None:
        if self._pending is not None and self._pending.done():
            self._wait_flush()

    def _flush_buffer(self, buffer: _Buffer) -> Flush:
        from pyiceberg.exceptions import CommitFailedException

        plan = self._plan(buffer)  # the tables' rows replace the buffer's decoded pages
        for attempt in range(1, FLUSH_ATTEMPTS + 1):
            try:
                flushed = self._flush_once(plan)
                break
            except (OSError, CommitFailedException) as exc:
                if attempt == FLUSH_ATTEMPTS:
                    raise
                log.warning("flush failed (attempt %d), retrying: %s", attempt, exc)
                time.sleep(min(5.0, 0.2 * 2**attempt))
                self._reload()
        self._mirror(flushed.checkpoint)
        return flushed

    def _reload(self) -> None:
        for name in self._tables:
            self._tables[name] = self.catalog.load_table(tables.DEFS[name].identifier)

    def _plan(self, buffer: _Buffer) -> _Plan:
        """Gather a buffer into the rows of each table (no I/O)."""
        import pyarrow as pa

        ranges = dict(buffer.ranges)
        parts, rejected = buffer.decoded()
        # The wells of one (day, bucket) partition of the table go to one file together.
        groups: dict[tuple[str, int], list[pa.Table]] = {}
        for (dt, well_id), chunks in sorted(parts.items()):
            table = concat_tables(chunks)
            table = table.append_column("well_id", pa.array([well_id] * table.num_rows))
            groups.setdefault((dt, tables.well_bucket(well_id)), []).append(table)
        sensors_rows = [sensors_file_table(concat_tables(g)) for _, g in sorted(groups.items())]
        rejects_rows = None
        if rejected:
            rejects_rows = rejects_table(rejected, self.consumer).drop_columns(["dt"])
        readings = sum(t.num_rows for t in sensors_rows)
        stats = {"records": buffer.records, "readings": readings, "rejects": len(rejected)}
        return _Plan(ranges, sensors_rows, rejects_rows, stats)

    def _flush_once(self, plan: _Plan) -> Flush:
        checkpoint = dict(self.checkpoint)
        checkpoint.update({s: b for s, (_, b) in plan.ranges.items()})
        snapshots: dict[str, int] = {}
        rejects = self._new_rejects(plan.rejects)
        if rejects is not None and rejects.num_rows:
            committed = self._append(tables.REJECTS, rejects, checkpoint)
            self._rejects_checkpoint = checkpoint
            snapshots[tables.REJECTS] = committed
        # Always a sensors snapshot, empty if need be: it holds the checkpoint.
        sensors = plan.sensors or [_empty_sensors()]
        snapshots[tables.SENSORS] = self._append(tables.SENSORS, sensors, checkpoint)
        self.checkpoint = checkpoint
        self.stats.readings += plan.stats["readings"]
        self.stats.rejects += plan.stats["rejects"]
        self.stats.commits += 1
        for snapshot_id in snapshots.values():
            summary = self._summary(snapshot_id)
            self.stats.files += int(summary.get("added-data-files", 0))
            self.stats.bytes += int(summary.get("added-files-size", 0))
        return Flush(snapshots, checkpoint, dict(plan.stats))

    def _append(
        self, name: str, rows: pa.Table | list[pa.Table], checkpoint: dict[str, str]
    ) -> int:
        table = tables.commit_append(
            self._tables[name],
            rows,
            writer=self.consumer,
            checkpoint=checkpoint,
            codec=self.codec,
            float_encoding=self.float_encoding,
        )
        self._tables[name] = table
        snapshot = table.current_snapshot()
        assert snapshot is not None  # noqa: S101 - an append always makes one
        return int(snapshot.snapshot_id)

    def _summary(self, snapshot_id: int) -> dict[str, str]:
        for table in self._tables.values():
            snapshot = table.snapshot_by_id(snapshot_id)
            if snapshot is not None and snapshot.summary is not None:
                return dict(snapshot.summary.additional_properties)
        return {}

    def _new_rejects(self, rows: pa.Table | None) -> pa.Table | None:
        """Rejects past the ``rejects`` checkpoint (a crash may have committed some already)."""
        if rows is None or not self._rejects_checkpoint:
            return rows
        import pyarrow as pa

        done = self._rejects_checkpoint
        keep = [
            not _at_or_before(seq, done.get(shard))
            for shard, seq in zip(
                rows.column("shard_id").to_pylist(),
                rows.column("sequence_number").to_pylist(),
                strict=True,
            )
        ]
        return rows.filter(pa.array(keep))

    def _mirror(self, checkpoint: dict[str, str]) -> None:
        if not isinstance(self.stream, CheckpointStore):
            return
        try:
            for shard_id, seq in checkpoint.items():
                self.stream.set_checkpoint(self.consumer, shard_id, seq)
        except Exception as exc:  # noqa: BLE001 - display only; the lake's commit is the truth
            log.warning("could not mirror the checkpoint into the stream: %s", exc)


class _SharedBudget(ColumnBudget):
    """The writer's `ColumnBudget`, shared by its decoder threads, admitting in stream order.

    Pages are decoded two at a time; each takes a ticket (`page`) in stream order, and
    a page that brings new columns admits them only once every earlier page is decoded.
    So when new columns pass the limit, the record refused is the later one in the
    stream, whichever thread gets there first: the same stream gives the same lake.
    """

    def __init__(
        self, limit: int, known: Iterable[str] = (), *, max_fields: int = MAX_NEW_FIELDS
    ) -> None:
        super().__init__(limit, known, max_fields=max_fields)
        self._turn = threading.Condition()
        self._tickets = 0  # pages handed a ticket
        self._next = 0  # the first ticket whose page is not decoded yet
        self._finished: set[int] = set()  # decoded tickets after `_next`

    def page(self) -> _PageBudget:
        """The budget of the next page in stream order (call in stream order)."""
        with self._turn:
            ticket, self._tickets = self._tickets, self._tickets + 1
        return _PageBudget(self, ticket)

    def admit_in_turn(self, obj: Mapping[str, Any], ticket: int) -> None:
        """`ColumnBudget.admit` for page ``ticket``, after every earlier page if it adds columns."""
        if KNOWN_FIELDS.issuperset(obj) or self._admitted.issuperset(
            k for k in obj if k not in KNOWN_FIELDS
        ):
            return  # nothing new (what earlier pages admitted only grows)
        with self._turn:
            self._turn.wait_for(lambda: self._next >= ticket)
            super().admit(obj)

    def finish(self, ticket: int) -> None:
        """Page ``ticket`` is decoded (or failed): later pages may admit past it."""
        with self._turn:
            self._finished.add(ticket)
            while self._next in self._finished:
                self._finished.remove(self._next)
                self._next += 1
            self._turn.notify_all()


class _PageBudget(ColumnBudget):
    """One page's view of the writer's `_SharedBudget` (its place in stream order)."""

    def __init__(self, shared: _SharedBudget, ticket: int) -> None:
        self.limit = shared.limit
        self.max_fields = shared.max_fields
        self._shared = shared
        self._ticket = ticket

    def admit(self, obj: Mapping[str, Any]) -> None:
        """Admit in the page's turn (`_SharedBudget.admit_in_turn`)."""
        self._shared.admit_in_turn(obj, self._ticket)

    def finish(self) -> None:
        """The page is decoded: release the pages after it."""
        self._shared.finish(self._ticket)


def prefer_jemalloc() -> None:
    """Make jemalloc Arrow's memory pool in this process, in place of Arrow's mimalloc.

    With the writer's threads, mimalloc kept more resident at the same speed (peak
    RSS 289-325 MB against 216-270 MB at the default buffers: benchmarks/RESULTS.md).
    A pool chosen with ``ARROW_DEFAULT_MEMORY_POOL`` other than mimalloc is kept, as
    is mimalloc in a pyarrow built without jemalloc.
    """
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "mimalloc":
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:
        log.debug("pyarrow has no jemalloc: Arrow keeps mimalloc")


def _at_or_before(seq: str, checkpoint: str | None) -> bool:
    """Whether sequence number ``seq`` is covered by a shard's checkpoint."""
    if checkpoint is None:
        return False
    if seq.isdigit() and checkpoint.isdigit():
        return int(seq) <= int(checkpoint)
    return (len(seq), seq) <= (len(checkpoint), checkpoint)


def _empty_sensors() -> pa.Table:
    """A sensors table of no rows (the key columns only)."""
    import pyarrow as pa

    return pa.table(
        {
            "well_id": pa.array([], pa.string()),
            "ts": pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )


def _partitions(table: pa.Table, keys: tuple[str, ...]) -> list[tuple[tuple[str, ...], pa.Table]]:
    """Split ``table`` by the values of ``keys`` (string columns, dropped), keeping row order."""
    import numpy as np
    import pyarrow.compute as pc

    codes = np.zeros(table.num_rows, dtype=np.int64)
    dictionaries = []
    for key in keys:
        encoded = pc.dictionary_encode(table.column(key)).combine_chunks()
        dictionary = encoded.dictionary.to_pylist()
        dictionaries.append(dictionary)
        codes = codes * len(dictionary) + encoded.indices.to_numpy(zero_copy_only=False)
    rows = table.drop_columns(list(keys))
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    bounds = [0, *(np.flatnonzero(np.diff(ordered)) + 1).tolist(), len(ordered)]
    taken = rows.take(order) if len(bounds) > 2 else rows
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
    """The columns a flush appends to ``sensors``: no ``dt``, no all-null sensors.

    A flush's schema is the union of its buffer's columns: key and label columns
    always, a sensor (canonical or new) only if some reading of the file has it.
    Canonical columns keep canonical order; new ones follow, sorted by name.
    """
    names = []
    for name in part.column_names:
        column = part.column(name)
        if name in ALWAYS or column.null_count < len(column):
            names.append(name)
    names.sort(key=lambda n: (_CANONICAL_ORDER.get(n, len(_CANONICAL_ORDER)), n))
    return part.select(names)
