"""Bulk decoding of stream records into Arrow, with a per-record fallback for rejects.

The fast path hands the concatenated record bytes of a chunk to
`pyarrow.json.read_json` with the canonical schema made explicit (unknown fields
are inferred: new sensor columns), then checks the whole chunk with vectorized
compute (required fields, timestamp format, finite numbers, safe partition
values, valid column names). Only a chunk that fails is decoded again record by
record with `petrostream.record.decode` — the one validator, which the real-time
consumer applies too — to find its rejects; its good records take the fast path
again. The vectorized checks are a fast "all good" test only: any doubt sends the
chunk to the record validator, so the rules and reasons are `petrostream.record`'s.

A KPL aggregated record (`petrostream.aggregate`) is first expanded into its
readings; each is decoded as above, and a reject keeps the aggregate's position.

A type conflict is never cast away: a string where a double is expected makes
the record a reject (``wrong_type``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final

from petrostream import schema
from petrostream.aggregate import MAGIC, deaggregate
from petrostream.errors import InvalidRecord
from petrostream.record import (
    COLUMN_NAME,
    MAX_RECORD_BYTES,
    MAX_YEAR,
    MIN_YEAR,
    RESERVED,
    WELL_ID_SAFE,
    ColumnBudget,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from petrostream.stream.base import StreamRecord

CHUNK_RECORDS: Final = 20_000
TS_PATTERN: Final = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$"
_TS_COLUMNS: Final = ("ts", "source_ts")
_SENSORS: Final = frozenset(schema.SENSOR_COLUMNS)
_KNOWN: Final = frozenset(schema.RECORD_COLUMNS) | {"dt"}
# Where a record came from: (shard_id, sequence_number, arrival), for its reject row.
Origin = tuple[str, str, datetime]
OriginFn = Callable[[int], Origin]


@dataclass(frozen=True, slots=True)
class Reject:
    """A record the lake cannot store, kept with its reason and stream position."""

    reason: str
    detail: str
    data: bytes
    shard_id: str
    sequence_number: str
    arrival: datetime


@dataclass(slots=True)
class DecodedBatch:
    """Decoded readings and rejects of a batch of records.

    ``table`` has the key and label columns (``ts``/``source_ts`` as timestamp[ms, UTC],
    ``well_id`` and ``dt`` strings), the canonical sensors some record carries (a sensor
    absent from every record of a chunk may be left out, or be all null), plus any new
    numeric columns as double, one row per good record in stream order; None if none.
    """

    table: pa.Table | None
    rejects: list[Reject]


class _ChunkInvalid(Exception):
    """A chunk failed a vectorized check; the reason applies to some record of it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _arrow_type(logical: str) -> pa.DataType:
    import pyarrow as pa

    return {
        "string": pa.string(),
        "double": pa.float64(),
        "int": pa.int32(),
        # Parsed as text, checked against the record format, then cast.
        "timestamp": pa.string(),
    }[logical]


def parse_schema() -> pa.Schema:
    """The explicit schema the bulk JSON parse uses (canonical record columns)."""
    import pyarrow as pa

    return pa.schema(
        [pa.field(c, _arrow_type(schema.COLUMN_TYPES[c])) for c in schema.RECORD_COLUMNS]
    )


def decode_records(
    records: Sequence[StreamRecord],
    *,
    chunk: int = CHUNK_RECORDS,
    budget: ColumnBudget | None = None,
) -> DecodedBatch:
    """Decode ``records`` into one Arrow table plus rejects; never raises for bad data."""
    return decode_data(
        [r.data for r in records],
        lambda i: (records[i].shard_id, records[i].sequence_number, records[i].arrival),
        chunk=chunk,
        budget=budget,
    )


