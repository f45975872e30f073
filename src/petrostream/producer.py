"""The replay producer: 3W instances in, one JSON record per reading out to a stream.

`replay` plays a fleet: every instance starts *now*, its rows keep their original
spacing scaled by ``speed``, and the rows of all instances are merged by scheduled
emission time, as readings of a real fleet would arrive. Each reading becomes
DESIGN's record with the current time injected as ``ts`` (``source_ts`` keeps the
file's), keyed by ``well_id``, and goes out in ``PutRecords`` batches (<= 500
records, <= 5 MiB). Records that fail alone are retried, and only they, with
exponential backoff and full jitter, before anything newer is sent.

Speed: the JSON is built column-wise with Arrow compute kernels (a formatted
string per column, joined element-wise), never with a Python loop per value.
Floats are written in their shortest round-trip form, so ``float(json) == value``.

Pure of CLI concerns: the caller opens the stream, chooses the clock and renders
progress; the CLI verb lives in `petrostream.cli.replay`.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import pickle
import queue
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Protocol, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from petrostream.dataset.base import Instance, ReadingBatch, Reject
from petrostream.errors import PetroStreamError
from petrostream.schema import VALID_LABELS, event_type
from petrostream.stream.base import MAX_PUT_BYTES, MAX_PUT_RECORDS, PutRecord, Stream

if TYPE_CHECKING:
    from petrostream.stream.local import PutBlobsResult

log = logging.getLogger(__name__)

Reader = Callable[..., Iterator[ReadingBatch]]
"""``read(instance, *, batch_rows) -> Iterator[ReadingBatch]``, as `dataset.read_instance`."""

ROW_BUDGET: Final = 60_000
"""Rows buffered across all open instances; bounds memory whatever the fleet size."""
CHUNK_ROWS: Final = 16_384
"""Rows merged and encoded per step."""
PUT_PAGE_CACHE_MIB: Final = 8
"""SQLite page cache of a local stream the replay puts into (it only appends)."""
_TS_COLUMN: Final = "source_ts"
_LABEL_COLUMN: Final = "event_class"
_STATE_COLUMN: Final = "state"
_MS_PER_DAY: Final = 86_400_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


# -- time --------------------------------------------------------------------------


class Clock(Protocol):
    """Where replay gets the current time and how it waits (injectable for tests)."""

    def now(self) -> datetime:
        """Return the current time, aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a fake clock just advances)."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """Return `datetime.now(UTC)`."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        if seconds > 0:
            time.sleep(seconds)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


