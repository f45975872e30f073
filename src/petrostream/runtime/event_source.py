"""The local event source: Lambda's Kinesis event source mapping, for the local stream.

`LocalEventSource` polls each shard of a `Stream`, builds events exactly as AWS
shapes them (see ``tests/events/``), calls the handler (the same function the
Lambda runs), and reproduces the mapping's semantics:

* **ReportBatchItemFailures**: the handler answers ``{"batchItemFailures": [...]}``;
  the records before the lowest reported sequence number are done (checkpointed),
  the batch is retried from that record.
* **BisectBatchOnFunctionError**: a handler that raises gets its batch split in
  two halves, each retried on its own (a split does not count as a retry, as on AWS).
* **MaximumRetryAttempts**: past it, the batch's metadata and records go to the
  on-failure destination (`OnFailureFile`, JSON lines) and the shard moves on.
* **Checkpoint after success**: the consumer's checkpoint (``detector``) moves only
  after the handler returned for those records, so a crash between the handler and
  the checkpoint re-delivers them; the handler dedupes (state positions, alert ids).

Records of one shard are delivered strictly in order, one batch at a time.
https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from petrostream.stream.base import (
    CheckpointStore,
    IteratorType,
    PageReader,
    RecordPage,
    Stream,
    StreamRecord,
)

_LOG = logging.getLogger(__name__)

CONSUMER: Final = "detector"
LOCAL_REGION: Final = "local"
LOCAL_ACCOUNT: Final = "000000000000"

Handler = Callable[[Mapping[str, Any], Any], Mapping[str, Any] | None]


def local_stream_arn(stream_name: str) -> str:
    """The fake ARN local events carry as ``eventSourceARN``."""
    return f"arn:aws:kinesis:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stream/{stream_name}"


def kinesis_event(
    records: Sequence[StreamRecord],
    *,
    stream_arn: str,
    region: str = LOCAL_REGION,
    function_role: str = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/petrostream-detector",
) -> dict[str, Any]:
    """The event Lambda would send for ``records`` (one shard's batch), field for field."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": base64.b64encode(r.data).decode("ascii"),
                    "approximateArrivalTimestamp": r.arrival.timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{r.shard_id}:{r.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": function_role,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for r in records
        ]
    }


