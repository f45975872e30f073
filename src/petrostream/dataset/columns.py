"""Column mapping and row checks shared by the CSV and Parquet readers.

A 3W file's header is mapped to the canonical reading table once
(:class:`Layout`); the checks that decide whether a row is a reading or a
reject are vectorized here so both readers apply exactly the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from petrostream import schema
from petrostream.dataset.base import (
    LABEL_COLUMN,
    LABEL_TYPE,
    SENSOR_TYPE,
    STATE_COLUMN,
    TIMESTAMP_COLUMN,
    TIMESTAMP_TYPE,
)
from petrostream.errors import DatasetError

TIMESTAMP_TAG: Final = "timestamp"
LABEL_TAG: Final = "class"
STATE_TAG: Final = "state"

_LABEL_VALUES: Final = pa.array(sorted(schema.VALID_LABELS), pa.float64())


@dataclass(frozen=True)
class Layout:
    """How one file's columns map to the reading table.

    Attributes:
        tags: the file's column names, in file order.
        sensors: (tag, canonical column) of every sensor column, in file order.
        label: the tag of the label column, if the file has one.
        state: the tag of the state column, if the file has one.
    """

    tags: tuple[str, ...]
    sensors: tuple[tuple[str, str], ...]
    label: str | None
    state: str | None

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the reading table this file yields."""
        return reading_schema(column for _, column in self.sensors)


def reading_schema(sensor_columns: Iterable[str]) -> pa.Schema:
    """``source_ts``, the given sensor columns (float64), ``event_class``, ``state``."""
    columns = list(sensor_columns)
    return pa.schema(
        [pa.field(TIMESTAMP_COLUMN, TIMESTAMP_TYPE, nullable=False)]
        + [pa.field(c, SENSOR_TYPE) for c in columns]
        + [pa.field(LABEL_COLUMN, LABEL_TYPE), pa.field(STATE_COLUMN, LABEL_TYPE)]
    )


def layout_of(tags: Sequence[str], *, where: str, timestamp_tag: str = TIMESTAMP_TAG) -> Layout:
    """Map a file's column names to the reading table.

    Every column other than the timestamp, ``class`` and ``state`` is a sensor,
    named with :func:`schema.to_column` (unknown tags are kept, never dropped).

    Raises:
        DatasetError: no timestamp column, an unnamed column, or two columns with one name.
    """
    if timestamp_tag not in tags:
        raise DatasetError(
            f"{where}: not a 3W file: no {timestamp_tag!r} column (columns: {', '.join(tags)})"
        )
    sensors: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    reserved = {TIMESTAMP_COLUMN, LABEL_COLUMN, STATE_COLUMN}
    for tag in tags:
        if tag in (timestamp_tag, LABEL_TAG, STATE_TAG):
            continue
        try:
            column = schema.to_column(tag)
        except ValueError:
            raise DatasetError(f"{where}: column with no usable name {tag!r}") from None
        if column in seen or column in reserved:
            other = seen.get(column, column)
            raise DatasetError(f"{where}: columns {other!r} and {tag!r} both map to {column!r}")
        seen[column] = tag
        sensors.append((tag, column))
    duplicates = sorted({t for t in tags if tags.count(t) > 1})
    if duplicates:
        raise DatasetError(f"{where}: duplicate columns {', '.join(duplicates)}")
    return Layout(
        tags=tuple(tags),
        sensors=tuple(sensors),
        label=LABEL_TAG if LABEL_TAG in tags else None,
        state=STATE_TAG if STATE_TAG in tags else None,
    )


def bad_label_mask(labels: pa.Array) -> pa.Array:
    """True where a label is present but not a 3W label (0-9, 101-109)."""
    floats = labels.cast(pa.float64())
    return pc.and_(pc.is_valid(floats), pc.invert(pc.is_in(floats, value_set=_LABEL_VALUES)))


def bad_state_mask(states: pa.Array) -> pa.Array:
    """True where a state is present but not a finite whole number."""
    floats = states.cast(pa.float64())
    whole = pc.and_(pc.is_finite(floats), pc.equal(pc.floor(floats), floats))
    return pc.and_(pc.is_valid(floats), pc.invert(whole))


def to_timestamps(values: pa.Array) -> pa.Array:
    """Any Arrow timestamp -> timestamp(ms, UTC); zone-less values are taken as UTC.

    Sub-millisecond digits are truncated (3W rows are whole seconds).
    """
    # Same instants either way: Arrow stores UTC, the zone is metadata.
    values = values.cast(pa.timestamp(values.type.unit, tz="UTC"))
    return values.cast(TIMESTAMP_TYPE, safe=False)


def assemble(
    layout: Layout,
    timestamps: pa.Array,
    columns: Mapping[str, pa.Array],
    length: int,
) -> pa.Table:
    """Build the reading table from already-checked arrays keyed by file tag."""
    arrays: list[pa.Array] = [to_timestamps(timestamps)]
    arrays += [columns[tag].cast(SENSOR_TYPE) for tag, _ in layout.sensors]
    for tag in (layout.label, layout.state):
        if tag is None:
            arrays.append(pa.nulls(length, LABEL_TYPE))
        else:
            arrays.append(columns[tag].cast(pa.float64()).cast(LABEL_TYPE))
    return pa.Table.from_arrays(arrays, schema=layout.schema)


def label_problem(value: float | None) -> str | None:
    """Why a parsed label is not a 3W label, or None when it is fine (or absent)."""
    if value is None:
        return None
    if not math.isfinite(value) or not value.is_integer() or int(value) not in schema.VALID_LABELS:
        return f"unknown_label: {value:g} is not a 3W label (0-9 or 101-109)"
    return None


def state_problem(value: float | None) -> str | None:
    """Why a parsed state is not a whole number, or None when it is fine (or absent)."""
    if value is None:
        return None
    if not math.isfinite(value) or not value.is_integer():
        return f"bad_state: {value:g} is not a whole number"
    return None