def decode_data(
    datas: Sequence[bytes],
    origin: OriginFn,
    *,
    chunk: int = CHUNK_RECORDS,
    budget: ColumnBudget | None = None,
) -> DecodedBatch:
    """Decode record payloads into one Arrow table plus rejects; never raises for bad data.

    ``origin(i)`` gives ``(shard_id, sequence_number, arrival)`` of ``datas[i]``; it is
    called only for the records that become rejects (a stream page need not build a
    record object per record). ``budget`` caps the new columns admitted (a writer
    keeps one across batches, seeded with its table's columns); without one, the
    cap applies to this call.
    """
    budget = budget if budget is not None else ColumnBudget()
    tables = []
    rejects: list[Reject] = []
    if any(map(bytes.startswith, datas, repeat(MAGIC))):
        datas, origin = _expand(datas, origin, rejects)
    for start in range(0, len(datas), chunk):
        part = datas[start : start + chunk]
        try:
            tables.append(_bulk(part, budget))
        except (_ChunkInvalid, ValueError, TypeError):  # pyarrow.ArrowInvalid is a ValueError
            good, bad = _one_by_one(part, _shifted(origin, start), budget)
            rejects.extend(bad)
            if good:
                tables.append(good)
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return DecodedBatch(None, rejects)
    return DecodedBatch(concat_tables(tables), rejects)


def _expand(
    datas: Sequence[bytes], origin: OriginFn, rejects: list[Reject]
) -> tuple[list[bytes], OriginFn]:
    """Replace each KPL aggregate by its readings (each with the aggregate's origin).

    A broken aggregate is one reject (``bad_aggregate``); see `petrostream.aggregate`.
    """
    out: list[bytes] = []
    parents: list[int] = []
    for i, data in enumerate(datas):
        try:
            inner = deaggregate(data)
        except InvalidRecord as exc:
            rejects.append(_reject(data, origin(i), exc.reason, exc.detail))
            continue
        out.extend(inner)
        parents.extend([i] * len(inner))
    return out, lambda j: origin(parents[j])


def bulk_table(datas: Sequence[bytes], budget: ColumnBudget) -> pa.Table | None:
    """The decoded table of ``datas`` if `petrostream.record.decode` would accept every record.

    The vectorized "all good" test of the bulk decode, for the real-time consumer
    (`petrostream.handlers.columnar`): any doubt (None) sends the batch to the
    record validator, which finds the dead letters and their reasons. Admits the
    batch's new columns into ``budget``. A KPL aggregate is a doubt (not ``{``).
    """
    table = bulk_parse(datas)
    if table is None or not admit_new_columns(table, budget):
        return None
    return table


def bulk_parse(datas: Sequence[bytes]) -> pa.Table | None:
    """`bulk_table` before the column budget: the parse and every check but the new-column cap.

    It reads no shared state, so a reader may parse a page ahead in another thread
    (`petrostream.handlers.columnar.AheadDecoder`) and the consumer admit its new
    columns (`admit_new_columns`) in stream order when it handles the page.
    """
    if not datas or max(map(len, datas)) > MAX_RECORD_BYTES:
        return None
    try:
        return _parse_valid(datas)
    except (_ChunkInvalid, ValueError, TypeError):  # pyarrow.ArrowInvalid is a ValueError
        return None


def admit_new_columns(table: pa.Table, budget: ColumnBudget) -> bool:
    """Admit a `bulk_parse` table's new columns into ``budget``; False if the cap refuses them."""
    try:
        _admit(table, budget)
    except _ChunkInvalid:
        return False
    return True


def _shifted(origin: OriginFn, offset: int) -> OriginFn:
    return lambda i: origin(offset + i)


def concat_tables(tables: list[pa.Table]) -> pa.Table:
    """One table of decoded ``tables`` (columns: the union; a missing one is null)."""
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="default")


def _bulk(datas: Sequence[bytes], budget: ColumnBudget) -> pa.Table:
    """Parse records that are all expected valid; raise if any is not."""
    table = _parse_valid(datas)
    _admit(table, budget)
    return table


def _parse_valid(datas: Sequence[bytes]) -> pa.Table:
    """Parse and check records that are all expected valid (no budget); raise if any is not."""
    if not datas:
        raise _ChunkInvalid("empty", "no records")
    # Alignment of rows with records: no record may hold a newline, and every record
    # must start with "{" (so none parses to zero rows) -- then n rows means one each.
    if not all(map(bytes.startswith, datas, repeat(b"{"))):
        raise _ChunkInvalid("bad_json", "a record is not a JSON object")
    joined = b"\n".join(datas)
    if joined.count(b"\n") != len(datas) - 1:
        raise _ChunkInvalid("bad_json", "a record holds a newline")
    try:
        table = _parse_inferred(joined)
    except (_ChunkInvalid, ValueError, TypeError):
        table = _parse_explicit(joined)
    if table.num_rows != len(datas):
        raise _ChunkInvalid("bad_json", "a record is not one JSON object")
    return _validate(table)


