"""Read 3W 2.x Parquet instances in bounded memory.

3W 2.x files are written by pandas (brotli): the timestamp is the frame's
index, stored as a ``timestamp`` column; ``class`` and ``state`` are pandas
``Int64`` (nullable); the 27 variables are floats. Row groups are streamed with
``ParquetFile.iter_batches``; the checks are the CSV reader's, vectorized.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from petrostream.dataset.base import Instance, ReadingBatch, Reject
from petrostream.dataset.columns import (
    TIMESTAMP_TAG,
    Layout,
    assemble,
    bad_label_mask,
    bad_state_mask,
    layout_of,
)
from petrostream.errors import DatasetError


def read_parquet_instance(instance: Instance, *, batch_rows: int) -> Iterator[ReadingBatch]:
    """Stream a 3W Parquet file as reading batches of at most ``batch_rows`` rows.

    Raises:
        DatasetError: the file is not Parquet, cannot be read, has no timestamp, or a
            column cannot be read as a number.
    """
    where = str(instance.path)
    try:
        parquet = pq.ParquetFile(instance.path)
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"{where}: not a readable Parquet file ({exc})") from None
    with parquet:
        arrow_schema = parquet.schema_arrow
        timestamp_tag = timestamp_column(arrow_schema, parquet)
        counters = _pandas_row_counters(parquet) - {timestamp_tag}
        tags = [name for name in arrow_schema.names if name not in counters]
        layout = layout_of(tags, where=where, timestamp_tag=timestamp_tag)
        _check_types(layout, arrow_schema, timestamp_tag, where)
        row = 0
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(tags)):
                yield _convert(instance, layout, timestamp_tag, batch, row)
                row += batch.num_rows
        except (OSError, pa.ArrowException) as exc:
            raise DatasetError(f"{where}: cannot read row {row} onwards ({exc})") from None


def _pandas_metadata(parquet: pq.ParquetFile) -> dict[str, object]:
    metadata = parquet.schema_arrow.metadata or {}
    try:
        loaded = json.loads(metadata.get(b"pandas", b"{}"))
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _pandas_row_counters(parquet: pq.ParquetFile) -> set[str]:
    """Unnamed pandas index columns (row counters unless they hold the timestamps)."""
    return {c for c in _index_columns(parquet) if c.startswith("__index_level_")}


def _index_columns(parquet: pq.ParquetFile) -> list[str]:
    """Names of the stored pandas index columns (a RangeIndex is stored as metadata only)."""
    index = _pandas_metadata(parquet).get("index_columns", [])
    return [c for c in index if isinstance(c, str)] if isinstance(index, list) else []


def timestamp_column(arrow_schema: pa.Schema, parquet: pq.ParquetFile) -> str:
    """``timestamp``, or the stored pandas index when it holds timestamps under another name."""
    if TIMESTAMP_TAG in arrow_schema.names:
        return TIMESTAMP_TAG
    for name in _index_columns(parquet):
        if name in arrow_schema.names and pa.types.is_timestamp(arrow_schema.field(name).type):
            return name
    return TIMESTAMP_TAG  # layout_of says it is missing


def _check_types(layout: Layout, arrow_schema: pa.Schema, timestamp_tag: str, where: str) -> None:
    stamp_type = arrow_schema.field(timestamp_tag).type
    if not pa.types.is_timestamp(stamp_type):
        raise DatasetError(f"{where}: column {timestamp_tag!r} is {stamp_type}, not a timestamp")
    for tag in layout.tags:
        if tag == timestamp_tag:
            continue
        kind = arrow_schema.field(tag).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)):
            if pa.types.is_boolean(kind):
                continue
            raise DatasetError(
                f"{where}: column {tag!r} is {kind}, not a number; 3W values are numeric"
            )


def _convert(
    instance: Instance, layout: Layout, timestamp_tag: str, batch: pa.RecordBatch, first_row: int
) -> ReadingBatch:
    columns = {tag: batch.column(tag) for tag in layout.tags}
    for tag, values in columns.items():
        if tag == timestamp_tag:
            continue
        if not pa.types.is_floating(values.type):
            values = values.cast(pa.float64())
        elif pc.any(pc.is_nan(values)).as_py():
            # NaN means "no value" in pandas; CSV readers read `nan` as null too.
            values = pc.if_else(pc.is_nan(values), pa.scalar(None, values.type), values)
        columns[tag] = values
    bad = pc.is_null(columns[timestamp_tag])
    infinite = _infinite(columns, timestamp_tag)
    if infinite is not None:
        bad = pc.or_(bad, infinite)
    if layout.label:
        bad = pc.or_(bad, bad_label_mask(columns[layout.label]))
    if layout.state:
        bad = pc.or_(bad, bad_state_mask(columns[layout.state]))
    rejects: list[Reject] = []
    if pc.any(bad).as_py():
        for index in pc.indices_nonzero(bad).to_pylist():
            rejects.append(_reject(instance, layout, timestamp_tag, batch, index, first_row))
        keep = pc.invert(bad)
        columns = {tag: pc.filter(values, keep) for tag, values in columns.items()}
    length = len(columns[timestamp_tag])
    table = assemble(layout, columns[timestamp_tag], columns, length)
    return ReadingBatch(instance, table, first_row, rejects)


def _reject(
    instance: Instance,
    layout: Layout,
    timestamp_tag: str,
    batch: pa.RecordBatch,
    index: int,
    first_row: int,
) -> Reject:
    row = {tag: batch.column(tag)[index].as_py() for tag in layout.tags}
    raw = ",".join(f"{tag}={row[tag]}" for tag in layout.tags)
    if row[timestamp_tag] is None:
        reason = "bad_timestamp: no timestamp"
    elif infinite := [t for t in layout.tags if isinstance(row[t], float) and math.isinf(row[t])]:
        reason = f"bad_number: {infinite[0]} = {row[infinite[0]]} is not a finite number"
    elif layout.label and _bad(bad_label_mask, batch.column(layout.label), index):
        reason = f"unknown_label: {row[layout.label]} is not a 3W label (0-9 or 101-109)"
    else:
        reason = f"bad_state: {row[layout.state or '']} is not a whole number"
    return Reject(str(instance.path), first_row + index, reason, raw)


def _infinite(columns: dict[str, pa.Array], timestamp_tag: str) -> pa.Array | None:
    """True where a value is +-inf (no reading: a reject, never a silent NULL), or None."""
    mask = None
    for tag, values in columns.items():
        if tag != timestamp_tag and pc.any(pc.is_inf(values)).as_py():
            inf = pc.fill_null(pc.is_inf(values), False)
            mask = inf if mask is None else pc.or_(mask, inf)
    return mask


def _bad(mask: Callable[[pa.Array], pa.Array], values: pa.Array, index: int) -> bool:
    return bool(mask(values.slice(index, 1))[0].as_py())
