"""A batch the bulk check passed, kept as columns: the local runtime's fast path.

`decode_batch` parses a batch of record payloads in one pass
(`petrostream.lake.decode.bulk_table`, the lake decoder's vectorized test) and
keeps its columns; `WellRows` are one well's rows of it, handed to the detection
engine as a sequence of readings. The columnar engine reads their columns
directly (no dict per reading, no timestamp parse per reading); the per-record
engine gets each reading as `petrostream.record.decode` would return it.

Needs pyarrow and numpy: the handler imports it only where both import (never in
the Lambda zip).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from petrostream import record, schema
from petrostream.record import ColumnBudget


class BatchColumns:
    """The columns of one decoded batch, as numpy arrays (sensors: NaN for a null).

    ``well_id`` and ``instance_id`` stay dictionary-encoded (a code per row, the
    distinct strings once): a batch holds a few wells and instances, so no Python
    string is made per row.
    """

    def __init__(self, table: Any, datas: Sequence[bytes]) -> None:
        import pyarrow as pa

        self.datas = datas
        self.table = table
        self._wells: dict[str, tuple[np.ndarray, list[int]]] | None = None
        self.ts = table.column("ts").cast(pa.int64()).to_numpy()
        self.well_codes, self.well_names = _encoded(table.column("well_id"))
        self.instance_codes, instance_names = _encoded(table.column("instance_id"))
        self.instance_names = np.array(instance_names, dtype=object)
        names = set(table.column_names)
        nan = np.full(len(datas), np.nan)
        self.sensors = {
            s: (table.column(s).to_numpy().astype(np.float64, copy=False) if s in names else nan)
            for s in schema.SENSOR_COLUMNS
        }

    def wells(self) -> dict[str, tuple[np.ndarray, list[int]]]:
        """`rows_per_well`, each also as a list; computed once (a reader thread may do it)."""
        if self._wells is None:
            self._wells = {w: (i, i.tolist()) for w, i in self.rows_per_well().items()}
        return self._wells

    def rows_per_well(self) -> dict[str, np.ndarray]:
        """Each well's rows in stream order; wells in order of first appearance."""
        codes = self.well_codes
        if len(self.well_names) == 1:
            return {self.well_names[0]: np.arange(len(codes), dtype=np.int64)}
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(self.well_names) + 1))
        # dictionary codes number the wells in order of first appearance
        return {
            name: order[bounds[code] : bounds[code + 1]]
            for code, name in enumerate(self.well_names)
        }


def _encoded(column: Any) -> tuple[np.ndarray, list[Any]]:
    """A string column as (a code per row, the distinct values by code, first seen first)."""
    encoded = column.combine_chunks().dictionary_encode(null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return codes, encoded.dictionary.to_pylist()


class WellRows(Sequence[dict[str, Any]]):
    """One well's rows of a `BatchColumns`, in stream order (a sequence of readings)."""

    def __init__(
        self, batch: BatchColumns, well_id: str, rows: list[int], index: np.ndarray | None = None
    ) -> None:
        self.batch = batch
        self.well_id = well_id
        self.rows = rows
        self._index = index

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return record.loads_valid(self.batch.datas[self.rows[i]])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        datas, loads = self.batch.datas, record.loads_valid
        return (loads(datas[r]) for r in self.rows)

    def subset(self, positions: Sequence[int]) -> WellRows:
        """The rows at ``positions`` of this sequence."""
        return WellRows(self.batch, self.well_id, [self.rows[p] for p in positions])

    def columns(self, sensors: Sequence[str]) -> dict[str, Any]:
        """What `petrostream.detect.vectorized.columns_of` gives for these readings.

        ``instance_id`` is one string when every row has the same one (the engine
        reads a scalar as the value of every row), else one per row.
        """
        b = self.batch
        idx = self._index if self._index is not None else np.asarray(self.rows, dtype=np.int64)
        codes = b.instance_codes[idx]
        if len(codes) and codes.min() == codes.max():
            instances: Any = b.instance_names[codes[0]]
        else:
            instances = b.instance_names[codes]
        return {
            "well_id": self.well_id,
            "instance_id": instances,
            "ts": b.ts[idx],
            **{s: b.sensors[s][idx] for s in sensors},
        }


def decode_batch(datas: Sequence[bytes], budget: ColumnBudget) -> dict[str, WellRows] | None:
    """Each well's rows of a batch the bulk check passes; None if any record is in doubt."""
    return wells_of(parse_batch(datas), budget)


def parse_batch(datas: Sequence[bytes]) -> BatchColumns | None:
    """The columns of a batch the bulk check passes (before the column budget), else None.

    Reads no shared state: `AheadDecoder` runs it in a reader thread.
    """
    from petrostream.lake.decode import bulk_parse

    table = bulk_parse(datas)
    if table is None:
        return None
    batch = BatchColumns(table, datas)
    batch.wells()
    return batch


def wells_of(batch: BatchColumns | None, budget: ColumnBudget) -> dict[str, WellRows] | None:
    """Each well's rows of a parsed batch once ``budget`` admits its new columns, else None."""
    from petrostream.lake.decode import admit_new_columns

    if batch is None or not admit_new_columns(batch.table, budget):
        return None
    return {
        well: WellRows(batch, well, rows, index) for well, (index, rows) in batch.wells().items()
    }


class AheadDecoder:
    """`decode_batch`, for pages that a reader thread may have parsed ahead (`prepare`).

    The local event source reads a shard's next page while the handler works on the
    current one (`petrostream.runtime.event_source.PagePrefetcher`) and calls
    `prepare` with its data there: pyarrow's JSON parse and compute release the GIL,
    so the parse runs on the second core. When the handler decodes that same data
    list (the same object: the page, not a slice of it), it takes the parsed columns
    and only admits their new columns into its budget, in stream order as before.
    Anything else (a slice after a failure, a page never prepared) is parsed then. A
    prepared page is only a cache: nothing here decides what is delivered.

    Args:
        min_records: pages below this are not prepared (the handler decodes them
            record by record, `process_stream.BULK_MIN_RECORDS`).
        keep: prepared pages kept at most (the oldest is dropped: a page prefetched
            and then not delivered, e.g. after a failure moved the checkpoint).
    """

    def __init__(self, *, min_records: int = 0, keep: int = 4) -> None:
        self.min_records = min_records
        self.keep = keep
        self._ready: dict[int, tuple[Sequence[bytes], BatchColumns | None]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def prepare(self, datas: Sequence[bytes]) -> None:
        """Parse ``datas`` now (in the calling thread), for a later call with the same list."""
        if len(datas) < self.min_records or None in datas:
            return
        parsed = parse_batch(datas)
        with self._lock:
            self._ready[id(datas)] = (datas, parsed)  # the entry keeps datas (and its id) alive
            while len(self._ready) > self.keep:
                self._ready.pop(next(iter(self._ready)))

    def __call__(self, datas: Sequence[bytes], budget: ColumnBudget) -> dict[str, WellRows] | None:
        """`decode_batch`, from the columns `prepare` parsed when it was given this list."""
        with self._lock:
            hit = self._ready.pop(id(datas), None)
        if hit is not None and hit[0] is datas:
            self.hits += 1
            return wells_of(hit[1], budget)
        self.misses += 1
        return decode_batch(datas, budget)
