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

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from petrostream import record, schema
from petrostream.record import ColumnBudget


class BatchColumns:
    """The columns of one decoded batch, as numpy arrays (sensors: NaN for a null)."""

    def __init__(self, table: Any, datas: Sequence[bytes]) -> None:
        import pyarrow as pa

        self.datas = datas
        self.ts = table.column("ts").cast(pa.int64()).to_numpy()
        self.instances = table.column("instance_id").to_pylist()
        self.wells: list[str] = table.column("well_id").to_pylist()
        names = set(table.column_names)
        nan = np.full(len(datas), np.nan)
        self.sensors = {
            s: (table.column(s).to_numpy().astype(np.float64, copy=False) if s in names else nan)
            for s in schema.SENSOR_COLUMNS
        }


class WellRows(Sequence[dict[str, Any]]):
    """One well's rows of a `BatchColumns`, in stream order (a sequence of readings)."""

    def __init__(self, batch: BatchColumns, well_id: str, rows: list[int]) -> None:
        self.batch = batch
        self.well_id = well_id
        self.rows = rows

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
        """What `petrostream.detect.vectorized.columns_of` gives for these readings."""
        b = self.batch
        idx = np.asarray(self.rows, dtype=np.int64)
        return {
            "well_id": self.well_id,
            "instance_id": [b.instances[r] for r in self.rows],
            "ts": b.ts[idx],
            **{s: b.sensors[s][idx] for s in sensors},
        }


def decode_batch(datas: Sequence[bytes], budget: ColumnBudget) -> dict[str, WellRows] | None:
    """Each well's rows of a batch the bulk check passes; None if any record is in doubt."""
    from petrostream.lake.decode import bulk_table

    table = bulk_table(datas, budget)
    if table is None:
        return None
    batch = BatchColumns(table, datas)
    rows: dict[str, list[int]] = defaultdict(list)
    for i, well in enumerate(batch.wells):
        rows[well].append(i)
    return {well: WellRows(batch, well, r) for well, r in rows.items()}