def _admit(table: pa.Table, budget: ColumnBudget) -> None:
    """Admit a checked table's new columns into ``budget``; raise past its caps."""
    new = {n: None for n in table.column_names if n not in _KNOWN}
    if len(new) > budget.max_fields:  # some record may carry too many: the validator decides
        raise _ChunkInvalid("too_many_fields", f"{len(new)} new fields in the chunk")
    try:
        budget.admit(new)
    except InvalidRecord as exc:  # past the cap: the validator finds which records
        raise _ChunkInvalid(exc.reason, exc.detail) from None


def _read_options(size: int) -> Any:
    import pyarrow.json as pj

    # One block, no threads: the lake writer parses pages in threads of its own, and
    # Arrow's threads inside one parse cost ~20 % more CPU (benchmarks/RESULTS.md).
    return pj.ReadOptions(block_size=max(1 << 20, size + 1), use_threads=False)


def _parse_explicit(joined: bytes) -> pa.Table:
    """Parse with the canonical schema made explicit (unknown fields inferred)."""
    import pyarrow as pa
    import pyarrow.json as pj

    return pj.read_json(
        pa.BufferReader(joined),
        read_options=_read_options(len(joined)),
        parse_options=pj.ParseOptions(
            explicit_schema=parse_schema(), unexpected_field_behavior="infer"
        ),
    )


def _parse_inferred(joined: bytes) -> pa.Table:
    """Parse with every type inferred, then conform it to what `_parse_explicit` gives.

    Inference is about twice as fast as an explicit schema in pyarrow's JSON reader
    (measured: benchmarks/RESULTS.md). It accepts a chunk only when each inferred type
    is exactly one the explicit parse would give the same values for (a string for a
    string column, a number or all-null for a sensor, an integer for a label, a number
    for a new field); anything else raises, and the caller parses the chunk again with
    the explicit schema, so the outcome (values, errors, rejects) is the same.
    """
    import pyarrow as pa
    import pyarrow.json as pj

    table = pj.read_json(pa.BufferReader(joined), read_options=_read_options(len(joined)))
    n = table.num_rows
    expected = parse_schema()
    columns: dict[str, Any] = {}
    present = set(table.column_names)
    for field in expected:
        if field.name not in present:
            if field.name not in _SENSORS:  # keys and labels: always a column
                columns[field.name] = pa.nulls(n, field.type)
            continue
        column = table.column(field.name)
        have = column.type
        if have == field.type or pa.types.is_null(have):
            pass
        elif pa.types.is_floating(field.type) and pa.types.is_int64(have):
            pass  # all integers in this chunk: exact as double below 2**53 (checked cast)
        elif pa.types.is_integer(field.type) and pa.types.is_int64(have):
            pass  # checked cast: out of range raises
        else:
            raise _ChunkInvalid("wrong_type", f"{field.name} inferred as {have}")
        columns[field.name] = column if have == field.type else column.cast(field.type)
    for name in table.column_names:
        if name not in columns:
            columns[name] = table.column(name)  # a new field: `_validate` checks it
    return pa.table(columns)


