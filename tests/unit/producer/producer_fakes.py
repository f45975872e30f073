"""In-test fakes for the producer: instances read from memory, streams that record puts."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from petrostream.dataset.base import Instance, ReadingBatch, Reject
from petrostream.dataset.span import TimeSpan
from petrostream.stream.base import THROUGHPUT_EXCEEDED, PutRecord, PutResult, check_put_batch
from petrostream.testing.clock import FakeClock

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_of(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds() * 1000)


@dataclass
class FakeFile:
    """One instance and its rows, served by `FakeReader` in batches."""

    instance: Instance
    table: pa.Table
    rejects: list[Reject] = field(default_factory=list)


def make_file(
    well: str,
    rows: int,
    *,
    start: datetime = datetime(2014, 5, 30, 10, 0, 0, tzinfo=UTC),
    step_ms: int = 1000,
    instance_id: str | None = None,
    source_ms: Sequence[int] | None = None,
    sensors: dict[str, Sequence[float | None]] | None = None,
    labels: Sequence[int | None] | None = None,
    states: Sequence[int | None] | None = None,
    rejects: list[Reject] | None = None,
) -> FakeFile:
    """A fake 3W instance: ``rows`` rows every ``step_ms`` from ``start`` (or ``source_ms``)."""
    instance_id = instance_id or f"{well}_{start:%Y%m%d%H%M%S}"
    path = Path(f"/fake/0/{instance_id}.csv")
    instance = Instance(path, instance_id, well, "real", start, 0, "csv")
    if source_ms is None:
        source_ms = [ms_of(start) + i * step_ms for i in range(rows)]
    if sensors is None:
        sensors = {"p_pdg": [float(2e7 + i) for i in range(rows)]}
    columns: dict[str, pa.Array] = {
        "source_ts": pa.array(np.asarray(source_ms, dtype=np.int64), pa.timestamp("ms", "UTC"))
    }
    for name, values in sensors.items():
        columns[name] = pa.array(values, pa.float64())
    columns["event_class"] = pa.array(labels if labels is not None else [0] * rows, pa.int32())
    columns["state"] = pa.array(states if states is not None else [None] * rows, pa.int32())
    return FakeFile(instance, pa.table(columns), rejects or [])


class FakeReader:
    """A `read_instance` stand-in serving `FakeFile` tables in ``batch_rows`` slices."""

    def __init__(self, files: Sequence[FakeFile], batch_rows: int | None = None) -> None:
        self.files = {f.instance.instance_id: f for f in files}
        self.batch_rows = batch_rows

    def span(self, instance: Instance) -> TimeSpan | None:
        """The fake file's first and last timestamps, as `dataset.span.time_span` gives them."""
        fake = self.files.get(instance.instance_id)
        if fake is None or fake.table.num_rows == 0:
            return None
        stamps = fake.table.column("source_ts").cast(pa.int64()).to_pylist()
        return TimeSpan(stamps[0], stamps[-1])

    def __call__(self, instance: Instance, *, batch_rows: int = 65_536) -> Iterator[ReadingBatch]:
        fake = self.files[instance.instance_id]
        size = self.batch_rows or batch_rows
        table = fake.table
        for start in range(0, max(1, table.num_rows), size):
            rejects = fake.rejects if start == 0 else []
            yield ReadingBatch(instance, table.slice(start, size), start + 2, rejects)


Decider = Callable[[int, int, PutRecord], bool]
"""(call number, index in call, record) -> refuse this record?"""


class RecordingStream:
    """A `Stream` fake that keeps every put, in order, and refuses what ``refuse`` says."""

    name = "fake"

    def __init__(
        self,
        refuse: Decider | None = None,
        *,
        interrupt_on_call: int | None = None,
        clock: FakeClock | None = None,
    ):
        self.refuse = refuse
        self.interrupt_on_call = interrupt_on_call
        self.calls: list[list[PutRecord]] = []
        self.stored: list[PutRecord] = []
        self.clock = clock
        self.put_at: list[datetime] = []  # per stored record, the clock's time of its put

    def put_records(self, records: Sequence[PutRecord]) -> list[PutResult]:
        check_put_batch(records)
        call = len(self.calls)
        if self.interrupt_on_call is not None and call == self.interrupt_on_call:
            raise KeyboardInterrupt
        self.calls.append(list(records))
        results = []
        for i, rec in enumerate(records):
            if self.refuse is not None and self.refuse(call, i, rec):
                results.append(PutResult(None, None, THROUGHPUT_EXCEEDED, "Rate exceeded"))
            else:
                self.stored.append(rec)
                if self.clock is not None:
                    self.put_at.append(self.clock.now())
                results.append(PutResult("shardId-000000000000", str(len(self.stored))))
        return results

    def close(self) -> None:
        pass
