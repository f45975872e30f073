"""The lake writer: a stream consumer that lands every reading in Parquet exactly once.

Loop: read pages from every shard, decode each page into Arrow and split it by
partition ``dt=<date of ts>/well_id=<well>`` as it arrives (a late reading lands in
the partition of its own ``ts``; rejects go by ``dt=<arrival date>``), and flush when
the records of one partition reach ``buffer_bytes`` (5 MB, Firehose's default), all
of them reach ``buffer_total_bytes`` (64 MB), or the oldest has waited
``buffer_seconds``. A flush:

1. gathers each partition's rows of the buffer's pages into one file's table;
2. puts an *intent* naming the files it is about to write, then each file,
   atomically (`LakeStore`), under a name derived from the shard ranges it covers,
   so that retrying the same flush overwrites rather than duplicates;
3. puts the *commit*: the files and, per shard, the last sequence number read.
   This is the only checkpoint that counts; it lives in the lake, beside the data;
4. mirrors the checkpoint into the stream's `CheckpointStore` (for lag display).

A restart runs `CommitLog.recover` first (deleting the files of an intent that
never got its commit), then resumes every shard after the committed sequence
number. A kill at any moment therefore loses nothing and duplicates nothing.

Partitions fill on their own (size per partition, as Firehose's dynamic
partitioning counts it), yet every flush writes every partition the buffer holds:
one flush, one commit, one exact checkpoint per shard. With an even fleet the
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

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from petrostream import schema
from petrostream.errors import TransientError
from petrostream.lake.base import REJECTS, SENSORS
from petrostream.lake.commitlog import WRITER, Commit, CommitLog, FileEntry
from petrostream.lake.decode import (
    Origin,
    Reject,
    concat_tables,
    decode_data,
    rejects_table,
)
from petrostream.stream.base import CheckpointStore, GetRecordsResult, IteratorType

if TYPE_CHECKING:
    import pyarrow as pa

    from petrostream.lake.base import LakeStore
    from petrostream.settings import Settings
    from petrostream.stream.base import Stream
    from petrostream.stream.local import RecordBlobs

log = logging.getLogger(__name__)

CONSUMER: Final = WRITER
PAGE_LIMIT: Final = 10_000
DECODE_AHEAD: Final = 2  # pages read and not yet decoded that a size check does not wait for
DECODERS: Final = 2  # threads decoding pages (one page each at a time)
POLL_SECONDS: Final = 0.2
FLUSH_ATTEMPTS: Final = 5
PUT_THREADS: Final = 2  # files of one flush written at once (fsync latency overlaps)
STREAM_CACHE_MIB: Final = 8  # SQLite page cache of a local stream the writer reads
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


def decode_page(datas: list[bytes], origin: Callable[[int], Origin], size: int) -> _SplitPage:
    """Decode a page of record payloads (``size`` bytes in all), split by partition."""
    batch = decode_data(datas, origin)
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

    def add(self, page: _Page, now: float, decoder: Executor | None = None) -> None:
        """Append a page (not empty) read at ``now``; decode it in ``decoder`` or now."""
        if not self.records:
            self.since = now
        size = sum(map(len, page.data))
        if decoder is None:
            done: Future[_SplitPage] = Future()
            done.set_result(decode_page(page.data, page.origin, size))
            self.pages.append(done)
        else:
            self.pages.append(decoder.submit(decode_page, page.data, page.origin, size))
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
    """A decoded buffer: its shard ranges, the files to put, its commit stats."""

    ranges: dict[str, tuple[str, str]]
    files: list[tuple[str, str, pa.Table]]
    stats: dict[str, int]


class LakeWriter:
    """The ``lake-writer`` consumer of a stream into a lake.

    Args:
        stream: where records come from; if it is also a `CheckpointStore`, the
            committed checkpoint is mirrored into it after every commit.
        store: the lake.
        buffer_seconds: flush when the oldest buffered record has waited this long.
        buffer_bytes: flush when the records of one partition reach this size.
        buffer_total_bytes: flush when the records of all partitions reach this size
            (bounds memory whatever the number of partitions).
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
        buffer_total_bytes: int = 64 * 1024 * 1024,
        codec: str = "zstd",
        consumer: str = CONSUMER,
        page_limit: int = PAGE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.store = store
        self.buffer_seconds = buffer_seconds
        self.buffer_bytes = buffer_bytes
        self.buffer_total_bytes = buffer_total_bytes
        self.codec = codec
        self.consumer = consumer
        self.page_limit = page_limit
        self.clock = clock
        self.log = CommitLog(store, WRITER)
        self.stats = WriterStats()
        self.checkpoint: dict[str, str] = {}
        self._last_number = 0
        self._buffer = _Buffer()
        self._iterators: dict[str, str] = {}
        self._recovered = False
        # Set while `run` flushes in the background: the executor and the flush in flight.
        self._pool: ThreadPoolExecutor | None = None
        self._decoder: ThreadPoolExecutor | None = None  # decodes pages as they are read
        self._pending: Future[Commit] | None = None
        blobs = getattr(stream, "get_record_blobs", None)
        self._get_blobs: Callable[..., RecordBlobs] | None = blobs if callable(blobs) else None
        cache = getattr(stream, "set_page_cache", None)
        if callable(cache):
            # Read once, in order: SQLite's page cache would only hold memory the
            # buffers need (64 MiB by default; measured: no change in speed).
            cache(STREAM_CACHE_MIB)

    @classmethod
    def from_settings(cls, stream: Stream, store: LakeStore, settings: Settings) -> LakeWriter:
        """A writer with the buffer, codec and encoding settings."""
        store.float_encoding = settings.parquet_float_encoding  # also for a store from elsewhere
        return cls(
            stream,
            store,
            buffer_seconds=settings.buffer_seconds,
            buffer_bytes=settings.buffer_bytes,
            buffer_total_bytes=settings.buffer_total_bytes,
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
                self._buffer.add(page, self.clock(), self._decoder)
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

    def flush(self) -> Commit | None:
        """Write the buffer as Parquet and commit it with the checkpoint; None if empty.

        Waits first for a background flush in flight (and raises its error).
        Retries on I/O errors (the files of a retried flush keep their names).
        """
        self._wait_flush()
        if not self._buffer.records:
            return None
        buffer = self._buffer
        commit = self._flush_buffer(buffer)
        self._buffer = _Buffer()
        self.stats.buffered = 0
        return commit

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

    def _flush_buffer(self, buffer: _Buffer) -> Commit:
        plan = self._plan(buffer)  # the files' tables replace the buffer's decoded pages
        for attempt in range(1, FLUSH_ATTEMPTS + 1):
            try:
                commit = self._flush_once(plan)
                break
            except OSError as exc:
                if attempt == FLUSH_ATTEMPTS:
                    raise
                log.warning("flush failed (attempt %d), retrying: %s", attempt, exc)
                time.sleep(min(5.0, 0.2 * 2**attempt))
        # No `release_unused()` of Arrow's pool here: the next flush reuses the cached
        # blocks, where giving them back cost ~8 % of the CPU in page faults (peak RSS
        # +30 MB, within 2 x buffer + 300 MB: benchmarks/RESULTS.md).
        self._mirror(commit.checkpoint)
        return commit

    def _plan(self, buffer: _Buffer) -> _Plan:
        """Gather a buffer into the files of its flush, one per partition (no I/O)."""
        ranges = dict(buffer.ranges)
        tag = ";".join(f"{s}:{a}-{b}" for s, (a, b) in sorted(ranges.items()))
        parts, rejected = buffer.decoded()
        planned: list[tuple[str, str, pa.Table]] = []
        readings = 0
        for (dt, well_id), tables in sorted(parts.items()):
            table = sensors_file_table(concat_tables(tables))
            readings += table.num_rows
            folder = f"{SENSORS}/dt={dt}/well_id={well_id}"
            planned.append((SENSORS, _file_path(folder, tag), table))
        if rejected:
            for (dt,), part in _partitions(rejects_table(rejected, self.consumer), ("dt",)):
                planned.append((REJECTS, _file_path(f"{REJECTS}/dt={dt}", tag), part))
        stats = {"records": buffer.records, "readings": readings, "rejects": len(rejected)}
        return _Plan(ranges, planned, stats)

    def _flush_once(self, plan: _Plan) -> Commit:
        ranges, planned = plan.ranges, plan.files
        number = self._last_number + 1
        self.log.write_intent(number, [path for _, path, _ in planned])
        # The files of a flush are independent: serialize and put them a few at a time
        # (Parquet encoding and fsync release the GIL). A file that fails fails the flush.
        if len(planned) == 1:
            sizes = [self._put_file(planned[0])]
        else:
            workers = min(PUT_THREADS, len(planned))
            with ThreadPoolExecutor(workers, thread_name_prefix="lake-put") as pool:
                sizes = list(pool.map(self._put_file, planned))
        added = [
            FileEntry(path, table_name, table.num_rows, size)
            for (table_name, path, table), size in zip(planned, sizes, strict=True)
        ]
        checkpoint = dict(self.checkpoint)
        checkpoint.update({s: b for s, (_, b) in ranges.items()})
        commit = Commit(
            number=number,
            actor=WRITER,
            added=tuple(added),
            checkpoint=checkpoint,
            committed_at=datetime.now(UTC).isoformat(),
            stats=dict(plan.stats),
        )
        self.log.append(commit)
        self.log.clear_intent(number)
        self._last_number = number
        self.checkpoint = checkpoint
        self.stats.readings += plan.stats["readings"]
        self.stats.rejects += plan.stats["rejects"]
        self.stats.files += len(added)
        self.stats.commits += 1
        self.stats.bytes += sum(f.bytes for f in added)
        return commit

    def _put_file(self, planned: tuple[str, str, pa.Table]) -> int:
        _, path, table = planned
        return self.store.write_parquet(path, table, codec=self.codec)

    def _mirror(self, checkpoint: dict[str, str]) -> None:
        if not isinstance(self.stream, CheckpointStore):
            return
        try:
            for shard_id, seq in checkpoint.items():
                self.stream.set_checkpoint(self.consumer, shard_id, seq)
        except Exception as exc:  # noqa: BLE001 - display only; the lake's commit is the truth
            log.warning("could not mirror the checkpoint into the stream: %s", exc)


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


def _file_path(folder: str, tag: str) -> str:
    digest = hashlib.sha256(f"{folder}|{tag}".encode()).hexdigest()[:24]
    return f"{folder}/part-{digest}.parquet"


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
    """The columns a sensors file stores: no partition columns, no all-null sensors.

    A file's schema is the union of its buffer's columns: key and label columns
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