def _validate(table: pa.Table) -> pa.Table:
    """Check a parsed chunk against the record rules; return it in lake types, plus ``dt``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for key in ("well_id", "ts"):
        if table.column(key).null_count:
            raise _ChunkInvalid("missing_field", f"required field {key!r} is missing")
    for key in _TS_COLUMNS:
        column = table.column(key)
        if (
            column.null_count < len(column)
            and not pc.all(pc.match_substring_regex(column, TS_PATTERN)).as_py()
        ):
            raise _ChunkInvalid("bad_timestamp", f"{key} is not 'YYYY-MM-DD HH:MM:SS.mmm'")
    if not pc.all(pc.match_substring_regex(table.column("well_id"), WELL_ID_SAFE)).as_py():
        raise _ChunkInvalid("bad_well_id", "well_id cannot name a partition folder")
    columns: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if name in schema.COLUMN_TYPES and name not in RESERVED:
            if name in _TS_COLUMNS:
                try:
                    column = column.cast(pa.timestamp("ms")).cast(pa.timestamp("ms", tz="UTC"))
                except (ValueError, TypeError) as exc:  # a date the calendar has not
                    raise _ChunkInvalid("bad_timestamp", f"{name}: {exc}") from None
                _check_years(name, column)
            columns[name] = column
            continue
        if name in RESERVED or not COLUMN_NAME.fullmatch(name):
            raise _ChunkInvalid("bad_column", f"field {name!r} cannot be a lake column")
        if pa.types.is_null(column.type):
            continue  # a new field that is null everywhere here: absent
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise _ChunkInvalid("wrong_type", f"{name} is not a number")
        columns[name] = column.cast(pa.float64())
    for name, column in columns.items():
        if (
            pa.types.is_floating(column.type)
            and column.null_count < len(column)
            and not pc.all(pc.is_finite(column)).as_py()
        ):
            raise _ChunkInvalid("wrong_type", f"{name} is not a finite number")
    columns["dt"] = pc.utf8_slice_codeunits(table.column("ts"), 0, 10)
    return pa.table(columns)


def _check_years(name: str, column: Any) -> None:
    """Raise unless every timestamp of ``column`` is in the record's year range."""
    import pyarrow.compute as pc

    if column.null_count == len(column):
        return
    bounds = pc.min_max(pc.year(column)).as_py()
    if bounds["min"] < MIN_YEAR or bounds["max"] > MAX_YEAR:
        raise _ChunkInvalid("bad_timestamp", f"{name} outside the years {MIN_YEAR}-{MAX_YEAR}")


def _one_by_one(
    datas: Sequence[bytes], origin: OriginFn, budget: ColumnBudget
) -> tuple[pa.Table | None, list[Reject]]:
    """Split a failed chunk into good records (decoded in bulk again) and rejects."""
    good: list[int] = []
    rejects: list[Reject] = []
    for i, data in enumerate(datas):
        try:
            budget.decode(data)
        except InvalidRecord as exc:
            rejects.append(_reject(data, origin(i), exc.reason, exc.detail))
        else:
            good.append(i)
    if not good:
        return None, rejects
    try:
        return _bulk([datas[i] for i in good], budget), rejects
    except (_ChunkInvalid, ValueError, TypeError):
        pass
    # Valid for the record codec yet not for Arrow (an int out of range, an impossible
    # date, a duplicated key): find each such record alone.
    tables = []
    for i in good:
        try:
            tables.append(_bulk([datas[i]], budget))
        except (_ChunkInvalid, InvalidRecord) as exc:
            rejects.append(_reject(datas[i], origin(i), exc.reason, exc.detail))
        except (ValueError, TypeError) as exc:
            rejects.append(_reject(datas[i], origin(i), "wrong_type", str(exc).splitlines()[0]))
    return (concat_tables(tables) if tables else None), rejects


def _reject(data: bytes, where: Origin, reason: str, detail: str) -> Reject:
    shard_id, sequence_number, arrival = where
    return Reject(reason, detail, data, shard_id, sequence_number, arrival)


def rejects_table(rejects: Sequence[Reject], consumer: str) -> pa.Table:
    """The ``rejects`` table rows of ``rejects`` (``dt`` = arrival date, the partition)."""
    import pyarrow as pa

    payloads, encodings = [], []
    for r in rejects:
        try:
            payloads.append(r.data.decode("utf-8"))
            encodings.append("utf-8")
        except UnicodeDecodeError:
            payloads.append(base64.b64encode(r.data).decode("ascii"))
            encodings.append("base64")
    arrivals = pa.array([r.arrival for r in rejects], pa.timestamp("ms", tz="UTC"))
    return pa.table(
        {
            "reason": pa.array([r.reason for r in rejects], pa.string()),
            "detail": pa.array([r.detail for r in rejects], pa.string()),
            "payload": pa.array(payloads, pa.string()),
            "payload_encoding": pa.array(encodings, pa.string()),
            "shard_id": pa.array([r.shard_id for r in rejects], pa.string()),
            "sequence_number": pa.array([r.sequence_number for r in rejects], pa.string()),
            "arrival": arrivals,
            "consumer": pa.array([consumer] * len(rejects), pa.string()),
            "dt": pa.array([r.arrival.astimezone(UTC).strftime("%Y-%m-%d") for r in rejects]),
        }
    )
