"""How long an instance lasts, from its first and last readings, without reading it all.

The replay lays out a fleet's instances on one timeline before it reads them
(instances of one well one after the other, the whole span placed to end when
the replay does), so it needs each file's span up front: a CSV file's first and
last parseable rows (a few kilobytes read at each end), a Parquet file's
timestamp column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from petrostream.dataset.base import Instance

_EDGE_BYTES: Final = 1 << 16
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


@dataclass(frozen=True)
class TimeSpan:
    """An instance's first and last source timestamps, epoch milliseconds (UTC)."""

    first_ms: int
    last_ms: int

    @property
    def length_ms(self) -> int:
        """Milliseconds from the first reading to the last (0 if the file goes backwards)."""
        return max(0, self.last_ms - self.first_ms)


def time_span(instance: Instance) -> TimeSpan | None:
    """The first and last timestamps of ``instance``, or None when they cannot be told.

    Never raises for a bad file: the reader reports what is wrong with it.
    """
    try:
        if instance.format == "csv":
            return _csv_span(instance)
        if instance.format == "parquet":
            return _parquet_span(instance)
    except (OSError, ValueError, csv.Error):
        return None
    except Exception:  # noqa: BLE001 - pyarrow raises its own family; the reader reports it
        return None
    return None


def _csv_span(instance: Instance) -> TimeSpan | None:
    with instance.path.open("rb") as handle:
        head = handle.read(_EDGE_BYTES)
        size = handle.seek(0, 2)
        handle.seek(max(0, size - _EDGE_BYTES))
        tail = handle.read(_EDGE_BYTES)
    lines = head.replace(b"\r", b"\n").split(b"\n")
    header = next(csv.reader([lines[0].decode("utf-8-sig", errors="replace")]), [])
    tags = [t.strip() for t in header]
    if "timestamp" not in tags:
        return None
    column = tags.index("timestamp")
    first = _first_stamp(lines[1:], column)
    tail_lines = tail.replace(b"\r", b"\n").split(b"\n")
    if size > _EDGE_BYTES:
        tail_lines = tail_lines[1:]  # the first piece is probably a partial line
    last = _first_stamp(reversed(tail_lines), column)
    if first is None or last is None:
        return None
    return TimeSpan(first, last)


def _first_stamp(lines: Iterable[bytes], column: int) -> int | None:
    for line in lines:
        ms = _stamp(line, column)
        if ms is not None:
            return ms
    return None


def _stamp(line: bytes, column: int) -> int | None:
    fields = line.split(b",")
    if len(fields) <= column:
        return None
    try:
        value = datetime.fromisoformat(fields[column].decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return (value - _EPOCH) // _MS


def _parquet_span(instance: Instance) -> TimeSpan | None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from petrostream.dataset.parquet_reader import timestamp_column

    with pq.ParquetFile(instance.path) as parquet:
        name = timestamp_column(parquet.schema_arrow, parquet)
        if name not in parquet.schema_arrow.names:
            return None
        stamps = parquet.read(columns=[name]).column(name)
    if not pa.types.is_timestamp(stamps.type) or len(stamps) == 0:
        return None
    millis = pc.cast(pc.cast(stamps, pa.timestamp("ms")), pa.int64()).drop_null()
    if len(millis) == 0:
        return None
    return TimeSpan(int(millis[0].as_py()), int(millis[-1].as_py()))
