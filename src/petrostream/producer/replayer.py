"""The replay: instances laid out on the clock, merged, encoded and delivered, with a summary.

This module only drives the parts: `clock` (which ``ts``, when due), `merge`
(time-ordered rows, encoded by `encoding`), `delivery` (puts and retries),
`forked` (the reader process) and `summary` (progress, rejects, the summary).
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from typing import Final

import numpy as np

from petrostream.dataset.base import Instance
from petrostream.dataset.span import TimeSpan, time_span
from petrostream.errors import InvalidRecord
from petrostream.producer.clock import (
    Clock,
    ClockMode,
    Schedule,
    SystemClock,
    check_speed,
    to_ms,
)
from petrostream.producer.delivery import Delivery, DeliveryError, RetryPolicy
from petrostream.producer.forked import can_fork, read_forked
from petrostream.producer.merge import Chunk, Merger, Reader
from petrostream.producer.summary import Progress, RejectLog, ReplayInterrupted, ReplaySummary
from petrostream.record import check_well_id
from petrostream.stream.base import MAX_PUT_BYTES, MAX_PUT_RECORDS, Stream

PUT_PAGE_CACHE_MIB: Final = 8
"""SQLite page cache of a local stream the replay puts into (it only appends)."""

SpanFn = Callable[[Instance], "TimeSpan | None"]
StoredFn = Callable[[np.ndarray, np.ndarray], None]


def well_id_problem(instance: Instance) -> str | None:
    """Why the lake would refuse every reading of ``instance`` (its well id), or None.

    The record's own rule (`petrostream.record.check_well_id`), the one the detector
    and the lake writer apply.
    """
    try:
        check_well_id(instance.well_id)
    except InvalidRecord:
        return (
            f"bad_well_id: well id {instance.well_id!r} (from the file name) cannot name a "
            "lake partition folder (letters, digits, '_', '.', '-'; at most 128): rename "
            "the file, e.g. WELL-00013_20170101000000.csv"
        )
    return None


class _Replay:
    """One replay run: the parts wired together, and what they have done so far."""

    def __init__(
        self,
        instances: Sequence[Instance],
        stream: Stream,
        *,
        speed: float,
        clock: Clock,
        mode: ClockMode,
        read: Reader,
        spans: SpanFn,
        limit_rows: int | None,
        rejects: RejectLog,
        progress: Callable[[Progress], None] | None,
        progress_interval: float,
        delivery: Delivery,
        pipeline: bool,
        skip: Sequence[int] | None,
        schedule: Schedule | None,
        on_start: Callable[[Schedule], None] | None,
    ) -> None:
        self.instances = list(instances)
        self.clock, self.rejects, self.delivery = clock, rejects, delivery
        self.progress, self.progress_interval = progress, progress_interval
        self.pipeline = pipeline and can_fork()
        self.summary = ReplaySummary(
            files=len(self.instances),
            per_instance={i.instance_id: 0 for i in self.instances},
            per_well={i.well_id: 0 for i in self.instances},
            clock=str(mode),
        )
        self.started = clock.now()
        self.start_ms = to_ms(self.started)
        refused = {n: why for n, i in enumerate(self.instances) if (why := well_id_problem(i))}
        if schedule is None:
            schedule = Schedule.lay_out(
                self.instances, [spans(i) for i in self.instances],
                start_ms=self.start_ms, speed=speed, mode=mode,
            )  # fmt: skip
        self.schedule = schedule
        self.on_start = on_start
        # At speed 0 into the local stream, chunks come grouped by shard (see `Merger`).
        shards = delivery.shard_numbers([i.well_id for i in self.instances]) if not speed else None
        self.merger = Merger(
            self.instances, read, schedule, limit_rows=limit_rows, skip=skip,
            active=[n not in refused for n in range(len(self.instances))], shards=shards,
        )  # fmt: skip
        self._fail(refused)
        self.ts_low: int | None = None
        self.ts_high: int | None = None
        page_cache = getattr(stream, "set_page_cache", None)
        if callable(page_cache):
            # Appending in order reuses only the tail pages: a large SQLite page cache
            # (the local stream's 64 MiB default) held ~55 MB of RSS for no speed.
            page_cache(PUT_PAGE_CACHE_MIB)

    def run(self) -> ReplaySummary:
        self.next_progress = self.start_ms + self.progress_interval * 1000
        if self.on_start is not None:
            self.on_start(self.schedule)
        try:
            try:
                chunks = self._chunks()
                try:
                    for chunk in chunks:
                        self._absorb(chunk)
                        self._emit(chunk)
                finally:
                    chunks.close()  # stops the reader process now, not at garbage collection
            except (OSError, sqlite3.Error) as exc:
                # A full disk, a lost stream file: say what was put before it.
                self.summary.error = f"the stream failed: {exc}"
                self._finish()
                raise DeliveryError(
                    f"the stream failed ({exc}) after {self.delivery.records_put:,} records "
                    "were put (per instance above); free space or fix the stream, then "
                    "replay again with --resume",
                    self.summary,
                ) from None
            finally:
                self._finish()
        except KeyboardInterrupt:
            self.summary.interrupted = True
            self.summary.error = "interrupted"
            raise ReplayInterrupted(self.summary) from None
        return self.summary

    def _chunks(self) -> Generator[Chunk, None, None]:
        if self.pipeline:
            # The putting process encodes the steps the reader hands over while it waits.
            return read_forked(self.merger.steps, finish=self.merger.encode)
        return _generator(self.merger.chunks())

    def _fail(self, failed: dict[int, str]) -> None:
        for n, why in failed.items():
            path = str(self.instances[n].path)
            self.summary.failed_files[path] = why.removeprefix(f"{path}: ")

    def _absorb(self, chunk: Chunk) -> None:
        s = self.summary
        s.rows_read += chunk.rows_read
        s.files_done += chunk.files_done
        self.rejects.add(chunk.rejects)
        self._fail(chunk.failed)
        for n, (repeated, backward) in chunk.stamps.items():
            if repeated or backward:
                s.odd_timestamps[self.instances[n].instance_id] = (repeated, backward)

    def _emit(self, chunk: Chunk) -> None:
        n = len(chunk)
        due = chunk.due
        max_records, max_bytes = self.delivery.max_records, self.delivery.max_bytes
        if due is None and self.delivery.put_requests is not None and n:
            # Nothing waits for the clock: cut the whole chunk into puts, one stream call.
            cuts = [0]
            while cuts[-1] < n:
                start = cuts[-1]
                end = min(n, start + max_records)
                sizes = np.cumsum(chunk.sizes[start:end])
                if sizes[-1] > max_bytes:
                    end = start + max(1, int(np.searchsorted(sizes, max_bytes, "right")))
                cuts.append(end)
            self.delivery.deliver_requests(
                chunk.keys, chunk.payload, chunk.bounds, cuts,
                chunk.owner, chunk.rows, self.summary,
            )  # fmt: skip
            self._maybe_progress()
            self._note_ts(chunk)
            return
        start = 0
        while start < n:
            end = min(n, start + max_records)
            if due is not None:
                now_ms = to_ms(self.clock.now())
                first = int(due[start])
                if first > now_ms:
                    self.clock.sleep((first - now_ms) / 1000)
                    now_ms = max(now_ms, to_ms(self.clock.now()), first)
                # Everything already due goes in this put (at least the first record).
                end = start + max(1, int(np.searchsorted(due[start:end], now_ms, "right")))
            sizes = np.cumsum(chunk.sizes[start:end])
            if sizes[-1] > max_bytes:
                end = start + max(1, int(np.searchsorted(sizes, max_bytes, "right")))
            self.delivery.deliver(
                chunk.keys[start:end], chunk.blobs(start, end),
                chunk.owner[start:end], chunk.rows[start:end], self.summary,
            )  # fmt: skip
            start = end
            self._maybe_progress()
        if n:
            self._note_ts(chunk)

    def _note_ts(self, chunk: Chunk) -> None:
        if chunk.ts_span is not None:
            low, high = chunk.ts_span
        else:  # ts is the record's third field: read it back from the bytes, no decode
            n = len(chunk)
            low, high = _ts_of(chunk.blobs(0, 1)[0]), _ts_of(chunk.blobs(n - 1, n)[0])
        if self.summary.ts_first is None or low < self.summary.ts_first:
            self.summary.ts_first = low
        if self.summary.ts_last is None or high > self.summary.ts_last:
            self.summary.ts_last = high

    def _maybe_progress(self) -> None:
        if self.progress is None:
            return
        now_ms = to_ms(self.clock.now())
        if now_ms < self.next_progress:
            return
        self.next_progress = now_ms + self.progress_interval * 1000
        s, d = self.summary, self.delivery
        self.progress(
            Progress(
                files=s.files,
                files_done=s.files_done,
                rows_read=s.rows_read,
                records_put=d.records_put,
                rejects=self.rejects.total,
                retries=d.retries,
                elapsed=(now_ms - self.start_ms) / 1000,
            )
        )

    def _finish(self) -> None:
        s, d = self.summary, self.delivery
        s.elapsed = (self.clock.now() - self.started).total_seconds()
        s.records_put, s.put_calls, s.retries, s.reordered = (
            d.records_put, d.put_calls, d.retries, d.reordered,
        )  # fmt: skip
        if d.shard_of is not None:
            s.aggregates = d.stream_records
        # A file skipped as unreadable is listed under SKIPPED FILE, not as put.
        kept = [
            (n, inst)
            for n, inst in enumerate(self.instances)
            if str(inst.path) not in s.failed_files or d.put_per_owner[n]
        ]
        s.per_instance = {inst.instance_id: int(d.put_per_owner[n]) for n, inst in kept}
        wells: Counter[str] = Counter()
        for _, inst in kept:
            wells[inst.well_id] += s.per_instance[inst.instance_id]
        s.per_well = dict(wells)
        s.rejects = dict(self.rejects.counts)
        s.rejects_path = self.rejects.path
        self.rejects.close()


def _generator(items: Iterable[Chunk]) -> Generator[Chunk, None, None]:
    yield from items


def _ts_of(blob: bytes) -> str:
    at = blob.find(b'"ts":"') + 6
    return blob[at : at + 23].decode("ascii")


def replay(
    instances: Sequence[Instance],
    stream: Stream,
    *,
    speed: float,
    clock: Clock | None = None,
    clock_mode: ClockMode | str = ClockMode.NOW,
    read: Reader | None = None,
    spans: SpanFn | None = None,
    limit_rows: int | None = None,
    rejects_path: Path | None = None,
    progress: Callable[[Progress], None] | None = None,
    progress_interval: float = 1.0,
    retry: RetryPolicy | None = None,
    rng: random.Random | None = None,
    max_batch_records: int = MAX_PUT_RECORDS,
    max_batch_bytes: int = MAX_PUT_BYTES,
    pipeline: bool = False,
    skip: Sequence[int] | None = None,
    schedule: Schedule | None = None,
    on_stored: StoredFn | None = None,
    on_start: Callable[[Schedule], None] | None = None,
    aggregate: bool = False,
) -> ReplaySummary:
    """Replay 3W instances into a stream as a fleet; one record per reading.

    Each instance keeps its original spacing in ``ts`` whatever ``speed``; ``speed``
    paces the wall clock only (1 = real time, N = N times faster, 0 = as fast as
    possible). With ``clock_mode`` ``now`` the instances of one well follow each other
    and the fleet's span is placed so that no ``ts`` is later than its put (at speed
    0 it ends when the replay starts; at speed 1 it is live); with ``source`` ``ts``
    is the file's timestamp. ``source_ts`` is always the file's. See
    `petrostream.producer.clock`. Rows of all instances are merged by timeline
    offset; the rows of one instance keep file order (a timestamp that goes back
    is emitted in file order, at the latest time seen so far).

    Args:
        instances: the 3W files to play (`petrostream.dataset.discover`).
        stream: where to put the records (closed by the caller).
        speed: time scale; 0 = no waiting.
        clock: current time and sleeping; default the system clock.
        clock_mode: ``now`` (default) or ``source``.
        read: the 3W reader; default `petrostream.dataset.read_instance`.
        spans: each instance's first and last timestamps; default
            `petrostream.dataset.span.time_span` (a peek at the file's ends).
        limit_rows: stop after emitting this many readings.
        rejects_path: JSON-lines file for rejected rows (created on the first one).
        progress: called with a `Progress` about every ``progress_interval`` seconds.
        progress_interval: seconds between progress calls, by ``clock``.
        retry: backoff policy for refused records.
        rng: jitter source (seed it for reproducible tests).
        max_batch_records: records per ``put_records`` (at most 500).
        max_batch_bytes: bytes per ``put_records`` (at most 5 MiB).
        pipeline: read and encode in a forked process while this one puts: same
            order, same results, about 1.3x the rate on two cores. Only for a process
            that runs no other threads (a fork copies their locks); ignored where the
            platform has no ``fork``. Default: one process.
        skip: per instance, rows already put by an earlier run (resume).
        schedule: the timeline of an earlier run to continue (resume); default a new one.
        on_stored: called with (instance indices, row numbers) of every stored record.
        on_start: called with the timeline before the first put (the ledger records it).
        aggregate: pack the readings of each put bound for one shard into one KPL
            aggregated record (`petrostream.aggregate`): PUT payload units and stream
            records follow bytes, not readings. The counts stay counts of readings.

    Returns:
        The summary: rows read, records put (per instance and well), rejects, retries,
        files skipped and why.

    Raises:
        ConfigError: ``speed`` is not a pace replay can keep.
        DeliveryError: records were still refused after ``retry.max_attempts`` puts, or
            the stream failed (a full disk); its ``summary`` says what was put.
        ReplayInterrupted: Ctrl-C; its ``summary`` says what was put per instance.
    """
    speed = check_speed(speed)
    mode = ClockMode(clock_mode)
    if read is None:
        from petrostream.dataset import read_instance

        read = read_instance
    clock = clock or SystemClock()
    delivery = Delivery(
        stream,
        [i.instance_id for i in instances],
        clock=clock,
        retry=retry or RetryPolicy(),
        rng=rng or random.Random(),  # noqa: S311 - jitter, not crypto
        max_batch_records=max_batch_records,
        max_batch_bytes=max_batch_bytes,
        on_stored=on_stored,
        aggregate=aggregate,
    )
    job = _Replay(
        instances,
        stream,
        speed=speed,
        clock=clock,
        mode=mode,
        read=read,
        spans=spans or time_span,
        limit_rows=limit_rows,
        rejects=RejectLog(rejects_path),
        progress=progress,
        progress_interval=progress_interval,
        delivery=delivery,
        pipeline=pipeline,
        skip=skip,
        schedule=schedule,
        on_start=on_start,
    )
    return job.run()


__all__ = ["replay", "well_id_problem"]