# -- results -----------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for records a put refused: ``sleep = uniform(0, min(cap, base * 2**n))``.

    "Full jitter" from the AWS Architecture Blog, *Exponential Backoff And Jitter*.

    Attributes:
        max_attempts: puts of one record before replay gives up (first try included).
        base: seconds of the first backoff ceiling.
        cap: longest backoff ceiling, seconds.
    """

    max_attempts: int = 10
    base: float = 0.05
    cap: float = 5.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return rng.uniform(0.0, min(self.cap, self.base * 2 ** (retry - 1)))


@dataclass(frozen=True)
class Progress:
    """A progress snapshot, handed to the ``progress`` callback about once a second."""

    files: int
    files_done: int
    rows_read: int
    records_put: int
    rejects: int
    retries: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Records put per second so far."""
        return self.records_put / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class ReplaySummary:
    """What a replay did (also what an interrupted or failed one got done).

    Attributes:
        files: instances given.
        files_done: instances fully read and delivered.
        rows_read: data rows read (rejected rows not included).
        records_put: records the stream accepted.
        rejects: rejected rows by reason code (``bad_number``...).
        rejects_path: the JSON-lines file holding every rejected row, if any.
        retries: records sent again after the stream refused them.
        put_calls: ``put_records`` calls.
        reordered: records the stream accepted ahead of an earlier, refused record
            of the same well in the same call (Kinesis does not promise per-key
            order inside a failed ``PutRecords``); 0 on the local stream.
        elapsed: seconds, by the replay clock.
        per_instance: records put per instance id, in input order.
        per_well: records put per well id.
        undelivered: records given up on (retries exhausted), per instance id.
        interrupted: the replay was stopped by Ctrl-C.
        error: why the replay stopped early, if it did.
    """

    files: int = 0
    files_done: int = 0
    rows_read: int = 0
    records_put: int = 0
    rejects: dict[str, int] = field(default_factory=dict)
    rejects_path: Path | None = None
    retries: int = 0
    put_calls: int = 0
    reordered: int = 0
    elapsed: float = 0.0
    per_instance: dict[str, int] = field(default_factory=dict)
    per_well: dict[str, int] = field(default_factory=dict)
    undelivered: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    error: str | None = None

    @property
    def rate(self) -> float:
        """Records put per second."""
        return self.records_put / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def reject_count(self) -> int:
        """Rejected rows in all."""
        return sum(self.rejects.values())

    def lines(self) -> list[str]:
        """The summary as short human lines."""
        rejects = ", ".join(f"{k} {v:,}" for k, v in sorted(self.rejects.items())) or "none"
        out = [
            f"files      {self.files_done}/{self.files} done",
            f"rows read  {self.rows_read:,}",
            f"records    {self.records_put:,} put in {self.put_calls:,} calls",
            f"rejects    {self.reject_count:,} ({rejects})"
            + (f" -> {self.rejects_path}" if self.rejects_path else ""),
            f"retries    {self.retries:,}"
            + (f", {self.reordered:,} reordered" * bool(self.reordered)),
            f"elapsed    {self.elapsed:.1f} s ({self.rate:,.0f} records/s)",
        ]
        if self.undelivered:
            lost = ", ".join(f"{k} {v:,}" for k, v in self.undelivered.items())
            out.append(f"NOT DELIVERED {sum(self.undelivered.values()):,} records: {lost}")
        return out


class DeliveryError(PetroStreamError):
    """The stream kept refusing records beyond the retry policy; ``summary`` says what got out."""

    def __init__(self, message: str, summary: ReplaySummary) -> None:
        super().__init__(message)
        self.summary = summary


class ReplayInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the replay between two puts; ``summary`` says how far it got."""

    def __init__(self, summary: ReplaySummary) -> None:
        super().__init__("replay interrupted")
        self.summary = summary


# -- encoding ----------------------------------------------------------------------

_HMS: Final = pa.array(
    [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
)
_MILLIS: Final = pa.array([f".{i:03d}" for i in range(1000)])
_LABEL_LOOKUP_SIZE: Final = max(VALID_LABELS) + 1


@lru_cache(maxsize=4096)
def _date_prefix(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d ")


def format_ms(epoch_ms: np.ndarray) -> pa.StringArray:
    """Format epoch milliseconds as record timestamps (``YYYY-MM-DD HH:MM:SS.mmm``), vectorized.

    Arrow's ``strftime`` costs ~1 us a value; lookup tables for the time of day and
    the milliseconds and one `strftime` per distinct day cost a tenth of that.
    """
    days, rem = np.divmod(epoch_ms.astype(np.int64, copy=False), _MS_PER_DAY)
    secs, millis = np.divmod(rem, 1000)
    first = int(days[0]) if len(days) else 0
    if len(days) and int(days[-1]) == first and int(days.min()) == first:
        dates: pa.Array | pa.Scalar = pa.scalar(_date_prefix(first))
    else:
        uniq, inverse = np.unique(days, return_inverse=True)
        dates = pa.array([_date_prefix(int(d)) for d in uniq]).take(pa.array(inverse))
    joined = pc.binary_join_element_wise(
        dates, _HMS.take(pa.array(secs)), _MILLIS.take(pa.array(millis)), ""
    )
    return joined


Piece: TypeAlias = "pa.Array | pa.Scalar | str"


def _float_pieces(name: str, values: pa.Array) -> list[Piece]:
    """Pieces that write ``,"name":<value>`` per row, or nothing where the value is absent.

    Arrow casts a double with double-conversion's *shortest* mode, which reads back
    to the same double. An integral value comes out as ``38043600``; a ``.0`` is
    added so JSON readers see a float, as `petrostream.record.encode` writes it.
    Null and non-finite values are left out. A column with no absent value costs
    no join of its own: its key goes in as a constant piece of the record join.
    """
    if values.type != pa.float64():
        values = pc.cast(values, pa.float64())
    numbers = values.to_numpy(zero_copy_only=False)  # nulls read as NaN
    finite = np.isfinite(numbers)
    dense = bool(finite.all())
    if not dense:
        values = pc.if_else(pa.array(finite), values, pa.scalar(None, pa.float64()))
    text = pc.cast(values, pa.string())
    whole = finite & (np.floor(numbers) == numbers)
    suffix: Piece = ""
    if whole.any():
        # Large or tiny whole numbers print as 1e+22: those need no ".0".
        plain = pc.invert(pc.match_substring(text, "e"))
        suffix = pc.if_else(pc.and_(pa.array(whole), plain), ".0", "")
    key = f",{json.dumps(name)}:"
    if dense:
        return [key, text, suffix]
    return [pc.binary_join_element_wise(key, text, suffix, "")]  # null where absent


def _label_pieces() -> tuple[pa.Array, pa.Array]:
    # One JSON fragment per possible label, looked up by value; undefined labels -> null.
    classes, types = [], []
    for label in range(_LABEL_LOOKUP_SIZE):
        ok = label in VALID_LABELS
        classes.append(f',"event_class":{label}' if ok else None)
        types.append(f',"event_type":"{event_type(label)}"' if ok else None)
    return pa.array(classes, pa.string()), pa.array(types, pa.string())


_CLASS_PIECES, _TYPE_PIECES = _label_pieces()


def _label_fragments(labels: pa.Array) -> list[Piece]:
    if labels.null_count == len(labels):
        return []
    idx = pc.cast(labels, pa.int64())
    valid = pc.and_(pc.greater_equal(idx, 0), pc.less(idx, _LABEL_LOOKUP_SIZE))
    idx = pc.if_else(valid, idx, pa.scalar(None, pa.int64()))
    return [_CLASS_PIECES.take(idx), _TYPE_PIECES.take(idx)]


def encode_records(table: pa.Table, heads: Piece, ts: Piece) -> pa.Array:
    """Encode rows as DESIGN's JSON records, column-wise: one string per row.

    Args:
        table: reading rows (``source_ts``, float sensor columns, ``event_class``, ``state``).
        heads: per row (or one for all) ``{"well_id":…,"instance_id":…,"ts":"`` (`record_head`).
        ts: the injected time per row (or one for all), ``YYYY-MM-DD HH:MM:SS.mmm``.

    A null sensor or label is left out, as `petrostream.record.encode` does; keys
    come in DESIGN's order. One element-wise join builds every record.
    """
    n = table.num_rows
    source = table.column(_TS_COLUMN).combine_chunks()
    source_ms = pc.cast(source, pa.int64()).to_numpy(zero_copy_only=False)
    pieces: list[Piece] = [heads, ts, '","source_ts":"', format_ms(source_ms), '"']
    for name in table.column_names:
        if name in (_TS_COLUMN, _LABEL_COLUMN, _STATE_COLUMN):
            continue
        column = table.column(name).combine_chunks()
        if column.null_count == n:
            continue
        pieces.extend(_float_pieces(name, column))
    if _LABEL_COLUMN in table.column_names:
        pieces.extend(_label_fragments(table.column(_LABEL_COLUMN).combine_chunks()))
    if _STATE_COLUMN in table.column_names:
        state = table.column(_STATE_COLUMN).combine_chunks()
        if state.null_count < n:
            text = pc.cast(pc.cast(state, pa.int64()), pa.string())
            pieces.append(pc.binary_join_element_wise(',"state":', text, ""))
    pieces.append("}")
    # An absent field is a null piece: written as "" it drops out with its comma.
    return pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="")


def encode_tail(table: pa.Table) -> pa.Array:
    """The part of each row's record after ``"ts":"<ts>``: ``","source_ts":"…",…}``."""
    return encode_records(table, "", "")


def record_head(instance: Instance) -> str:
    """The start of an instance's records, up to the opening quote of ``ts``."""
    return (
        f'{{"well_id":{json.dumps(instance.well_id)},'
        f'"instance_id":{json.dumps(instance.instance_id)},"ts":"'
    )


# -- merging instances -------------------------------------------------------------


class _Cursor:
    """One instance being read: its current batch and the schedule of its rows."""

    def __init__(self, index: int, instance: Instance, batches: Iterator[ReadingBatch]) -> None:
        self.index = index
        self.instance = instance
        self.batches = batches
        self.table: pa.Table | None = None
        self.offsets = np.empty(0, dtype=np.int64)  # ms after the instance's first row
        self.pos = 0
        self.exhausted = False
        self.base_ms: int | None = None
        self.high_ms = 0  # running max: the schedule never goes back in time

    @property
    def buffered(self) -> int:
        return len(self.offsets) - self.pos

    def append(self, batch: ReadingBatch) -> None:
        """Add a batch behind the rows still buffered."""
        table = batch.table
        source = pc.cast(table.column(_TS_COLUMN).combine_chunks(), pa.int64())
        ms = source.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        if self.base_ms is None:
            self.base_ms = int(ms[0])
        offsets = np.maximum.accumulate(ms - self.base_ms)
        np.maximum(offsets, self.high_ms, out=offsets)
        self.high_ms = int(offsets[-1])
        if self.table is not None and self.buffered:
            rest = self.table.slice(self.pos)
            table = pa.concat_tables([rest, table], promote_options="default")
            offsets = np.concatenate([self.offsets[self.pos :], offsets])
        self.table, self.offsets, self.pos = table, offsets, 0


@dataclass
class _Chunk:
    """Rows of several instances merged in emission order and encoded."""

    due: np.ndarray | None  # epoch ms each row is due (None at speed 0), non-decreasing
    blobs: list[bytes]
    keys: list[str]
    owner: np.ndarray  # cursor index per row
    sizes: np.ndarray  # record bytes + partition key bytes, as PutRecords counts them
    rows_read: int = 0  # rows read since the previous chunk
    files_done: int = 0  # instances finished since the previous chunk
    rejects: list[Reject] = field(default_factory=list)  # met since the previous chunk


# -- the producer ------------------------------------------------------------------


class _Replay:
    def __init__(
        self,
        instances: Sequence[Instance],
        stream: Stream,
        *,
        speed: float,
        clock: Clock,
        read: Reader,
        limit_rows: int | None,
        rejects_path: Path | None,
        progress: Callable[[Progress], None] | None,
        progress_interval: float,
        retry: RetryPolicy,
        rng: random.Random,
        max_batch_records: int,
        max_batch_bytes: int,
        pipeline: bool,
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.stream, self.speed, self.clock, self.read = stream, speed, clock, read
        self.limit_rows = limit_rows
        self.rejects_target = rejects_path
        self.rejects_file: IO[str] | None = None
        self.progress, self.progress_interval = progress, progress_interval
        self.retry, self.rng = retry, rng
        self.max_records = min(max_batch_records, MAX_PUT_RECORDS)
        self.max_bytes = min(max_batch_bytes, MAX_PUT_BYTES)
        self.instances = list(instances)
        self.summary = ReplaySummary(
            files=len(self.instances),
            per_instance={i.instance_id: 0 for i in self.instances},
            per_well={i.well_id: 0 for i in self.instances},
        )
        self.heads = pa.array([record_head(i) for i in self.instances], pa.string())
        self.well_ids = np.array([i.well_id for i in self.instances], dtype=object)
        self.key_bytes = np.array([len(i.well_id.encode()) for i in self.instances], np.int64)
        self.put_per_cursor = np.zeros(len(self.instances), dtype=np.int64)
        self.batch_rows = max(256, min(65_536, ROW_BUDGET // max(1, len(self.instances))))
        self.reject_counts: Counter[str] = Counter()
        self.last_ts_ms = 0
        self.rows_emitted = 0
        self.pipeline = pipeline and "fork" in multiprocessing.get_all_start_methods()
        blobs = getattr(stream, "put_record_blobs", None)  # the local stream's fast path
        self.put_blobs: Callable[[list[str], list[bytes]], PutBlobsResult] | None = (
            blobs if callable(blobs) else None
        )
        page_cache = getattr(stream, "set_page_cache", None)
        if callable(page_cache):
            # Appending in order reuses only the tail pages: a large SQLite page cache
            # (the local stream's 64 MiB default) held ~55 MB of RSS for no speed.
            page_cache(PUT_PAGE_CACHE_MIB)
        # What the reading side met since the last chunk (it may run in another process).
        self.pending_rows = 0
        self.pending_files = 0
        self.pending_rejects: list[Reject] = []

    # -- driving ------------------------------------------------------------------

    def run(self) -> ReplaySummary:
        started = self.clock.now()
        self.start_ms = _ms(started)
        self.next_progress = self.start_ms + self.progress_interval * 1000
        try:
            try:
                chunks = self._read_forked() if self.pipeline else self._read_here()
                try:
                    for chunk in chunks:
                        self._absorb(chunk)
                        self._emit(chunk)
                finally:
                    chunks.close()  # stops the reader process now, not at garbage collection
            finally:
                self._finish(started)
        except KeyboardInterrupt:
            self.summary.interrupted = True
            self.summary.error = "interrupted"
            raise ReplayInterrupted(self.summary) from None
        return self.summary

    def _read_here(self) -> Generator[_Chunk, None, None]:
        cursors = [
            _Cursor(n, inst, self.read(inst, batch_rows=self.batch_rows))
            for n, inst in enumerate(self.instances)
        ]
        yield from self._chunks(cursors)

    def _read_forked(self) -> Generator[_Chunk, None, None]:
        """Read, merge and encode in a forked process; put from this one.

        Putting costs as much CPU as reading and encoding, and threads would share
        one GIL: a second process lets both run on two cores. Chunks come back
        through a short queue (bounded memory), in order.
        """
        context = multiprocessing.get_context("fork")
        channel: multiprocessing.Queue[tuple[str, Any]] = context.Queue(maxsize=2)
        worker = context.Process(
            target=_read_in_worker, args=(self, channel), name="replay-reader", daemon=True
        )
        worker.start()
        try:
            while True:
                try:
                    kind, payload = channel.get(timeout=1.0)
                except queue.Empty:
                    if not worker.is_alive():
                        raise PetroStreamError(
                            f"the replay reader process died (exit code {worker.exitcode})"
                        ) from None
                    continue
                if kind == "chunk":
                    yield payload
                elif kind == "error":
                    raise payload
                else:
                    return
        finally:
            if worker.is_alive():
                worker.terminate()
            worker.join()
            channel.close()

    def _absorb(self, chunk: _Chunk) -> None:
        self.summary.rows_read += chunk.rows_read
        self.summary.files_done += chunk.files_done
        self._record_rejects(chunk.rejects)

    def _finish(self, started: datetime) -> None:
        s = self.summary
        s.elapsed = (self.clock.now() - started).total_seconds()
        for n, inst in enumerate(self.instances):
            s.per_instance[inst.instance_id] = int(self.put_per_cursor[n])
        wells: Counter[str] = Counter()
        for inst in self.instances:
            wells[inst.well_id] += s.per_instance[inst.instance_id]
        s.per_well = dict(wells)
        s.rejects = dict(self.reject_counts)
        if self.rejects_file is not None:
            self.rejects_file.close()

    def _limit_left(self) -> int | None:
        return None if self.limit_rows is None else self.limit_rows - self.rows_emitted

    def _chunks(self, cursors: list[_Cursor]) -> Iterator[_Chunk]:
        """Merge the instances' rows by schedule, ``CHUNK_ROWS`` at a time.

        Each step may emit every buffered row scheduled at or before ``horizon``,
        the earliest of each instance's last buffered offset (later rows of any
        instance come after it) and its ``k``-th next offset (bounds the step).
        """
        active = list(cursors)
        while active:
            left = self._limit_left()
            if left is not None and left <= 0:
                break
            k = max(1, CHUNK_ROWS // len(active))
            for cursor in active:
                self._fill(cursor, k + 1)
            self.pending_files += sum(1 for c in active if c.exhausted and not c.buffered)
            active = [c for c in active if c.buffered]
            if not active:
                break
            horizon = min(int(c.offsets[min(c.pos + k, len(c.offsets) - 1)]) for c in active)
            parts = []
            for c in active:
                end = max(c.pos, int(np.searchsorted(c.offsets, horizon, side="right")))
                if end > c.pos:
                    parts.append((c, c.pos, end))
            yield self._merge(parts, left)
        yield self._merge([], None)  # what was met after the last rows

    def _fill(self, cursor: _Cursor, want: int) -> None:
        # Topping up to ``want`` rows keeps steps full when batch sizes differ.
        while cursor.buffered < want and not cursor.exhausted:
            batch = next(cursor.batches, None)
            if batch is None:
                cursor.exhausted = True
                return
            self.pending_rejects.extend(batch.rejects)
            self.pending_rows += batch.table.num_rows
            if batch.table.num_rows:
                cursor.append(batch)

    def _merge(self, parts: list[tuple[_Cursor, int, int]], left: int | None) -> _Chunk:
        side = {"rows_read": self.pending_rows, "files_done": self.pending_files}
        rejects, self.pending_rejects = self.pending_rejects, []
        self.pending_rows = self.pending_files = 0
        if not parts:
            empty = np.empty(0, dtype=np.int64)
            return _Chunk(None, [], [], empty, empty, rejects=rejects, **side)
        offsets = np.concatenate([c.offsets[a:b] for c, a, b in parts])
        owner = np.concatenate([np.full(b - a, c.index, dtype=np.int64) for c, a, b in parts])
        # One encode for the whole step: many tiny per-instance encodes would cost
        # more in kernel calls than in work. Missing columns become nulls.
        tables = [c.table.slice(a, b - a) for c, a, b in parts if c.table is not None]
        table = (
            tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
        )
        for c, _, b in parts:
            c.pos = b
        if len(parts) > 1:
            order = np.argsort(offsets, kind="stable")  # stable: a well's rows keep file order
            offsets, owner = offsets[order], owner[order]
            table = table.take(pa.array(order))
        if left is not None and left < len(offsets):
            offsets, owner, table = offsets[:left], owner[:left], table.slice(0, left)
        self.rows_emitted += len(offsets)
        due: np.ndarray | None = None
        if self.speed > 0:
            due = self.start_ms + np.rint(offsets / self.speed).astype(np.int64)
            ts: pa.Array | str = format_ms(due)
        else:
            # As fast as possible: stamped when encoded, a fraction of a second before
            # the put, and never before an earlier stamp (the wall clock may step back).
            self.last_ts_ms = max(self.last_ts_ms, _ms(self.clock.now()))
            ts = format_ms(np.array([self.last_ts_ms]))[0].as_py()
        data = encode_records(table, self.heads.take(pa.array(owner)), ts)
        sizes = pc.binary_length(data).to_numpy(zero_copy_only=False) + self.key_bytes[owner]
        blobs = data.cast(pa.binary()).to_pylist()
        keys = self.well_ids[owner].tolist()
        return _Chunk(due, blobs, keys, owner, sizes, rejects=rejects, **side)

    # -- emitting -------------------------------------------------------------------

    def _emit(self, chunk: _Chunk) -> None:
        n = len(chunk.blobs)
        due = chunk.due
        start = 0
        while start < n:
            end = min(n, start + self.max_records)
            if due is not None:
                now_ms = _ms(self.clock.now())
                first = int(due[start])
                if first > now_ms:
                    self.clock.sleep((first - now_ms) / 1000)
                    now_ms = max(now_ms, _ms(self.clock.now()), first)
                # Everything already due goes in this put (at least the first record).
                end = start + max(1, int(np.searchsorted(due[start:end], now_ms, "right")))
            sizes = np.cumsum(chunk.sizes[start:end])
            if sizes[-1] > self.max_bytes:
                end = start + max(1, int(np.searchsorted(sizes, self.max_bytes, "right")))
            self._deliver(chunk.keys[start:end], chunk.blobs[start:end], chunk.owner[start:end])
            start = end
            self._maybe_progress()

    def _deliver(self, keys: list[str], blobs: list[bytes], owner: np.ndarray) -> None:
        """Put one batch; retry only the refused records, oldest first, until all are in.

        Nothing newer is sent before the batch is fully stored, so a refused record
        is never overtaken by a later put of its well; the refused records of a well
        are resent in their original order.
        """
        pending = list(range(len(keys)))
        attempt = 1
        while True:
            if attempt == 1:
                failed, error = self._put(keys, blobs)
            else:
                failed, error = self._put([keys[i] for i in pending], [blobs[i] for i in pending])
            self.summary.put_calls += 1
            if not failed:
                self._count_put(owner if attempt == 1 else owner[np.asarray(pending)])
                return
            accepted = np.ones(len(pending), dtype=bool)
            accepted[failed] = False
            self._count_put(owner[np.asarray(pending)[accepted]])
            self._note_reordering(keys, pending, failed)
            pending = [pending[j] for j in failed]
            if attempt >= self.retry.max_attempts:
                self._give_up(pending, owner, error)
            self.summary.retries += len(pending)
            self.clock.sleep(self.retry.backoff(attempt, self.rng))
            attempt += 1

    def _put(self, keys: list[str], blobs: list[bytes]) -> tuple[list[int], str]:
        """One put: the indices refused (ascending) and the last refusal's ``code: message``.

        The local stream takes the two lists as they are (`LocalStream.put_record_blobs`,
        no object per record: ~1 us a record less); other streams get `PutRecord`s.
        """
        if self.put_blobs is not None:
            outcome = self.put_blobs(keys, blobs)
            return outcome.failed, f"{outcome.error_code}: {outcome.error_message}"
        results = self.stream.put_records(list(map(PutRecord, keys, blobs)))
        failed = [j for j, r in enumerate(results) if r.error_code is not None]
        last = results[failed[-1]] if failed else None
        return failed, "" if last is None else f"{last.error_code}: {last.error_message}"

    def _count_put(self, owners: np.ndarray) -> None:
        if len(owners):
            self.put_per_cursor += np.bincount(owners, minlength=len(self.put_per_cursor))
            self.summary.records_put += len(owners)

    def _note_reordering(self, keys: list[str], pending: list[int], failed: list[int]) -> None:
        refused: set[str] = set()
        failed_at = set(failed)
        for j, i in enumerate(pending):
            key = keys[i]
            if j in failed_at:
                refused.add(key)
            elif key in refused:
                self.summary.reordered += 1
        if self.summary.reordered:
            log.debug(
                "%d records stored ahead of a refused one of their well", self.summary.reordered
            )

    def _give_up(self, pending: list[int], owner: np.ndarray, error: str) -> None:
        lost = Counter(self.instances[int(owner[i])].instance_id for i in pending)
        self.summary.undelivered = dict(lost)
        self.summary.error = (
            f"the stream refused {len(pending)} records {self.retry.max_attempts} times "
            f"({error}); replay stopped"
        )
        raise DeliveryError(
            f"{self.summary.error}. Slow down (--speed), add shards, or retry later",
            self.summary,
        )

    def _maybe_progress(self) -> None:
        if self.progress is None:
            return
        now_ms = _ms(self.clock.now())
        if now_ms < self.next_progress:
            return
        self.next_progress = now_ms + self.progress_interval * 1000
        s = self.summary
        self.progress(
            Progress(
                files=s.files,
                files_done=s.files_done,
                rows_read=s.rows_read,
                records_put=s.records_put,
                rejects=sum(self.reject_counts.values()),
                retries=s.retries,
                elapsed=(now_ms - self.start_ms) / 1000,
            )
        )

    # -- rejects --------------------------------------------------------------------

    def _record_rejects(self, rejects: list[Reject]) -> None:
        if not rejects:
            return
        for reject in rejects:
            self.reject_counts[reject.reason.split(":", 1)[0].strip()] += 1
        if self.rejects_target is None:
            return
        if self.rejects_file is None:
            self.rejects_target.parent.mkdir(parents=True, exist_ok=True)
            self.rejects_file = self.rejects_target.open("a", encoding="utf-8")
            self.summary.rejects_path = self.rejects_target
        for reject in rejects:
            row = {"file": reject.file, "line": reject.line, "reason": reject.reason}
            self.rejects_file.write(json.dumps({**row, "raw": reject.raw}) + "\n")


def _read_in_worker(job: _Replay, channel: multiprocessing.Queue[tuple[str, Any]]) -> None:
    """The forked reader: send chunks, then ``done``, or the error that stopped it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the putting process's to handle
    try:
        for chunk in job._read_here():
            channel.put(("chunk", chunk))
        channel.put(("done", None))
    except BaseException as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            exc = PetroStreamError(f"{type(exc).__name__}: {exc}")
        channel.put(("error", exc))


def replay(
    instances: Sequence[Instance],
    stream: Stream,
    *,
    speed: float,
    clock: Clock | None = None,
    read: Reader | None = None,
    limit_rows: int | None = None,
    rejects_path: Path | None = None,
    progress: Callable[[Progress], None] | None = None,
    progress_interval: float = 1.0,
    retry: RetryPolicy | None = None,
    rng: random.Random | None = None,
    max_batch_records: int = MAX_PUT_RECORDS,
    max_batch_bytes: int = MAX_PUT_BYTES,
    pipeline: bool = False,
) -> ReplaySummary:
    """Replay 3W instances into a stream as a live fleet; one record per reading.

    Every instance starts at the clock's *now*. A row ``d`` seconds after its
    instance's first row is emitted at ``now + d / speed`` with that time as ``ts``
    (``speed`` 1 = real time, N = N times faster); at ``speed`` 0 rows go out as
    fast as possible in the same merged order, ``ts`` = the time of their put
    (never decreasing). Rows of different instances are interleaved by schedule;
    the rows of one instance keep file order (a timestamp that goes back in a
    file is emitted in file order, at the latest time seen so far).

    Args:
        instances: the 3W files to play (`petrostream.dataset.discover`).
        stream: where to put the records (closed by the caller).
        speed: time scale; 0 = no waiting.
        clock: current time and sleeping; default the system clock.
        read: the 3W reader; default `petrostream.dataset.read_instance`.
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

    Returns:
        The summary: rows read, records put (per instance and well), rejects, retries.

    Raises:
        DatasetError: a file cannot be read at all.
        DeliveryError: records were still refused after ``retry.max_attempts`` puts;
            its ``summary`` lists what was not delivered.
        ReplayInterrupted: Ctrl-C; its ``summary`` says what was put per instance.
    """
    if read is None:
        from petrostream.dataset import read_instance

        read = read_instance
    worker = _Replay(
        instances,
        stream,
        speed=speed,
        clock=clock or SystemClock(),
        read=read,
        limit_rows=limit_rows,
        rejects_path=rejects_path,
        progress=progress,
        progress_interval=progress_interval,
        retry=retry or RetryPolicy(),
        rng=rng or random.Random(),  # noqa: S311 - jitter, not crypto
        max_batch_records=max_batch_records,
        max_batch_bytes=max_batch_bytes,
        pipeline=pipeline,
    )
    return worker.run()


def rejects_file_for(home: Path, moment: datetime) -> Path:
    """``<home>/rejects/replay-<UTC timestamp>.jsonl``, the replay's dead-letter file."""
    return home / "rejects" / f"replay-{moment.astimezone(UTC):%Y%m%dT%H%M%S}Z.jsonl"


__all__ = [
    "Clock",
    "DeliveryError",
    "Progress",
    "ReplayInterrupted",
    "ReplaySummary",
    "RetryPolicy",
    "SystemClock",
    "encode_records",
    "encode_tail",
    "format_ms",
    "record_head",
    "rejects_file_for",
    "replay",
]
