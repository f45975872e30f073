"""The time-ordered merge: the rows of every instance, in timeline order, encoded in chunks.

Each instance is a `Cursor` over its reader; `Merger.chunks` emits, step by
step, every buffered row scheduled at or before a horizon that no later row of
any instance can precede, sorts the step's rows by offset (stably: a well's rows
keep file order) and encodes them in one column-wise pass. A file that cannot be
read is reported in the chunk and dropped; the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa

from petrostream.dataset.base import Instance, ReadingBatch, Reject
from petrostream.errors import PetroStreamError
from petrostream.producer.clock import ClockMode, Schedule
from petrostream.producer.encoding import encode_records, format_ms, record_head, source_millis

Reader = Callable[..., Iterator[ReadingBatch]]
"""``read(instance, *, batch_rows) -> Iterator[ReadingBatch]``, as `dataset.read_instance`."""

ROW_BUDGET: Final = 60_000
"""Rows buffered across all open instances; bounds memory whatever the fleet size."""
CHUNK_ROWS: Final = 16_384
"""Rows merged and encoded per step."""


class Cursor:
    """One instance being read: its current batch and the timeline offsets of its rows."""

    def __init__(
        self, index: int, instance: Instance, batches: Iterator[ReadingBatch], lead: int, skip: int
    ) -> None:
        """Read ``batches``; offsets start at ``lead``; the first ``skip`` rows are not emitted."""
        self.index = index
        self.instance = instance
        self.batches = batches
        self.lead = lead
        self.skip = skip
        self.table: pa.Table | None = None
        self.offsets = np.empty(0, dtype=np.int64)  # timeline ms of each buffered row
        self.rows = np.empty(0, dtype=np.int64)  # row number within the instance (good rows)
        self.pos = 0
        self.exhausted = False
        self.base_ms: int | None = None
        self.high_ms = 0  # running max: the schedule never goes back in time
        self.last_ms: int | None = None
        self.read_rows = 0
        self.duplicates = 0
        self.backwards = 0

    @property
    def buffered(self) -> int:
        """Rows read and not yet emitted."""
        return len(self.offsets) - self.pos

    def append(self, batch: ReadingBatch) -> None:
        """Add a batch behind the rows still buffered; count repeated and backward stamps."""
        table = batch.table
        ms = source_millis(table)
        if self.base_ms is None:
            self.base_ms = int(ms[0])
        steps = np.diff(ms, prepend=ms[0] if self.last_ms is None else self.last_ms)
        if self.last_ms is None:
            steps = steps[1:]
        self.duplicates += int(np.count_nonzero(steps == 0))
        self.backwards += int(np.count_nonzero(steps < 0))
        self.last_ms = int(ms[-1])
        offsets = np.maximum.accumulate(ms - self.base_ms)
        np.maximum(offsets, self.high_ms, out=offsets)
        self.high_ms = int(offsets[-1])
        offsets += self.lead
        rows = np.arange(self.read_rows, self.read_rows + len(ms), dtype=np.int64)
        self.read_rows += len(ms)
        if self.skip > int(rows[0]):  # resumed: these rows were put before
            keep = rows >= self.skip
            table, offsets, rows = table.filter(pa.array(keep)), offsets[keep], rows[keep]
            if not len(rows):
                return
        if self.table is not None and self.buffered:
            table = pa.concat_tables([self.table.slice(self.pos), table], promote_options="default")
            offsets = np.concatenate([self.offsets[self.pos :], offsets])
            rows = np.concatenate([self.rows[self.pos :], rows])
        self.table, self.offsets, self.rows, self.pos = table, offsets, rows, 0


@dataclass
class Chunk:
    """Rows of several instances merged in emission order and encoded.

    Attributes:
        due: wall-clock epoch ms each row is due (None at speed 0), non-decreasing.
        payload: the records' bytes, one after the other (`blobs` cuts them out):
            one bytes object crosses from the forked reader instead of one per record.
        bounds: where each record starts in ``payload``, and where the last ends (n + 1).
        keys: partition keys.
        owner: instance index per record.
        rows: row number of each record within its instance.
        sizes: record bytes + partition key bytes, as PutRecords counts them.
        rows_read: rows read since the previous chunk.
        files_done: instances finished since the previous chunk.
        rejects: bad rows met since the previous chunk.
        failed: instances given up since the previous chunk: index -> why.
        stamps: per finished instance index, (repeated, backward) timestamps.
        ts_span: the earliest and the latest ``ts`` of the chunk's records (None if empty).
    """

    due: np.ndarray | None
    payload: bytes | memoryview
    bounds: np.ndarray
    keys: list[str]
    owner: np.ndarray
    rows: np.ndarray
    sizes: np.ndarray
    rows_read: int = 0
    files_done: int = 0
    rejects: list[Reject] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    stamps: dict[int, tuple[int, int]] = field(default_factory=dict)
    ts_span: tuple[str, str] | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def blobs(self, start: int = 0, stop: int | None = None) -> list[bytes]:
        """Records ``start`` to ``stop`` (excluded), as bytes."""
        stop = len(self.keys) if stop is None else stop
        bounds = self.bounds[start : stop + 1].tolist()
        pieces = map(self.payload.__getitem__, map(slice, bounds[:-1], bounds[1:]))
        return list(map(bytes, pieces))  # bytes slices stay as they are: no copy


class Step:
    """One merge step's rows in emission order, not yet encoded (`Merger.encode`).

    Pickled (to cross from the forked reader), the rows travel as one Arrow IPC
    stream: a pickled table slice would carry its whole parent buffers.
    """

    def __init__(
        self,
        table: pa.Table | None,
        due: np.ndarray | None,
        owner: np.ndarray | None,
        rows: np.ndarray | None,
        stamps: np.ndarray | None,
        side: dict[str, Any],
    ) -> None:
        """Rows ``table``, their due times, instances, row numbers and ``ts``; ``side`` counts."""
        self._table = table
        self._ipc: pa.Buffer | None = None
        self.due, self.owner, self.rows, self.stamps, self.side = due, owner, rows, stamps, side

    def rows_table(self) -> pa.Table:
        """The rows (read back from IPC after a crossing)."""
        if self._table is None:
            assert self._ipc is not None  # noqa: S101 - one of the two is set
            self._table = pa.ipc.open_stream(self._ipc).read_all()
        return self._table

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self._table is not None:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, self._table.schema) as writer:
                writer.write_table(self._table)
            state["_ipc"], state["_table"] = sink.getvalue(), None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _payload(data: pa.Array) -> tuple[memoryview, np.ndarray]:
    """An encoded string array as (a view of its bytes, record bounds), no copy."""
    _, offsets_buffer, data_buffer = data.buffers()
    width = 8 if pa.types.is_large_string(data.type) else 4
    bounds = np.frombuffer(
        offsets_buffer, dtype=f"<i{width}", count=len(data) + 1, offset=data.offset * width
    ).astype(np.int64)
    if data_buffer is None:  # no record has a byte
        return memoryview(b""), np.zeros(len(data) + 1, dtype=np.int64)
    payload = memoryview(data_buffer)[int(bounds[0]) : int(bounds[-1])]
    return payload, bounds - bounds[0]


class Merger:
    """Reads instances, merges their rows by timeline offset and encodes them in chunks."""

    def __init__(
        self,
        instances: Sequence[Instance],
        read: Reader,
        schedule: Schedule,
        *,
        limit_rows: int | None = None,
        skip: Sequence[int] | None = None,
        active: Sequence[bool] | None = None,
        shards: Sequence[int] | None = None,
    ) -> None:
        """Merge ``instances`` read with ``read`` on ``schedule``.

        ``skip`` gives, per instance, the rows already put (a resumed replay);
        ``active`` says which instances to read at all. ``shards`` (the stream shard
        of each instance's well) groups each chunk's records by shard when nothing
        waits for the clock (speed 0), each shard's records in timeline order.
        """
        self.instances = list(instances)
        self.read, self.schedule, self.limit_rows = read, schedule, limit_rows
        n = len(self.instances)
        self.skip = list(skip) if skip is not None else [0] * n
        self.active = list(active) if active is not None else [True] * n
        self.shards = None if shards is None else np.asarray(shards, dtype=np.int64)
        self.heads = pa.array([record_head(i) for i in self.instances], pa.string())
        self.well_ids = np.array([i.well_id for i in self.instances], dtype=object)
        self.key_bytes = np.array([len(i.well_id.encode()) for i in self.instances], np.int64)
        # Instances open one well at a time (the later ones of a well wait their turn):
        # the budget is shared by the wells, not by every file.
        wells = {i.well_id for i, on in zip(self.instances, self.active, strict=True) if on}
        self.batch_rows = max(256, min(65_536, ROW_BUDGET // max(1, len(wells))))
        self.rows_emitted = 0
        self.pending_rows = 0
        self.pending_files = 0
        self.pending_rejects: list[Reject] = []
        self.pending_failed: dict[int, str] = {}
        self.pending_stamps: dict[int, tuple[int, int]] = {}

    def chunks(self) -> Iterator[Chunk]:
        """Merge the instances' rows by schedule, ``CHUNK_ROWS`` at a time, encoded."""
        return map(self.encode, self.steps())

    def steps(self) -> Iterator[Step]:
        """Merge the instances' rows by schedule, ``CHUNK_ROWS`` at a time, not yet encoded.

        `encode` turns each step into its `Chunk`; the forked reader hands a step over
        unencoded when the putting process waits for work, so that the two processes
        share the encoding.

        Each step may emit every buffered row scheduled at or before ``horizon``,
        the earliest of each started instance's ``k``-th next offset (later rows of
        any instance come after it) and the lead of the next instance not started.
        An instance is opened only when the timeline reaches its lead, so instances
        waiting their turn (later ones of a well) cost neither memory nor step size.
        """
        waiting = sorted(
            (n for n in range(len(self.instances)) if self.active[n]),
            key=lambda n: int(self.schedule.leads[n]),
        )
        waiting.reverse()  # pop() takes the earliest lead
        live: list[Cursor] = []
        while live or waiting:
            left = self._limit_left()
            if left is not None and left <= 0:
                break
            if not live:
                live.append(self._open(waiting.pop()))
            while True:
                # At most a well's share of the row budget ahead, however few are open yet.
                k = max(1, min(CHUNK_ROWS // len(live), self.batch_rows))
                for cursor in live:
                    self._fill(cursor, k + 1)
                for c in live:
                    if c.exhausted and not c.buffered:
                        self._finished(c)
                live = [c for c in live if c.buffered]
                ahead = [int(c.offsets[min(c.pos + k, len(c.offsets) - 1)]) for c in live]
                horizon = min(ahead) if ahead else None
                lead = int(self.schedule.leads[waiting[-1]]) if waiting else None
                if lead is None or (horizon is not None and horizon < lead):
                    break
                live.append(self._open(waiting.pop()))  # the timeline reached its lead
            if horizon is None:
                continue
            parts = []
            for c in live:
                end = max(c.pos, int(np.searchsorted(c.offsets, horizon, side="right")))
                if end > c.pos:
                    parts.append((c, c.pos, end))
            yield self._arrange(parts, left)
        yield self._arrange([], None)  # what was met after the last rows

    def _open(self, n: int) -> Cursor:
        inst = self.instances[n]
        batches = self.read(inst, batch_rows=self.batch_rows)
        return Cursor(n, inst, batches, int(self.schedule.leads[n]), self.skip[n])

    def _limit_left(self) -> int | None:
        return None if self.limit_rows is None else self.limit_rows - self.rows_emitted

    def _finished(self, cursor: Cursor) -> None:
        if cursor.index not in self.pending_failed:
            self.pending_files += 1
        self.pending_stamps[cursor.index] = (cursor.duplicates, cursor.backwards)

    def _fill(self, cursor: Cursor, want: int) -> None:
        # Topping up to ``want`` rows keeps steps full when batch sizes differ.
        while cursor.buffered < want and not cursor.exhausted:
            try:
                batch = next(cursor.batches, None)
            except PetroStreamError as exc:
                # One unreadable file never stops the fleet: report it and go on.
                self.pending_failed[cursor.index] = str(exc)
                cursor.exhausted = True
                return
            if batch is None:
                cursor.exhausted = True
                return
            self.pending_rejects.extend(batch.rejects)
            self.pending_rows += batch.table.num_rows
            if batch.table.num_rows:
                cursor.append(batch)

    def _arrange(self, parts: list[tuple[Cursor, int, int]], left: int | None) -> Step:
        """The rows of ``parts`` (and what was met since the last step), in emission order."""
        side = {
            "rows_read": self.pending_rows,
            "files_done": self.pending_files,
            "rejects": self.pending_rejects,
            "failed": self.pending_failed,
            "stamps": self.pending_stamps,
        }
        self.pending_rejects, self.pending_failed, self.pending_stamps = [], {}, {}
        self.pending_rows = self.pending_files = 0
        if not parts:
            return Step(None, None, None, None, None, side)
        offsets = np.concatenate([c.offsets[a:b] for c, a, b in parts])
        rows = np.concatenate([c.rows[a:b] for c, a, b in parts])
        owner = np.concatenate([np.full(b - a, c.index, dtype=np.int64) for c, a, b in parts])
        # One encode for the whole step: many tiny per-instance encodes would cost
        # more in kernel calls than in work. Missing columns become nulls.
        tables = [c.table.slice(a, b - a) for c, a, b in parts if c.table is not None]
        table = (
            tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
        )
        for c, _, b in parts:
            c.pos = b
        order = None
        if len(parts) > 1:
            order = np.argsort(offsets, kind="stable")  # stable: a well's rows keep file order
        if left is not None and left < len(offsets):
            order = (np.arange(len(offsets)) if order is None else order)[:left]
        due = self.schedule.due(offsets if order is None else offsets[order])
        if due is None and self.shards is not None and len(parts) > 1:
            # Nothing waits for the clock: group the records by shard (stably, so each
            # shard's stay in timeline order), so that a put's records of one shard
            # stand together and the stream stores them with one copy, not one each.
            chosen = owner if order is None else owner[order]
            by_shard = np.argsort(self.shards[chosen], kind="stable")
            order = by_shard if order is None else order[by_shard]
        if order is not None:
            offsets, owner, rows = offsets[order], owner[order], rows[order]
            table = table.take(pa.array(order))
        self.rows_emitted += len(offsets)
        if self.schedule.mode is ClockMode.SOURCE:
            stamps = source_millis(table)
        else:
            stamps = self.schedule.stamps(offsets, due)
        return Step(table, due, owner, rows, stamps, side)

    def encode(self, step: Step | Chunk) -> Chunk:
        """The step's records encoded (a chunk is returned as it is)."""
        if isinstance(step, Chunk):
            return step
        side = step.side
        if step.owner is None:
            empty = np.empty(0, dtype=np.int64)
            start = np.zeros(1, dtype=np.int64)
            return Chunk(None, b"", start, [], empty, empty, empty, **side)
        owner, stamps = step.owner, step.stamps
        assert stamps is not None and step.rows is not None  # noqa: S101 - set with owner
        data = encode_records(
            step.rows_table(), self.heads.take(pa.array(owner)), format_ms(stamps)
        )
        payload, bounds = _payload(data)
        sizes = np.diff(bounds) + self.key_bytes[owner]
        keys = self.well_ids[owner].tolist()
        low, high = format_ms(np.array([stamps.min(), stamps.max()], np.int64)).to_pylist()
        return Chunk(
            step.due, payload, bounds, keys, owner, step.rows, sizes, ts_span=(low, high), **side
        )
