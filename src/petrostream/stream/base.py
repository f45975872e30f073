"""The stream contract, modelled on Kinesis Data Streams.

The local SQLite stream and Kinesis share no code, so the contract is a
`typing.Protocol`. It models Kinesis' real failure modes: `put_records`
succeeds as a call while single records fail (``ProvisionedThroughputExceededException``),
so callers retry only the failed records; consumers track their position by
sequence number and checkpoint it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol, overload, runtime_checkable

if TYPE_CHECKING:
    from petrostream.stream.local import RecordBlobs

MAX_PUT_RECORDS: Final = 500  # records per PutRecords call
MAX_PUT_BYTES: Final = 5 * 1024 * 1024  # data + partition keys per PutRecords call
MAX_RECORD_BYTES: Final = 1024 * 1024  # data + partition key of one record
MAX_PARTITION_KEY_CHARS: Final = 256
HASH_KEY_SPACE: Final = 2**128
THROUGHPUT_EXCEEDED: Final = "ProvisionedThroughputExceededException"
INTERNAL_FAILURE: Final = "InternalFailure"


class IteratorType(StrEnum):
    """Where a shard iterator starts (Kinesis ``ShardIteratorType``)."""

    TRIM_HORIZON = "TRIM_HORIZON"
    LATEST = "LATEST"
    AT_SEQUENCE_NUMBER = "AT_SEQUENCE_NUMBER"
    AFTER_SEQUENCE_NUMBER = "AFTER_SEQUENCE_NUMBER"
    AT_TIMESTAMP = "AT_TIMESTAMP"


@dataclass(frozen=True, slots=True)
class PutRecord:
    """A record to put: its partition key picks the shard (MD5 of the key, 128-bit)."""

    partition_key: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PutResult:
    """Outcome of one record of a `put_records` call, in request order.

    Exactly one of (``sequence_number``, ``error_code``) is set.
    """

    shard_id: str | None
    sequence_number: str | None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        """True when the record was stored."""
        return self.error_code is None


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """A record read from a shard."""

    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: datetime  # approximate arrival time, aware UTC


@dataclass(frozen=True, slots=True)
class GetRecordsResult:
    """One page of a shard. ``next_iterator`` is None only when the shard is closed."""

    records: list[StreamRecord]
    next_iterator: str | None
    millis_behind_latest: int


@dataclass(frozen=True, slots=True)
class RecordPage(Sequence[StreamRecord]):
    """One shard's page as parallel columns: a `GetRecordsResult` without an object per record.

    A bulk consumer (the local detector) reads the columns; wherever one record is
    needed as such (a dead letter, a checkpoint, the on-failure destination) the page
    gives it as a `StreamRecord`, built then. As a sequence it is the page's records
    in order (``page[i]``, ``len(page)``); a slice is a page of the same shard.

    Attributes:
        shard_id: the shard every record was read from.
        data: each record's data.
        sequence_numbers: each record's sequence number, as an int (strictly increasing).
        partition_keys: each record's partition key.
        arrivals: each record's approximate arrival time, epoch seconds.
        next_iterator: where the next page starts (None only when the shard is closed).
        millis_behind_latest: as in `GetRecordsResult`.
    """

    shard_id: str
    data: list[bytes]
    sequence_numbers: list[int]
    partition_keys: list[str]
    arrivals: list[float]
    next_iterator: str | None = None
    millis_behind_latest: int = 0

    def __len__(self) -> int:
        return len(self.sequence_numbers)

    @overload
    def __getitem__(self, index: int) -> StreamRecord: ...

    @overload
    def __getitem__(self, index: slice) -> RecordPage: ...

    def __getitem__(self, index: int | slice) -> StreamRecord | RecordPage:
        if isinstance(index, slice):
            return RecordPage(
                self.shard_id,
                self.data[index],
                self.sequence_numbers[index],
                self.partition_keys[index],
                self.arrivals[index],
                self.next_iterator,
                self.millis_behind_latest,
            )
        return StreamRecord(
            self.shard_id,
            str(self.sequence_numbers[index]),
            self.partition_keys[index],
            self.data[index],
            datetime.fromtimestamp(self.arrivals[index], UTC),
        )

    @classmethod
    def of_records(cls, records: Sequence[StreamRecord]) -> RecordPage:
        """The page of ``records`` (one shard's, in order), e.g. a `GetRecordsResult`'s."""
        if not records:
            raise ValueError("a page of no records has no shard")
        shards = {r.shard_id for r in records}
        if len(shards) > 1:
            raise ValueError(f"a page holds one shard's records, got {sorted(shards)}")
        return cls(
            records[0].shard_id,
            [r.data for r in records],
            [sequence_key(r.sequence_number) for r in records],
            [r.partition_key for r in records],
            [r.arrival.timestamp() for r in records],
        )


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """A shard and the inclusive range of 128-bit hash keys it owns."""

    shard_id: str
    starting_hash_key: int
    ending_hash_key: int


@runtime_checkable
class Stream(Protocol):
    """A sharded, ordered, retained log of records (Kinesis semantics).

    Guarantees every backend keeps:
      * records with one partition key go to one shard, in put order;
      * sequence numbers increase strictly within a shard (compare with `sequence_key`);
      * a record is readable until retention trims it.
    """

    name: str

    def list_shards(self) -> list[ShardInfo]:
        """Return the open shards in hash-key order."""
        ...

    def put_records(self, records: Sequence[PutRecord]) -> list[PutResult]:
        """Append records; return one result per record, in request order.

        A record may fail alone (``error_code`` = ``ProvisionedThroughputExceededException``
        or ``InternalFailure``) while the others are stored: the caller retries only
        the failed ones. Order within a partition key holds among the stored records.

        Raises:
            ValueError: more than 500 records, over 5 MiB in all, a record over 1 MiB,
                or an empty or over-long partition key (the whole call is refused).
            TransientError: the call failed as a whole and may be retried.
        """
        ...

    def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: IteratorType,
        *,
        sequence_number: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Return an opaque iterator for `get_records`.

        ``sequence_number`` goes with AT_/AFTER_SEQUENCE_NUMBER, ``timestamp`` with
        AT_TIMESTAMP. Raises ValueError on an unknown shard or a missing argument.
        """
        ...

    def get_records(self, iterator: str, *, limit: int = 10_000) -> GetRecordsResult:
        """Read up to ``limit`` records from the iterator's position, in sequence order.

        An empty page is normal (nothing new yet); keep the returned next iterator.
        Reading the same iterator again returns the same records (retry a batch by
        re-reading its iterator). ``millis_behind_latest`` is 0 once caught up.

        Raises:
            ValueError: ``limit`` outside 1-10,000, or an iterator of another stream.
            TransientError: the read may be retried with the same iterator.
        """
        ...

    def close(self) -> None:
        """Release connections; the stream's data stays."""
        ...


@runtime_checkable
class PageReader(Protocol):
    """A stream that also reads a shard's page as columns (the local stream).

    The bulk consumers' fast path (`petrostream.runtime.event_source`): the same
    records as `Stream.get_records`, without an object per record.
    """

    def get_record_page(self, iterator: str, *, limit: int = 10_000) -> RecordPage:
        """The page at ``iterator``, as `get_records` would read it."""
        ...


@runtime_checkable
class BlobReader(Protocol):
    """A stream that reads a shard's page as data blobs only, read once in order (local).

    The lake writer's fast path: the same records as `Stream.get_records`, without a
    partition key or an object per record, and a page cache sized for a single pass.
    """

    def get_record_blobs(self, iterator: str, *, limit: int = 10_000) -> RecordBlobs:
        """The page at ``iterator``: data and integer sequence numbers, in order."""
        ...

    def set_page_cache(self, mib: int) -> None:
        """Size the reading connection's page cache, MiB."""
        ...


@runtime_checkable
class CheckpointStore(Protocol):
    """Named consumers' positions: the last sequence number each has fully processed per shard."""

    def get_checkpoint(self, consumer: str, shard_id: str) -> str | None:
        """Return the consumer's last processed sequence number on the shard, or None."""
        ...

    def set_checkpoint(self, consumer: str, shard_id: str, sequence_number: str) -> None:
        """Record progress. Durable when it returns; never moves a checkpoint backwards.

        An older sequence number than the stored one is ignored (so a retried batch
        may checkpoint again). Raises ValueError on a malformed sequence number.
        """
        ...

    def checkpoints(self) -> dict[str, dict[str, str]]:
        """Return every checkpoint as ``{consumer: {shard_id: sequence_number}}``."""
        ...


def sequence_key(sequence_number: str) -> int:
    """Sort key of a sequence number (Kinesis' are decimal strings of up to 128 bits)."""
    return int(sequence_number)


def hash_key(partition_key: str) -> int:
    """The 128-bit hash Kinesis maps a partition key with (MD5, big-endian)."""
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")  # noqa: S324


def even_shard_ranges(count: int) -> list[tuple[int, int]]:
    """Split the hash-key space into ``count`` contiguous inclusive ranges, as CreateStream does."""
    step = HASH_KEY_SPACE // count
    return [
        (i * step, HASH_KEY_SPACE - 1 if i == count - 1 else (i + 1) * step - 1)
        for i in range(count)
    ]


def check_put_batch(records: Sequence[PutRecord]) -> None:
    """Raise ValueError if a PutRecords request breaks Kinesis' limits."""
    check_put_lists([rec.partition_key for rec in records], [rec.data for rec in records])


def check_put_lists(partition_keys: Sequence[str], data: Sequence[bytes]) -> None:
    """`check_put_batch` on a request given as two parallel lists (keys, data).

    Same checks and messages. A fleet has few distinct keys, so each key is checked
    once and the sizes are summed in C; only a request that may break a limit is
    walked record by record, to name the first offending record.
    """
    if not partition_keys:
        raise ValueError("put_records needs at least one record")
    if len(partition_keys) > MAX_PUT_RECORDS:
        raise ValueError(
            f"{len(partition_keys)} records in one put; the limit is {MAX_PUT_RECORDS}"
        )
    try:
        key_bytes = {key: len(key.encode()) for key in set(partition_keys)}
        if (
            len(data) == len(partition_keys)
            and min(map(len, key_bytes)) >= 1
            and max(map(len, key_bytes)) <= MAX_PARTITION_KEY_CHARS
            and max(map(len, data)) + max(key_bytes.values()) <= MAX_RECORD_BYTES
        ):
            ascii_keys = all(len(key) == size for key, size in key_bytes.items())
            keys_total = sum(
                map(len, partition_keys)
                if ascii_keys
                else map(key_bytes.__getitem__, partition_keys)
            )
            if sum(map(len, data)) + keys_total <= MAX_PUT_BYTES:
                return
    except (AttributeError, TypeError):
        pass  # not a str key or not sized data: the exact walk says which record
    _check_put_exactly(partition_keys, data)


def _check_put_exactly(partition_keys: Sequence[str], data: Sequence[bytes]) -> None:
    total = 0
    for i, (key, blob) in enumerate(zip(partition_keys, data, strict=True)):
        if not key or len(key) > MAX_PARTITION_KEY_CHARS:
            raise ValueError(f"record {i}: partition key must be 1-256 characters")
        size = len(blob) + len(key.encode())
        if size > MAX_RECORD_BYTES:
            raise ValueError(f"record {i} is {size} bytes; the limit is 1 MiB")
        total += size
    if total > MAX_PUT_BYTES:
        raise ValueError(f"put of {total} bytes; the limit is 5 MiB per call")