@dataclass(frozen=True)
class LocalContext:
    """The few Lambda context attributes a handler may read."""

    function_name: str = "petrostream-detector"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 0
    deadline: float = field(default_factory=lambda: time.time() + 900)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds before the (generous, 15 min) local deadline."""
        return max(0, int((self.deadline - time.time()) * 1000))


class OnFailureFile:
    """On-failure destination: one JSON line per abandoned batch, fsynced.

    Each line has the metadata AWS sends to an on-failure destination
    (``requestContext``, ``KinesisBatchInfo``…) plus the records themselves
    (``records``: sequence number, partition key, base64 data), which AWS leaves
    out but a local user needs to replay them.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send(
        self,
        records: Sequence[StreamRecord],
        *,
        stream_arn: str,
        attempts: int,
        condition: str,
        error: str,
    ) -> None:
        """Append the batch; durable when it returns."""
        doc = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:detector",
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "functionError": error},
            "KinesisBatchInfo": {
                "shardId": records[0].shard_id,
                "startSequenceNumber": records[0].sequence_number,
                "endSequenceNumber": records[-1].sequence_number,
                "approximateArrivalOfFirstRecord": records[0].arrival.isoformat(),
                "approximateArrivalOfLastRecord": records[-1].arrival.isoformat(),
                "batchSize": len(records),
                "streamArn": stream_arn,
            },
            "records": [
                {
                    "sequenceNumber": r.sequence_number,
                    "partitionKey": r.partition_key,
                    "data": base64.b64encode(r.data).decode("ascii"),
                }
                for r in records
            ],
        }
        line = json.dumps(doc, separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())

    def read(self) -> list[dict[str, Any]]:
        """Every abandoned batch, oldest first (empty if none)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


class PagePrefetcher:
    """Reads a shard's next page in a thread of its own while the handler works on this one.

    A prefetched page is only a cache of a read: it is keyed by (shard, the position
    it reads after), and the event source takes it only when it reads that shard at
    that very position (its checkpoint), and only when it is a full page (a backlog:
    a shorter one is read again, so a live stream's newest records are never left
    for a later round). A failure, a retry or a bisection moves the checkpoint
    elsewhere or reads a slice: the page is not used and the shard is read from the
    checkpoint, as without a prefetcher. Nothing is written here: the checkpoint
    still moves only after the handler returned, so a crash loses nothing.

    ``prepare(page)``, if given, runs in the thread after the read (the detector's
    `petrostream.handlers.columnar.AheadDecoder.prepare`: pyarrow's JSON parse
    releases the GIL, so it runs on the second core while detection runs).

    Args:
        reader: a stream object of its own (its own SQLite connection).
        batch_size: records per page, as the event source reads them.
        prepare: called with each page read, in the thread.
    """

    def __init__(
        self,
        reader: Stream,
        *,
        batch_size: int,
        prepare: Callable[[Sequence[bytes]], None] | None = None,
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        if not isinstance(reader, PageReader):
            raise TypeError(f"{type(reader).__name__} does not read pages (get_record_page)")
        self.reader = reader
        self.batch_size = batch_size
        self.prepare = prepare
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="page-prefetch")
        self._pages: dict[tuple[str, str | None], Future[RecordPage]] = {}
        self.hits = 0

    def schedule(self, shard_id: str, position: str | None) -> None:
        """Start reading the page after ``position`` (None: the trim horizon) of the shard."""
        key = (shard_id, position)
        if key not in self._pages:
            self._pages[key] = self._pool.submit(self._load, shard_id, position)

    def take(self, shard_id: str, position: str | None) -> RecordPage | None:
        """The full page read after ``position``, else None (then read it as usual).

        Forgets every other page of the shard (read for a position it no longer has).
        """
        future = None
        for key in [k for k in self._pages if k[0] == shard_id]:
            pending = self._pages.pop(key)
            if key[1] == position:
                future = pending
            else:
                pending.cancel()
        if future is None:
            return None
        try:
            page = future.result()
        except Exception as exc:  # a read that failed here is made again, and raises there
            _LOG.debug("prefetch of %s after %s failed: %r", shard_id, position, exc)
            return None
        if len(page) < self.batch_size:
            return None
        self.hits += 1
        return page

    def _load(self, shard_id: str, position: str | None) -> RecordPage:
        reader = self.reader
        if position is None:
            iterator = reader.get_shard_iterator(shard_id, IteratorType.TRIM_HORIZON)
        else:
            iterator = reader.get_shard_iterator(
                shard_id, IteratorType.AFTER_SEQUENCE_NUMBER, sequence_number=position
            )
        assert isinstance(reader, PageReader)  # noqa: S101 - checked in __init__
        page = reader.get_record_page(iterator, limit=self.batch_size)
        if self.prepare is not None and len(page) >= self.batch_size:
            self.prepare(page.data)
        return page

    def close(self) -> None:
        """Drop every prefetched page and stop the thread (after the read under way)."""
        for pending in self._pages.values():
            pending.cancel()
        self._pages.clear()
        self._pool.shutdown(wait=True)


@dataclass
class EventSourceStats:
    """Counters of one `LocalEventSource`."""

    invocations: int = 0
    records_delivered: int = 0  # records checkpointed as done (processed or abandoned)
    retries: int = 0
    bisections: int = 0
    failed_batches: int = 0  # sent to the on-failure destination
    failed_records: int = 0


class LocalEventSource:
    """Feeds a stream's shards to a Lambda-shaped handler with the mapping's semantics.

    Args:
        stream: the stream to read.
        checkpoints: where the consumer's per-shard position lives.
        handler: ``handler(event, context) -> {"batchItemFailures": [...]}``.
        on_failure: where abandoned batches go.
        consumer: checkpoint name.
        batch_size: records per invocation (BatchSize).
        max_retries: retries of a failing batch before it is abandoned
            (MaximumRetryAttempts; -1 = retry forever, as AWS's default).
        bisect: split a batch whose handler raised (BisectBatchOnFunctionError).
        retry_backoff_s: pause before a retry (doubles per attempt, at most 5 s).
        sleep: injectable for tests.
        prefetch: reads each shard's next page while the handler works (a backlog's
            full pages only; see `PagePrefetcher`); closed by `run`.
    """

    def __init__(
        self,
        stream: Stream,
        checkpoints: CheckpointStore,
        handler: Handler,
        *,
        on_failure: OnFailureFile,
        consumer: str = CONSUMER,
        batch_size: int = 100,
        max_retries: int = 3,
        bisect: bool = True,
        retry_backoff_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        prefetch: PagePrefetcher | None = None,
    ) -> None:
        self.stream = stream
        self.checkpoints = checkpoints
        self.handler = handler
        self.on_failure = on_failure
        self.consumer = consumer
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.bisect = bisect
        self.retry_backoff_s = retry_backoff_s
        self.stream_arn = local_stream_arn(stream.name)
        self.stats = EventSourceStats()
        self._sleep = sleep
        self.prefetch = prefetch
        self._full: set[str] = set()  # shards whose last page read was full (a backlog)

    def poll_once(self) -> int:
        """Read one batch from every shard and deliver it; return the records read."""
        total = 0
        shards = [shard.shard_id for shard in self.stream.list_shards()]
        for i, shard_id in enumerate(shards):
            position = self.checkpoints.get_checkpoint(self.consumer, shard_id)
            records: Sequence[StreamRecord] | None = (
                self.prefetch.take(shard_id, position) if self.prefetch else None
            )
            if records is None:
                records = self._read(self._iterator(shard_id, position))
            if len(records) >= self.batch_size:
                self._full.add(shard_id)
            else:
                self._full.discard(shard_id)
            if records:
                self._read_ahead(records, shards, i)
                self.deliver(records)
                total += len(records)
        return total

    def _iterator(self, shard_id: str, position: str | None) -> str:
        if position is None:
            return self.stream.get_shard_iterator(shard_id, IteratorType.TRIM_HORIZON)
        return self.stream.get_shard_iterator(
            shard_id, IteratorType.AFTER_SEQUENCE_NUMBER, sequence_number=position
        )

    def _read_ahead(self, records: Sequence[StreamRecord], shards: list[str], i: int) -> None:
        """Prefetch the reads that follow this delivery, in order: the next shard, then this one.

        Only where a backlog is: a shard whose last page was full. This shard's next
        page is read after its last record (where the checkpoint will be once the
        handler succeeded); the next shard's after its checkpoint, which this
        delivery does not move.
        """
        if self.prefetch is None:
            return
        following = shards[(i + 1) % len(shards)]
        if following != shards[i] and following in self._full:
            position = self.checkpoints.get_checkpoint(self.consumer, following)
            self.prefetch.schedule(following, position)
        if shards[i] in self._full:
            self.prefetch.schedule(shards[i], records[-1].sequence_number)

    def _read(self, iterator: str) -> Sequence[StreamRecord]:
        """One page from ``iterator``: as columns where the stream reads them (`RecordPage`).

        The local stream's `get_record_page` gives the same records as `get_records`
        without an object per record; a handler with ``handle_records`` reads its
        columns, and a record is built only where one is needed (a checkpoint, a
        failure, the on-failure destination).
        """
        if isinstance(self.stream, PageReader):
            return self.stream.get_record_page(iterator, limit=self.batch_size)
        return self.stream.get_records(iterator, limit=self.batch_size).records

    def deliver(self, records: Sequence[StreamRecord]) -> None:
        """Deliver one shard's batch until done or abandoned; checkpoint as it goes."""
        # a page stays a page (its slices are pages): no record object per record
        pending: Sequence[StreamRecord] = (
            records if isinstance(records, RecordPage) else list(records)
        )
        attempts = 0
        while pending:
            error = ""
            self.stats.invocations += 1
            try:
                response = self._invoke(pending)
            except Exception as exc:  # a function error: the handler itself failed
                _LOG.warning("handler raised on %d records: %r", len(pending), exc)
                if self.bisect and len(pending) > 1:
                    self.stats.bisections += 1
                    middle = len(pending) // 2
                    self.deliver(pending[:middle])
                    self.deliver(pending[middle:])
                    return
                failed_at = 0
                error = f"{type(exc).__name__}: {exc}"
            else:
                first = self._first_failure(pending, response)
                if first is None:
                    self._checkpoint(pending[-1])
                    self.stats.records_delivered += len(pending)
                    return
                failed_at = first
                error = "batchItemFailures"
            if failed_at > 0:  # the records before the first failure are done
                self._checkpoint(pending[failed_at - 1])
                self.stats.records_delivered += failed_at
                pending = pending[failed_at:]
            attempts += 1
            if 0 <= self.max_retries < attempts:
                self._abandon(pending, attempts, error)
                return
            self.stats.retries += 1
            self._sleep(min(5.0, self.retry_backoff_s * 2 ** (attempts - 1)))

    def _invoke(self, records: Sequence[StreamRecord]) -> Mapping[str, Any] | None:
        """Call the handler with the event of ``records``, or with the records themselves.

        A handler with ``handle_records(records, stream_arn)`` (the local runtime's,
        `petrostream.handlers.process_stream.LocalHandler`) gets the raw records (a
        `RecordPage` from the local stream): the same answer without base64-encoding
        every record into an event it decodes again.
        """
        raw = getattr(self.handler, "handle_records", None)
        if raw is not None:
            return raw(records, self.stream_arn)
        return self.handler(kinesis_event(records, stream_arn=self.stream_arn), LocalContext())

    def _first_failure(
        self, records: Sequence[StreamRecord], response: Mapping[str, Any] | None
    ) -> int | None:
        """Index of the lowest reported sequence number, None when all succeeded.

        As on AWS, an answer that is not a valid ReportBatchItemFailures response
        (an unknown or empty itemIdentifier) fails the whole batch.
        """
        failures = (response or {}).get("batchItemFailures") or []
        if not failures:
            return None
        if isinstance(records, RecordPage):  # its columns: no record object per record
            index = {str(seq): i for i, seq in enumerate(records.sequence_numbers)}
        else:
            index = {r.sequence_number: i for i, r in enumerate(records)}
        positions = []
        for item in failures:
            ident = item.get("itemIdentifier") if isinstance(item, Mapping) else None
            if ident not in index:
                _LOG.warning("invalid batchItemFailures item %r: retrying the batch", item)
                return 0
            positions.append(index[ident])
        return min(positions)

    def _checkpoint(self, record: StreamRecord) -> None:
        self.checkpoints.set_checkpoint(self.consumer, record.shard_id, record.sequence_number)

    def _abandon(self, records: Sequence[StreamRecord], attempts: int, error: str) -> None:
        _LOG.error(
            "%s: %d records from %s abandoned after %d attempts (%s); see %s",
            records[0].shard_id,
            len(records),
            records[0].sequence_number,
            attempts,
            error,
            self.on_failure.path,
        )
        self.on_failure.send(
            records,
            stream_arn=self.stream_arn,
            attempts=attempts,
            condition="RetryAttemptsExhausted",
            error=error,
        )
        self._checkpoint(records[-1])
        self.stats.failed_batches += 1
        self.stats.failed_records += len(records)
        self.stats.records_delivered += len(records)

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        drain: bool = False,
        idle_s: float = 0.05,
        after_poll: Callable[[int], None] | None = None,
    ) -> EventSourceStats:
        """Poll until ``stop`` is set, or (``drain``) until a round finds nothing new."""
        try:
            return self._run(stop=stop, drain=drain, idle_s=idle_s, after_poll=after_poll)
        finally:
            if self.prefetch is not None:
                self.prefetch.close()

    def _run(
        self,
        *,
        stop: threading.Event | None,
        drain: bool,
        idle_s: float,
        after_poll: Callable[[int], None] | None,
    ) -> EventSourceStats:
        while stop is None or not stop.is_set():
            got = self.poll_once()
            if after_poll is not None:
                after_poll(got)
            if got == 0:
                if drain:
                    break
                if stop is not None:
                    stop.wait(idle_s)
                else:
                    self._sleep(idle_s)
        return self.stats
