"""Helpers for lake tests: canned readings, filling a stream, reading the Iceberg tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from petrostream.record import encode, format_ts

if TYPE_CHECKING:
    import pyarrow as pa

    from petrostream.stream.base import Stream

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def reading(
    i: int,
    *,
    well_id: str = "WELL-00001",
    instance_id: str = "WELL-00001_20240501120000",
    ts: datetime | None = None,
    version: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """A plausible reading number ``i`` (1 Hz from `START`); ``version`` 2 adds 2.x sensors."""
    moment = ts or START + timedelta(seconds=i)
    out: dict[str, Any] = {
        "well_id": well_id,
        "instance_id": instance_id,
        "ts": format_ts(moment),
        "source_ts": format_ts(START - timedelta(days=3000) + timedelta(seconds=i)),
        "p_pdg": 2.5e7 + i,
        "p_tpt": 1.2e7 + i,
        "t_tpt": 90.0 + (i % 7) / 10,
        "p_mon_ckp": 5.0e6 + i,
        "t_jus_ckp": 40.0,
        "event_class": 0,
        "event_type": "NORMAL",
    }
    if version == 2:
        out.update({"p_anular": 1.0e6 + i, "t_pdg": 110.0, "aber_ckp": 55.5, "state": 1})
    out.update(extra)
    return out


def put_all(stream: Stream, payloads: Iterable[tuple[str, bytes]], batch: int = 500) -> int:
    """Put ``(partition_key, data)`` pairs, retrying refused records; return how many."""
    from petrostream.stream.base import PutRecord

    pending = [PutRecord(key, data) for key, data in payloads]
    total = len(pending)
    for start in range(0, total, batch):
        chunk = pending[start : start + batch]
        while chunk:
            results = stream.put_records(chunk)
            chunk = [rec for rec, res in zip(chunk, results, strict=True) if not res.ok]
    return total


def put_readings(stream: Stream, readings: Sequence[dict[str, Any]]) -> int:
    """Encode and put ``readings`` keyed by well; return how many."""
    return put_all(stream, ((r["well_id"], encode(r)) for r in readings))


def read_table(catalog: Any, name: str = "sensors") -> pa.Table:
    """Every row of lake table ``name`` in its current snapshot, read through pyiceberg."""
    from petrostream.lake.tables import DEFS

    return catalog.load_table(DEFS[name].identifier).scan().to_arrow()


def table_files(catalog: Any, name: str = "sensors") -> list[str]:
    """Local paths of the data files of table ``name``'s current snapshot (none if no table)."""
    from petrostream.lake.tables import DEFS, data_files

    if not catalog.table_exists(DEFS[name].identifier):
        return []
    paths = data_files(catalog.load_table(DEFS[name].identifier))
    return [p.removeprefix("file://") for p in paths]


def duckdb_count(files: Sequence[str], what: str = "count(*)") -> Any:
    """``SELECT <what>`` over Parquet files read as DuckDB does (hive partitions, union by name)."""
    import duckdb

    with duckdb.connect() as con:
        row = con.execute(
            f"SELECT {what} FROM read_parquet(?, hive_partitioning = true, union_by_name = true)",
            [list(files)],
        ).fetchone()
    return row[0] if row and len(row) == 1 else row
