"""The local stream: Kinesis semantics in one SQLite file (WAL), shared by processes.

Layout (one file, ``<home>/stream.db``)::

    meta(key, value)                       name, uid, retention, layout version
    shards(num, shard_id, start_hash, end_hash, last_seq)
    batches(shard, last_seq, first_seq,    one row per shard and put: its records, in
            keys, key_index, ends, data)   order, numbered first_seq..last_seq (local_rows)
    checkpoints(consumer, shard, seq)      PRIMARY KEY (consumer, shard)

Why it is correct with several processes:

* every ``put_records`` is ONE ``BEGIN IMMEDIATE`` transaction that reads each
  shard's ``last_seq``, assigns the next sequence numbers and inserts the rows.
  SQLite serializes writers, so two producers never get the same number and a
  reader (WAL snapshot) never sees sequence ``n + 1`` without ``n``: a consumer
  that reads "everything after my position" misses nothing and reads nothing twice;
* WAL with ``synchronous=NORMAL``: a committed put survives a crash (kill -9) of
  any process; only an OS crash or power loss may lose the last transactions
  (https://www.sqlite.org/pragma.html#pragma_synchronous). That is the local
  runtime's promise; use ``FULL`` durability (``durable=True``) if you need more.

Storing a put's records of one shard as one row (`petrostream.stream.local_rows`)
costs one SQLite insert per shard and put instead of one per record: a bulk
producer's put is then mostly a copy of bytes.

Sequence numbers are ``max(last + 1, arrival_ms << 20)`` per shard, so they
increase strictly, never repeat after a trim, and carry the approximate arrival
time (``seq >> 20`` milliseconds since the epoch): AT_TIMESTAMP and retention are
primary-key range scans, and no extra column or index is paid for on every put.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import sqlite3
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import compress, count
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np

from petrostream.errors import ConfigError, PetroStreamError, TransientError
from petrostream.stream.base import (
    MAX_PARTITION_KEY_CHARS,
    MAX_PUT_BYTES,
    MAX_PUT_RECORDS,
    MAX_RECORD_BYTES,
    THROUGHPUT_EXCEEDED,
    GetRecordsResult,
    IteratorType,
    PutRecord,
    PutResult,
    RecordPage,
    ShardInfo,
    StreamRecord,
    check_put_lists,
    even_shard_ranges,
    hash_key,
)
from petrostream.stream.local_rows import (
    PackedRow,
    pack_by_shard,
    pack_spans_by_shard,
    row_count,
    unpack_data,
    unpack_keys,
)

log = logging.getLogger(__name__)

LAYOUT_VERSION: Final = "2"  # 1: one row per record (migrated on open)
SEQ_TIME_SHIFT: Final = 20  # low bits of a sequence number: a counter within one millisecond
MAX_GET_RECORDS: Final = 10_000  # GetRecords' Limit maximum
MAX_SEQ: Final = 2**63 - 1  # SQLite INTEGER
TRIM_INTERVAL_S: Final = 60.0  # how often a writer trims opportunistically
TRIM_CHUNK: Final = 50_000  # rows deleted per transaction, so a long trim never blocks writers
_ITERATOR_PREFIX: Final = "local"
_PKEY_CACHE_MAX: Final = 65_536
PAGE_SIZE: Final = 16_384  # for new files: ~300-byte records, fewer WAL frames per commit
_INSERT = "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)"
CHECKPOINT_BYTES: Final = 32 * 1024 * 1024  # record bytes put between background checkpoints
_CHECKPOINT_PASSES: Final = 4  # background passes at most per request
_CATCH_UP_FRAMES: Final = 64  # WAL frames few enough for the putting thread to copy
_INJECTED_MESSAGE: Final = "Rate exceeded for shard (injected by the local stream's fault_rate)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shards (
    num INTEGER PRIMARY KEY,
    shard_id TEXT NOT NULL UNIQUE,
    start_hash TEXT NOT NULL,
    end_hash TEXT NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS batches (
    shard INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    keys TEXT NOT NULL,
    key_index BLOB,
    ends BLOB,
    data BLOB NOT NULL,
    PRIMARY KEY (shard, last_seq)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    consumer TEXT NOT NULL,
    shard INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (consumer, shard)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class RecordBlobs:
    """A page of `LocalStream.get_record_blobs`: record data and sequence numbers, in order."""

    shard_id: str
    data: list[bytes]
    sequence_numbers: list[int]
    next_iterator: str
    millis_behind_latest: int

    def arrival(self, index: int) -> datetime:
        """Approximate arrival time of record ``index`` (carried by its sequence number)."""
        ms = self.sequence_numbers[index] >> SEQ_TIME_SHIFT
        return datetime.fromtimestamp(ms / 1000, UTC)

    def record(self, index: int, partition_key: str = "") -> StreamRecord:
        """Record ``index`` as `get_records` returns it (the partition key is not read)."""
        return StreamRecord(
            self.shard_id,
            str(self.sequence_numbers[index]),
            partition_key,
            self.data[index],
            self.arrival(index),
        )


@dataclass(frozen=True, slots=True)
class PutBlobsResult:
    """Outcome of `LocalStream.put_record_blobs`, per record in request order.

    ``failed`` lists the indices of the refused records (ascending; empty when all
    were stored). A refused record has sequence number 0 and shard id None; every
    refusal is ``error_code`` / ``error_message`` (injected throttling).
    """

    shard_ids: list[str | None]
    sequence_numbers: list[int]
    failed: list[int]
    error_code: str = THROUGHPUT_EXCEEDED
    error_message: str = _INJECTED_MESSAGE

    def results(self) -> list[PutResult]:
        """The same outcome as `put_records` returns it: one `PutResult` per record."""
        if not self.failed:
            return list(map(PutResult, self.shard_ids, map(str, self.sequence_numbers)))
        failure = PutResult(None, None, self.error_code, self.error_message)
        return [
            failure if shard is None else PutResult(shard, str(seq))
            for shard, seq in zip(self.shard_ids, self.sequence_numbers, strict=True)
        ]


class BlobRequest(NamedTuple):
    """One ``PutRecords`` request held as a bulk producer holds it: no object per record.

    Attributes:
        partition_keys: one key per record, in request order.
        data: the records' bytes one after the other (``bytes`` or a ``memoryview``).
        ends: where each record ends in ``data`` (ascending integers; the last one is
            ``len(data)``): record ``i`` is ``data[ends[i - 1]:ends[i]]``.
    """

    partition_keys: list[str]
    data: bytes | memoryview
    ends: np.ndarray


def check_blob_request(request: BlobRequest) -> None:
    """`check_put_lists` on a `BlobRequest`: the same limits and messages, summed in NumPy.

    Raises:
        ValueError: the request breaks a PutRecords limit, or its ``ends`` do not
            describe its ``data``.
    """
    keys, ends = request.partition_keys, np.asarray(request.ends)
    n = len(keys)
    if not n:
        raise ValueError("put_records needs at least one record")
    if n > MAX_PUT_RECORDS:
        raise ValueError(f"{n} records in one put; the limit is {MAX_PUT_RECORDS}")
    size = memoryview(request.data).nbytes
    if ends.ndim != 1 or len(ends) != n or int(ends[-1]) != size:
        raise ValueError(
            f"{n} partition keys for {len(ends)} record ends over {size} bytes; "
            "give one end per record, the last at the end of the data"
        )
    sizes = np.diff(ends, prepend=0)
    if int(sizes.min()) < 0:
        raise ValueError("record ends must not decrease")
    key_bytes = {key: len(key.encode()) for key in set(keys)}
    if (
        min(map(len, key_bytes)) >= 1
        and max(map(len, key_bytes)) <= MAX_PARTITION_KEY_CHARS
        and int(sizes.max()) + max(key_bytes.values()) <= MAX_RECORD_BYTES
        and size + sum(map(key_bytes.__getitem__, keys)) <= MAX_PUT_BYTES
    ):
        return
    view = memoryview(request.data)
    starts = [0, *ends[:-1].tolist()]
    check_put_lists(keys, [bytes(view[a:b]) for a, b in zip(starts, ends.tolist(), strict=True)])


class _Prepared(NamedTuple):
    """A checked request, ready for the transaction: shard per record, rows per shard."""

    targets: list[int]  # shard number of every record, request order
    kept: list[int]  # shard number of every stored record (the refused left out)
    failing: set[int]  # indices of the records fault injection refuses
    rows: dict[int, tuple[int, PackedRow]]  # per shard: its record count and row


class _WalCheckpointer:
    """Checkpoints a stream file's WAL in a daemon thread, when asked.

    SQLite's automatic checkpoint runs inside the commit that crosses its threshold:
    that put waits while committed pages are copied into the database file and
    both files are fsynced (about a tenth of a bulk producer's time). Here a thread
    with its own connection runs the checkpoint (PASSIVE: it never blocks a writer
    or a reader) while the producer keeps putting; the sqlite3 call releases the
    GIL. Commits are exactly as durable as before: only the copy of frames already
    committed to the WAL moves off the putting thread.
    """

    def __init__(self, path: Path) -> None:
        self.pid = os.getpid()
        self.path = path
        self.pending = False  # requested, and the owner has not caught up after it yet
        self.finished = False  # the requested checkpoint ended: the owner may catch up
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(
            target=self._loop, name=f"petrostream-wal-checkpoint:{path.name}", daemon=True
        )
        self._thread.start()

    def request(self) -> None:
        """Start a checkpoint soon (returns at once)."""
        self.pending = True
        self._wake.set()

    def _loop(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closing:
                    return
                try:
                    self._checkpoint(conn)
                except sqlite3.Error as exc:  # the next request tries again
                    log.debug("background checkpoint of %s failed: %s", self.path, exc)
                self.finished = True
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        # Frames keep arriving while a pass copies: pass again over those until few
        # arrived, so the owner's catch-up (which makes its put wait) copies little.
        previous = None
        for _ in range(_CHECKPOINT_PASSES):
            _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if previous is not None and frames - previous <= _CATCH_UP_FRAMES:
                return
            previous = frames

    def close(self) -> None:
        """Stop the thread (after the checkpoint under way, if any)."""
        self._closing = True
        self._wake.set()
        self._thread.join()


def _migrate_from_layout_1(conn: sqlite3.Connection) -> None:
    """Move a layout-1 file's records (one row each) into rows of one record, in place.

    Same shards, sequence numbers, data and checkpoints: consumers continue where they
    were. Runs inside the opening write transaction, so it happens once and whole.
    """
    conn.execute("INSERT INTO batches SELECT shard, seq, seq, pkey, NULL, NULL, data FROM records")
    conn.execute("DROP TABLE records")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'version'", (LAYOUT_VERSION,))


def shard_id_of(num: int) -> str:
    """Kinesis-style shard id of shard number ``num`` (``shardId-000000000000``)."""
    return f"shardId-{num:012d}"


def _now_utc() -> datetime:
    return datetime.now(UTC)


def _to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {moment.isoformat()} must be timezone-aware (UTC)")
    return int(moment.timestamp() * 1000)


def _parse_sequence(sequence_number: str | None, what: str) -> int:
    if sequence_number is None:
        raise ValueError(f"{what} needs a sequence_number")
    if not sequence_number.isdigit() or int(sequence_number) > MAX_SEQ:
        raise ValueError(f"{sequence_number!r} is not a sequence number of the local stream")
    return int(sequence_number)


class LocalStream:
    """A durable, sharded stream with Kinesis semantics in one SQLite file.

    It is also the `CheckpointStore` of its consumers: checkpoints live in the same
    file, so ``describe()`` can show each consumer's lag. Open one object per
    process (or thread group): it reconnects by itself after a ``fork``. Any number
    of processes may put and read the same file at the same time.

    Args:
        path: the SQLite file; created with its parent folder on first open.
        name: stream name, stored on creation.
        shard_count: shards of a new stream; ignored when the file exists.
        retention: how long records are kept, stored on creation (see `set_retention`);
            ignored when the file exists.
        fault_rate: fraction of the records of each put to fail with
            ``ProvisionedThroughputExceededException`` (0 = never), to exercise retries.
        seed: makes fault injection deterministic.
        clock: returns the current aware UTC time (tests inject a fake one).
        create: when False, a missing file raises `ConfigError` instead of being created.
        durable: ``synchronous=FULL`` (survives power loss) instead of ``NORMAL``
            (survives any process crash).
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str = "petrostream",
        shard_count: int = 2,
        retention: timedelta = timedelta(hours=24),
        fault_rate: float = 0.0,
        seed: int | None = None,
        clock: Callable[[], datetime] | None = None,
        create: bool = True,
        durable: bool = False,
    ) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be within [0, 1], got {fault_rate}")
        if shard_count < 1:
            raise ValueError(f"shard_count must be at least 1, got {shard_count}")
        if retention <= timedelta(0):
            raise ValueError("retention must be positive")
        self.path = Path(path)
        if not create and not self.path.exists():
            raise ConfigError(
                f"no local stream at {self.path} yet: run `petrostream replay PATH` "
                "(or `petrostream demo`) to create it, or check --home"
            )
        self._fault_rate = fault_rate
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not crypto
        self._clock = clock or _now_utc
        self._synchronous = "FULL" if durable else "NORMAL"
        self.busy_timeout_ms = 30_000
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._last_trim = float("-inf")
        self._pkey_shard: dict[str, int] = {}
        self._busy_applied = 0
        self._checkpointer: _WalCheckpointer | None = None
        self._unchecked_bytes = 0  # record bytes put since the last checkpoint request
        self._conn = self._connect()
        self._init_layout(name, shard_count, retention)

    # -- connection ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            # Takes effect only on a new, empty file (before WAL is on); an existing
            # file keeps its page size. 16 KiB pages hold ~50 records: a 500-record
            # put writes ~10 WAL frames instead of ~40 (~15% faster puts).
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            self._busy_applied = int(self.busy_timeout_ms)
            conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"{self.path} is not a PetroStream stream file ({exc}); "
                "move it away or choose another --home"
            ) from exc
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This process's connection (reopened after a fork: SQLite handles must not cross)."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._lock = threading.RLock()
            self._checkpointer = None  # the parent's thread does not exist here
            self._unchecked_bytes = 0
            self._conn = self._connect()
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front."""
        with self._lock, self._translated():
            conn = self.conn
            if int(self.busy_timeout_ms) != self._busy_applied:  # a caller changed it
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
                self._busy_applied = int(self.busy_timeout_ms)
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translated():
            yield self.conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise TransientError(f"local stream {self.path} is busy ({text}); retry") from exc
            raise PetroStreamError(f"local stream {self.path}: {text}") from exc
        except sqlite3.DatabaseError as exc:
            raise PetroStreamError(f"local stream {self.path} is damaged: {exc}") from exc

    def _init_layout(self, name: str, shard_count: int, retention: timedelta) -> None:
        with self._write() as conn:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                meta = {
                    "version": LAYOUT_VERSION,
                    "name": name,
                    "uid": secrets.token_hex(8),
                    "retention_s": str(retention.total_seconds()),
                    "created": _now_utc().isoformat(),
                }
                conn.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
                conn.executemany(
                    "INSERT INTO shards (num, shard_id, start_hash, end_hash) VALUES (?,?,?,?)",
                    [
                        (i, shard_id_of(i), str(lo), str(hi))
                        for i, (lo, hi) in enumerate(even_shard_ranges(shard_count))
                    ],
                )
            elif meta.get("version") == "1":
                _migrate_from_layout_1(conn)
            elif meta.get("version") != LAYOUT_VERSION:
                raise ConfigError(
                    f"{self.path} has stream layout {meta.get('version')}, this PetroStream "
                    f"reads {LAYOUT_VERSION}; replay into a new --home"
                )
            rows = conn.execute(
                "SELECT num, shard_id, start_hash, end_hash FROM shards ORDER BY num"
            ).fetchall()
        self.name: str = meta["name"]
        self._uid = meta["uid"]
        self._retention = timedelta(seconds=float(meta["retention_s"]))
        self._shards = [ShardInfo(sid, int(lo), int(hi)) for _, sid, lo, hi in rows]
        self._nums = [num for num, *_ in rows]
        self._starts = [s.starting_hash_key for s in self._shards]
        self._num_of = {s.shard_id: num for s, num in zip(self._shards, self._nums, strict=True)}
        self._id_of = {num: s.shard_id for s, num in zip(self._shards, self._nums, strict=True)}

    # -- Stream -------------------------------------------------------------------

    @property
    def retention(self) -> timedelta:
        """How long records are kept (stored in the file)."""
        return self._retention

    def set_retention(self, retention: timedelta) -> None:
        """Change the stream's retention (as Increase/DecreaseStreamRetentionPeriod)."""
        if retention <= timedelta(0):
            raise ValueError("retention must be positive")
        with self._write() as conn:
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'retention_s'",
                (str(retention.total_seconds()),),
            )
        self._retention = retention

    def list_shards(self) -> list[ShardInfo]:
        """Return the shards in hash-key order (a local stream never reshards)."""
        return list(self._shards)

    def _shards_of(self, partition_keys: list[str]) -> list[int]:
        """Shard number of each key: MD5 once per distinct key (a fleet has few), cached."""
        cache = self._pkey_shard
        new = set(partition_keys).difference(cache)
        if new:
            if len(cache) + len(new) > _PKEY_CACHE_MAX:
                cache.clear()
                new = set(partition_keys)
            for key in new:
                cache[key] = self._nums[bisect_right(self._starts, hash_key(key)) - 1]
        return list(map(cache.__getitem__, partition_keys))

    def _failing(self, partition_keys: Sequence[str]) -> set[int]:
        """Indices of the records this put fails (fault injection).

        Exactly ``fault_rate * n`` of them (the fraction rounded at random, so it
        holds on average for small puts too). For each chosen partition key the
        failures are a *suffix* of that key's records in the put, as when a
        throttled shard refuses the rest of a request: the stored records of a key
        stay a prefix, so a producer that retries the failed ones before sending
        newer ones keeps per-key order. Real Kinesis does not promise this.
        """
        n = len(partition_keys)
        exact = self._fault_rate * n
        count = int(exact) + (1 if self._rng.random() < exact - int(exact) else 0)
        if count == 0:
            return set()
        by_key: dict[str, list[int]] = {}
        for i, key in enumerate(partition_keys):
            by_key.setdefault(key, []).append(i)
        keys = list(by_key)
        self._rng.shuffle(keys)
        tails = dict.fromkeys(keys, 0)
        remaining = count
        while remaining:
            for key in keys:
                room = len(by_key[key]) - tails[key]
                if room and remaining:
                    take = min(remaining, self._rng.randint(1, room))
                    tails[key] += take
                    remaining -= take
        return {i for key in keys for i in by_key[key][len(by_key[key]) - tails[key] :]}

    def put_records(self, records: Sequence[PutRecord]) -> list[PutResult]:
        """Append records in one transaction; one result per record, in request order.

        Records with one partition key land on one shard in request order. With
        ``fault_rate`` > 0 some fail with ``ProvisionedThroughputExceededException``
        and are not stored. Also trims expired records about once a minute.

        Raises:
            ValueError: the batch breaks a PutRecords limit (nothing is stored).
            TransientError: the file stayed locked longer than the busy timeout.
        """
        keys = [rec.partition_key for rec in records]
        data = [rec.data for rec in records]
        check_put_lists(keys, data)
        return self._put(keys, data).results()

    def put_record_blobs(
        self, partition_keys: Sequence[str], data: Sequence[bytes]
    ) -> PutBlobsResult:
        """`put_records` given as two parallel lists, without an object per record.

        The bulk producer's fast path (``replay``): the same checks, transaction,
        sequence numbers, fault injection and trimming as `put_records`, whose
        results `PutBlobsResult.results` rebuilds. Specific to the local stream
        (not part of the `Stream` protocol).

        Raises:
            ValueError: the request breaks a PutRecords limit, or the lists differ
                in length (nothing is stored).
            TransientError: the file stayed locked longer than the busy timeout.
        """
        if len(partition_keys) != len(data):
            raise ValueError(
                f"{len(partition_keys)} partition keys for {len(data)} records; give one each"
            )
        keys = partition_keys if isinstance(partition_keys, list) else list(partition_keys)
        blobs = data if isinstance(data, list) else list(data)
        check_put_lists(keys, blobs)
        return self._put(keys, blobs)

    def put_record_requests(self, requests: Sequence[BlobRequest]) -> list[PutBlobsResult | None]:
        """Several `put_record_blobs` requests in one transaction, each held as one buffer.

        The bulk producer's fastest path (``replay --speed 0``): each request gets the
        same checks, sequence numbers, rows and fault injection as if it were put on
        its own, in order, but the requests share one transaction (one commit instead
        of one per request) and no record is an object of its own. Requests are stored
        in order until one has a refused record: the requests after it are not
        attempted (their result is None), so a producer that puts the refused records
        again before the rest keeps each key's order. When it returns, what it stored
        is committed; if it raises (or is interrupted), nothing of the call is stored.
        Specific to the local stream (not part of the `Stream` protocol).

        Raises:
            ValueError: a request breaks a PutRecords limit (nothing is stored).
            TransientError: the file stayed locked longer than the busy timeout.
        """
        for request in requests:
            check_blob_request(request)
        prepared = []
        for keys, data, ends in requests:
            targets = self._shards_of(keys)
            failing = self._failing(keys) if self._fault_rate else set()
            if failing:
                view = memoryview(data)
                starts = [0, *ends[:-1].tolist()]
                blobs = [bytes(view[a:b]) for a, b in zip(starts, ends.tolist(), strict=True)]
                prepared.append(self._prepare(keys, blobs, targets, failing))
                break  # the requests after a refusal are not attempted
            rows = pack_spans_by_shard(targets, keys, data, np.asarray(ends))
            prepared.append(_Prepared(targets, targets, failing, rows))
        results: list[PutBlobsResult | None] = list(self._store(prepared)) if prepared else []
        return results + [None] * (len(requests) - len(results))

    def _put(self, keys: list[str], data: list[bytes]) -> PutBlobsResult:
        """One checked request in its own transaction."""
        targets = self._shards_of(keys)
        failing = self._failing(keys) if self._fault_rate else set()
        (result,) = self._store([self._prepare(keys, data, targets, failing)])
        return result

    @staticmethod
    def _prepare(
        keys: list[str], data: Sequence[bytes], targets: list[int], failing: set[int]
    ) -> _Prepared:
        """The rows of a request given as lists, without the records fault injection refuses."""
        if failing:
            stored = [i not in failing for i in range(len(keys))]
            keys, data = list(compress(keys, stored)), list(compress(data, stored))
            kept = list(compress(targets, stored))
        else:
            kept = targets
        rows = pack_by_shard(kept, keys, list(data)) if kept else {}
        return _Prepared(targets, kept, failing, rows)

    def _store(self, requests: list[_Prepared]) -> list[PutBlobsResult]:
        """Number the requests' records, insert their rows and commit, in one transaction.

        Per shard, the records of each request take consecutive sequence numbers from
        ``max(last + 1, now_ms << 20)`` in request order. Only shards that got a record
        advance their ``last_seq``, so it always names a stored (or trimmed) record.
        """
        checkpointer = self._checkpointer
        if checkpointer is not None and checkpointer.finished and checkpointer.pid == os.getpid():
            self._catch_up_checkpoint()
        floor = _to_ms(self._clock()) << SEQ_TIME_SHIFT
        seqs_of: list[list[int]] = []
        with self._write() as conn:
            nexts = dict(conn.execute("SELECT num, last_seq + 1 FROM shards").fetchall())
            new_rows = []
            for request in requests:
                firsts = {num: max(nexts[num], floor) for num in request.rows}
                if len(firsts) == 1:  # one shard (a producer that groups by shard): a range
                    (first,) = firsts.values()
                    seqs_of.append(list(range(first, first + len(request.kept))))
                else:
                    counters = {num: count(first) for num, first in firsts.items()}
                    # next() of each record's shard counter, in request order, all in C
                    seqs_of.append(list(map(next, map(counters.__getitem__, request.kept))))
                # one row per shard: its records numbered first..last in request order
                for num, (n, row) in request.rows.items():
                    new_rows.append((num, firsts[num] + n - 1, firsts[num], *row))
                    nexts[num] = firsts[num] + n
            conn.executemany(_INSERT, new_rows)
            last_of = {row[0]: row[1] for row in new_rows}
            conn.executemany(
                "UPDATE shards SET last_seq = ? WHERE num = ?",
                [(last, num) for num, last in last_of.items()],
            )
        # the rows hold every stored byte: one length per row, not one per record
        self._unchecked_bytes += sum(len(row[-1]) for row in new_rows)
        if self._unchecked_bytes >= CHECKPOINT_BYTES and not (
            self._checkpointer is not None and self._checkpointer.pending
        ):
            self._checkpoint_in_background()
        if time.monotonic() - self._last_trim >= TRIM_INTERVAL_S:
            self.trim()
        return [self._result(r, seqs) for r, seqs in zip(requests, seqs_of, strict=True)]

    def _result(self, request: _Prepared, seqs: list[int]) -> PutBlobsResult:
        id_of, targets, failing = self._id_of, request.targets, request.failing
        if not failing:
            if len(request.rows) == 1:  # one shard: every record has its id
                (num,) = request.rows
                return PutBlobsResult([id_of[num]] * len(targets), seqs, [])
            return PutBlobsResult(list(map(id_of.__getitem__, targets)), seqs, [])
        shard_ids: list[str | None] = [None] * len(targets)
        all_seqs = [0] * len(targets)
        stored_at = [i for i in range(len(targets)) if i not in failing]
        for i, seq in zip(stored_at, seqs, strict=True):
            shard_ids[i] = id_of[targets[i]]
            all_seqs[i] = seq
        return PutBlobsResult(shard_ids, all_seqs, sorted(failing))

    def _checkpoint_in_background(self) -> None:
        """Ask this process's checkpoint thread for a checkpoint (started on first use).

        Once it runs, this connection's automatic checkpoint is off: the thread does
        that work. Processes that put little never start it and keep SQLite's. One
        request at a time: the next waits for the catch-up after this one (a catch-up
        racing a background pass could not take the checkpoint lock, and the WAL
        would never restart).
        """
        self._unchecked_bytes = 0
        checkpointer = self._checkpointer
        if checkpointer is None or checkpointer.pid != os.getpid():
            with self._lock, self._translated():
                self.conn.execute("PRAGMA wal_autocheckpoint=0")
            checkpointer = self._checkpointer = _WalCheckpointer(self.path)
        checkpointer.request()

    def _catch_up_checkpoint(self) -> None:
        """Checkpoint the few frames committed while the thread's checkpoint ran.

        Then the WAL is fully copied, so the next write transaction restarts it from
        its beginning; without this step the producer would always be ahead of the
        background checkpoint and the WAL file would keep growing.
        """
        checkpointer = self._checkpointer
        assert checkpointer is not None  # noqa: S101 - called only when it runs
        try:
            with self._lock:
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # not fatal: the next background checkpoint copies them
            log.debug("catch-up checkpoint of %s failed: %s", self.path, exc)
        checkpointer.finished = checkpointer.pending = False

    def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: IteratorType,
        *,
        sequence_number: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Return a self-contained iterator: shard + position, as text.

        It stays valid for any `LocalStream` object on this file (another process,
        a restart) and never expires; records it points past may be trimmed meanwhile.
        """
        num = self._num(shard_id)
        kind = IteratorType(iterator_type)
        if kind is IteratorType.TRIM_HORIZON:
            after = 0
        elif kind is IteratorType.LATEST:
            after = int(self._last_seq(num))
        elif kind is IteratorType.AT_SEQUENCE_NUMBER:
            after = _parse_sequence(sequence_number, kind.value) - 1
        elif kind is IteratorType.AFTER_SEQUENCE_NUMBER:
            after = _parse_sequence(sequence_number, kind.value)
        else:
            if timestamp is None:
                raise ValueError("AT_TIMESTAMP needs a timestamp")
            after = max(0, (_to_ms(timestamp) << SEQ_TIME_SHIFT) - 1)
        return self._iterator(num, after)

    def _iterator(self, num: int, after: int) -> str:
        return f"{_ITERATOR_PREFIX}:{self._uid}:{num}:{after}"

    def _parse_iterator(self, iterator: str) -> tuple[int, int]:
        try:
            prefix, uid, num_text, after_text = iterator.split(":")
            num, after = int(num_text), int(after_text)
        except (ValueError, AttributeError):
            raise ValueError(f"{iterator!r} is not a local stream iterator") from None
        if prefix != _ITERATOR_PREFIX or uid != self._uid or num not in self._id_of:
            raise ValueError(f"iterator {iterator!r} belongs to another stream than {self.path}")
        return num, after

    def get_records(self, iterator: str, *, limit: int = MAX_GET_RECORDS) -> GetRecordsResult:
        """Read up to ``limit`` (1-10,000) records after the iterator's position.

        ``millis_behind_latest`` is 0 when the page reaches the shard's tip, else
        how far (arrival time) the last returned record is behind now.
        """
        shard_id, seqs, keys, datas, next_iterator, behind = self._read_columns(
            iterator, limit, keys=True
        )
        if not seqs:
            return GetRecordsResult([], next_iterator, behind)
        millis = [seq >> SEQ_TIME_SHIFT for seq in seqs]
        arrivals = {ms: datetime.fromtimestamp(ms / 1000, UTC) for ms in set(millis)}
        records = [
            StreamRecord(shard_id, str(seq), key, data, arrivals[ms])
            for seq, key, data, ms in zip(seqs, keys, datas, millis, strict=True)
        ]
        return GetRecordsResult(records, next_iterator, behind)

    @staticmethod
    def _rows_after(conn: sqlite3.Connection, num: int, after: int) -> Iterator[tuple[Any, ...]]:
        """The shard's rows holding a record past ``after``, in order (read lazily)."""
        cursor = conn.execute(
            "SELECT first_seq, keys, key_index, ends, data FROM batches "
            "WHERE shard = ? AND last_seq > ? ORDER BY last_seq",
            (num, after),
        )
        try:
            yield from cursor
        finally:
            cursor.close()  # ends the statement's read snapshot

    def set_page_cache(self, mib: int) -> None:
        """Size this connection's SQLite page cache (64 MiB by default).

        A consumer that reads the stream once, in order (the lake writer), gains nothing
        from the cache; a small one keeps its memory for its own buffers.
        """
        if mib < 1:
            raise ValueError(f"page cache must be at least 1 MiB, got {mib}")
        with self._read() as conn:
            conn.execute(f"PRAGMA cache_size=-{int(mib) * 1024}")

    def get_record_blobs(self, iterator: str, *, limit: int = MAX_GET_RECORDS) -> RecordBlobs:
        """`get_records` without a `StreamRecord` per record: the bulk reader's fast path.

        Same records, order, next iterator and lag as `get_records`; the page keeps
        the data blobs and integer sequence numbers in two lists (about 3x faster
        for a consumer that handles records in bulk, such as the lake writer).
        Specific to the local stream (not part of the `Stream` protocol).
        """
        shard_id, seqs, _, datas, next_iterator, behind = self._read_columns(
            iterator, limit, keys=False
        )
        return RecordBlobs(shard_id, datas, seqs, next_iterator, behind)

    def get_record_page(self, iterator: str, *, limit: int = MAX_GET_RECORDS) -> RecordPage:
        """`get_records` as a `RecordPage`: the same page as columns, keys and arrivals included.

        Same records, order, next iterator and lag as `get_records`, without an object
        per record (the local detector's read; ``page[i]`` is the `StreamRecord` that
        `get_records` returns). Specific to the local stream (not part of `Stream`).
        """
        shard_id, seqs, keys, datas, next_iterator, behind = self._read_columns(
            iterator, limit, keys=True
        )
        # arrival in ms is carried by the sequence number; seconds as datetime.timestamp()
        # gives them for `get_records`' arrival (fromtimestamp(ms / 1000))
        arrivals = [(seq >> SEQ_TIME_SHIFT) / 1000 for seq in seqs]
        return RecordPage(shard_id, datas, seqs, keys, arrivals, next_iterator, behind)

    def _read_columns(
        self, iterator: str, limit: int, *, keys: bool
    ) -> tuple[str, list[int], list[str], list[bytes], str, int]:
        """Shard id, sequence numbers, keys (if asked), data, next iterator and lag of a page."""
        if not 1 <= limit <= MAX_GET_RECORDS:
            raise ValueError(f"limit must be 1-{MAX_GET_RECORDS}, got {limit}")
        num, after = self._parse_iterator(iterator)
        shard_id = self._id_of[num]
        seqs: list[int] = []
        pkeys: list[str] = []
        datas: list[bytes] = []
        with self._read() as conn:
            for first, row_keys, key_index, ends, data in self._rows_after(conn, num, after):
                skip = max(0, after + 1 - first)  # records at or before the position
                n = min(row_count(ends), skip + limit - len(seqs))
                seqs.extend(range(first + skip, first + n))
                if keys:
                    pkeys.extend(unpack_keys(row_keys, key_index, skip, n))
                datas.extend(unpack_data(ends, data, skip, n))
                if len(seqs) >= limit:
                    break
            if not seqs:
                return shard_id, seqs, pkeys, datas, iterator, 0
            tip = conn.execute("SELECT last_seq FROM shards WHERE num = ?", (num,)).fetchone()[0]
        last = seqs[-1]
        behind = 0 if last >= tip else max(0, _to_ms(self._clock()) - (last >> SEQ_TIME_SHIFT))
        return shard_id, seqs, pkeys, datas, self._iterator(num, last), behind

    def close(self) -> None:
        """Close this object's connection; the data stays in the file."""
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None and checkpointer.pid == os.getpid():
            checkpointer.close()
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LocalStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- retention ----------------------------------------------------------------

    def trim(self) -> int:
        """Delete the records older than the retention now; return how many were removed.

        Runs in chunks of `TRIM_CHUNK` rows, one short transaction each, so producers
        and consumers keep going meanwhile. Also called by `put_records` about once
        a minute. Checkpoints are kept (a consumer behind the trim horizon resumes
        at the oldest record still retained).
        """
        self._last_trim = time.monotonic()
        cutoff_ms = _to_ms(self._clock() - self._retention)
        cutoff = max(0, cutoff_ms) << SEQ_TIME_SHIFT
        removed = 0
        for num in self._nums:
            while True:
                # a row goes when its newest record is older than the retention (the
                # records of one put arrived within the same millisecond or so)
                with self._write() as conn:
                    edge = conn.execute(
                        "SELECT last_seq FROM batches WHERE shard = ? AND last_seq < ? "
                        "ORDER BY last_seq LIMIT 1 OFFSET ?",
                        (num, cutoff, TRIM_CHUNK - 1),
                    ).fetchone()
                    bound = edge[0] + 1 if edge else cutoff
                    (records,) = conn.execute(
                        "SELECT total(last_seq - first_seq + 1) FROM batches "
                        "WHERE shard = ? AND last_seq < ?",
                        (num, bound),
                    ).fetchone()
                    conn.execute(
                        "DELETE FROM batches WHERE shard = ? AND last_seq < ?", (num, bound)
                    )
                    removed += int(records)
                if edge is None:
                    break
        if removed:
            log.info(
                "trimmed %d records older than %s from %s", removed, self._retention, self.path
            )
        return removed

    # -- inspection ---------------------------------------------------------------

    def _num(self, shard_id: str) -> int:
        try:
            return self._num_of[shard_id]
        except KeyError:
            known = ", ".join(self._num_of)
            raise ValueError(f"no shard {shard_id!r} in stream {self.name!r} ({known})") from None

    def _last_seq(self, num: int) -> int:
        with self._read() as conn:
            row = conn.execute("SELECT last_seq FROM shards WHERE num = ?", (num,)).fetchone()
        return int(row[0])

    def latest_sequence(self, shard_id: str) -> str | None:
        """The last sequence number ever assigned on the shard, or None if it never had one."""
        last = self._last_seq(self._num(shard_id))
        return str(last) if last else None

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: shards, record counts, retention, consumers and their lag.

        Counting is a scan of the primary key: about a second per ten million records.
        """
        with self._read() as conn:
            conn.execute("BEGIN")  # one snapshot for every count
            try:
                shards = []
                for info, num in zip(self._shards, self._nums, strict=True):
                    count, first, last = conn.execute(
                        "SELECT total(last_seq - first_seq + 1), min(first_seq), max(last_seq) "
                        "FROM batches WHERE shard = ?",
                        (num,),
                    ).fetchone()
                    count = int(count)
                    shards.append(
                        {
                            "shard_id": info.shard_id,
                            "starting_hash_key": str(info.starting_hash_key),
                            "ending_hash_key": str(info.ending_hash_key),
                            "records": count,
                            "first_sequence": None if first is None else str(first),
                            "last_sequence": None if last is None else str(last),
                        }
                    )
                consumers = []
                for consumer, num, seq in conn.execute(
                    "SELECT consumer, shard, seq FROM checkpoints ORDER BY consumer, shard"
                ).fetchall():
                    (lag,) = conn.execute(
                        # the records of each row past the checkpoint (numbered consecutively)
                        "SELECT total(last_seq - max(first_seq - 1, ?)) FROM batches "
                        "WHERE shard = ? AND last_seq > ?",
                        (seq, num, seq),
                    ).fetchone()
                    lag = int(lag)
                    consumers.append(
                        {
                            "consumer": consumer,
                            "shard_id": self._id_of[num],
                            "checkpoint": str(seq),
                            "lag_records": lag,
                        }
                    )
            finally:
                conn.execute("COMMIT")
        return {
            "backend": "local",
            "name": self.name,
            "path": str(self.path),
            "retention_hours": self._retention.total_seconds() / 3600,
            "shards": shards,
            "consumers": consumers,
        }

    # -- CheckpointStore ----------------------------------------------------------

    def get_checkpoint(self, consumer: str, shard_id: str) -> str | None:
        """Return the consumer's last processed sequence number on the shard, or None."""
        num = self._num(shard_id)
        with self._read() as conn:
            row = conn.execute(
                "SELECT seq FROM checkpoints WHERE consumer = ? AND shard = ?", (consumer, num)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_checkpoint(self, consumer: str, shard_id: str, sequence_number: str) -> None:
        """Record progress; committed (crash-safe) when it returns.

        A checkpoint never moves backwards: an older sequence number is ignored, so
        a retried batch may checkpoint again safely.

        Raises:
            ValueError: unknown shard, or a sequence number this shard never assigned.
        """
        if not consumer:
            raise ValueError("consumer name must not be empty")
        num = self._num(shard_id)
        seq = _parse_sequence(sequence_number, "set_checkpoint")
        with self._write() as conn:
            (last,) = conn.execute("SELECT last_seq FROM shards WHERE num = ?", (num,)).fetchone()
            if seq > last:
                raise ValueError(
                    f"checkpoint {sequence_number} is past the last record of {shard_id} ({last})"
                )
            conn.execute(
                "INSERT INTO checkpoints VALUES (?, ?, ?) ON CONFLICT (consumer, shard) "
                "DO UPDATE SET seq = max(seq, excluded.seq)",
                (consumer, num, seq),
            )

    def checkpoints(self) -> dict[str, dict[str, str]]:
        """Return every checkpoint as ``{consumer: {shard_id: sequence_number}}``."""
        with self._read() as conn:
            rows = conn.execute("SELECT consumer, shard, seq FROM checkpoints").fetchall()
        out: dict[str, dict[str, str]] = {}
        for consumer, num, seq in rows:
            out.setdefault(consumer, {})[self._id_of[num]] = str(seq)
        return out
