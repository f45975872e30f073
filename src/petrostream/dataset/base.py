"""What a 3W reader yields: instances, batches of readings, and rejected rows.

An *instance* is one 3W file (one event of one well). Readers stream an
instance as :class:`ReadingBatch` objects whose Arrow table has a fixed shape
(``source_ts``, the canonical sensor columns, ``event_class``, ``state``), so the
producer never cares whether the file was CSV 1.x or Parquet 2.x.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pyarrow as pa

from petrostream.errors import DatasetError
from petrostream.schema import is_synthetic_well

SUFFIXES: Final[dict[str, str]] = {".csv": "csv", ".parquet": "parquet"}
"""File suffix -> instance format."""

TIMESTAMP_TYPE: Final = pa.timestamp("ms", tz="UTC")
LABEL_TYPE: Final = pa.int32()
SENSOR_TYPE: Final = pa.float64()

TIMESTAMP_COLUMN: Final = "source_ts"
LABEL_COLUMN: Final = "event_class"
STATE_COLUMN: Final = "state"

# `WELL-00011_20140530100015`, `SIMULATED_00042`, `DRAWN_00003`.
_REAL_STEM: Final = re.compile(r"^(?P<well>WELL-\d{5})(?:_(?P<start>\d{14}))?$")
_OTHER_STEM: Final = re.compile(r"^(?P<kind>SIMULATED|DRAWN)(?:_.*)?$")


@dataclass(frozen=True)
class Instance:
    """One 3W file and what its path says about it.

    Attributes:
        path: the file.
        instance_id: the file stem (``WELL-00011_20140530100015``, ``SIMULATED_00042``).
        well_id: ``WELL-00011``; ``SIMULATED`` / ``DRAWN`` for non-real instances.
        source: ``real``, ``simulated`` or ``drawn`` (3W's kinds), or ``synthetic``
            (PetroStream's own wells, WELL-90001 and up).
        start: the start time written in the file name (aware UTC), if any.
        class_folder: the 3W class folder (0-9) the file sits in, if any.
        format: ``csv`` or ``parquet``.
    """

    path: Path
    instance_id: str
    well_id: str
    source: str
    start: datetime | None
    class_folder: int | None
    format: str


@dataclass(frozen=True)
class Reject:
    """A row that could not be read; kept for the dead-letter table, never dropped silently.

    Attributes:
        file: the file the row comes from.
        line: its line number (CSV, 1 = header) or row index (Parquet, 0-based).
        reason: ``<code>: <detail>``; codes are ``bad_number``, ``wrong_column_count``,
            ``bad_timestamp``, ``unknown_label`` and ``bad_state``.
        raw: the offending text (CSV line) or row (Parquet, as ``column=value`` pairs);
            bytes that are not UTF-8 show as U+FFFD here.
        raw_bytes: the line's original bytes when they are not valid UTF-8 (else None),
            so a dead-letter file can keep them losslessly.
    """

    file: str
    line: int | None
    reason: str
    raw: str
    raw_bytes: bytes | None = None

    @property
    def code(self) -> str:
        """The reason's code, ``bad_number`` in ``bad_number: P-PDG = 'x' ...``."""
        return self.reason.split(":", 1)[0].strip()


@dataclass
class ReadingBatch:
    """A slice of an instance's rows, in file order.

    Attributes:
        instance: the instance read.
        table: ``source_ts`` timestamp(ms, UTC) non-null; one float64 column per sensor in
            the file (canonical names, file order, unknown tags kept); ``event_class``
            int32 nullable; ``state`` int32 nullable (all null when the file has none).
        first_line: source line (CSV, 1 = header) or row index (Parquet, 0-based) of the
            table's first row.
        rejects: bad rows met while reading this slice.
    """

    instance: Instance
    table: pa.Table
    first_line: int
    rejects: list[Reject]


def instance_of(path: Path) -> Instance:
    """Describe a 3W file from its path alone (the file is not opened).

    Raises:
        DatasetError: the file type is not CSV or Parquet.
    """
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DatasetError(
            f"{path}: not a 3W file (expected .csv or .parquet, got {path.suffix or 'no suffix'!r})"
        )
    stem = path.stem
    well_id, source, start = stem, "real", None
    if real := _REAL_STEM.match(stem):
        well_id = real["well"]
        if is_synthetic_well(well_id):  # `dataset synth` and the demo number theirs from 90001
            source = "synthetic"
        if real["start"]:
            start = _parse_stamp(real["start"])
    elif other := _OTHER_STEM.match(stem):
        well_id = other["kind"]
        source = other["kind"].lower()
    folder = path.parent.name
    class_folder = int(folder) if folder.isdigit() and len(folder) == 1 else None
    return Instance(path, stem, well_id, source, start, class_folder, fmt)


def _parse_stamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
