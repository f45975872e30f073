"""Write lake Parquet files by hand, in the lake's layout, for catalog and query tests.

The lake writer is the real producer of these files; tests of the crawler and
the query engines write them directly so they control schemas, partitions and
values: ``<lake>/sensors/dt=YYYY-MM-DD/well_id=WELL-00001/<file>.parquet``
(partition columns only in the path, Hive style), ``<lake>/alerts/dt=…/``.
"""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from petrostream.schema import event_type, to_column

TS = pa.timestamp("ms", tz="UTC")


def sensor_rows(
    n: int,
    *,
    start: datetime,
    columns: tuple[str, ...] = ("p_pdg", "p_tpt", "t_tpt"),
    event_class: int | None = 0,
    instance_id: str = "instance-1",
    step: timedelta = timedelta(seconds=1),
    base: float = 1.0e7,
) -> pa.Table:
    """A sensors table of ``n`` readings one ``step`` apart; sensor k holds ``base*(k+1)+i``."""
    ts = [start + i * step for i in range(n)]
    data: dict[str, Any] = {
        "instance_id": pa.array([instance_id] * n, pa.string()),
        "ts": pa.array(ts, TS),
        "source_ts": pa.array(ts, TS),
    }
    for k, column in enumerate(columns):
        data[column] = pa.array([base * (k + 1) + i for i in range(n)], pa.float64())
    data["event_class"] = pa.array([event_class] * n, pa.int32())
    data["event_type"] = pa.array([event_type(event_class)] * n, pa.string())
    data["state"] = pa.array([None] * n, pa.int32())
    return pa.table(data)


def write_lake_file(
    lake: Path, table: str, partition: dict[str, str], data: pa.Table, name: str | None = None
) -> Path:
    """Write ``data`` as one Parquet file into ``<lake>/<table>/<k=v>/…``; return its path."""
    folder = lake / table
    for key, value in partition.items():
        folder = folder / f"{key}={value}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"part-{uuid.uuid4().hex[:12]}.parquet")
    pq.write_table(data, path)
    return path


def read_3w_csv(path: Path, *, end: datetime | None = None) -> tuple[str, pa.Table]:
    """Read a real 3W 1.x CSV into a sensors table; return (well_id, table).

    ``ts`` is the source time shifted so the last reading falls at ``end``
    (default now, as replay injects current time); ``source_ts`` keeps the
    file's time. Empty cells become nulls; rows keep file order.
    """
    end = end or datetime.now(UTC)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    source = [
        datetime.fromisoformat(r[0]).replace(tzinfo=UTC) for r in rows
    ]  # 'YYYY-MM-DD HH:MM:SS.ffffff'
    shift = end - max(source)
    data: dict[str, Any] = {
        "instance_id": pa.array([path.stem] * len(rows), pa.string()),
        "ts": pa.array([s + shift for s in source], TS),
        "source_ts": pa.array(source, TS),
    }
    label_index = header.index("class")
    for i, tag in enumerate(header):
        if i == 0 or i == label_index:
            continue
        values = [float(r[i]) if r[i] != "" else None for r in rows]
        data[to_column(tag)] = pa.array(values, pa.float64())
    labels = [int(float(r[label_index])) if r[label_index] != "" else None for r in rows]
    data["event_class"] = pa.array(labels, pa.int32())
    data["event_type"] = pa.array([event_type(x) for x in labels], pa.string())
    data["state"] = pa.array([None] * len(rows), pa.int32())
    well_id = path.stem.split("_", 1)[0]
    return well_id, pa.table(data)


def write_by_partition(lake: Path, well_id: str, data: pa.Table) -> list[Path]:
    """Write a sensors table into one file per ``dt`` partition of its ``ts`` (UTC)."""
    import pyarrow.compute as pc

    days = pc.strftime(data["ts"], format="%Y-%m-%d")
    written = []
    for day in sorted(set(days.to_pylist())):
        part = data.filter(pc.equal(days, day))
        written.append(write_lake_file(lake, "sensors", {"dt": day, "well_id": well_id}, part))
    return written
