"""The stream record: one JSON object per reading, as DESIGN defines it.

This is the wire contract between the producer, the real-time consumer (the
Lambda handler) and the lake writer, and what Firehose's JSON->Parquet
conversion reads on AWS. Pure Python (the Lambda zip carries it).

Format: keys are canonical column names; timestamps are UTC strings
``YYYY-MM-DD HH:MM:SS.mmm``; a null sensor value is left out of the object
(readers treat an absent sensor as null); the partition key is ``well_id``.

This module is the one place that decides whether a record is valid: the
real-time consumer (`petrostream.handlers`) and the lake decoder
(`petrostream.lake.decode`) both apply `decode`/`validate`, so a record is a
dead letter in one exactly when it is a reject in the other, with the same reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Final

from petrostream import schema
from petrostream.errors import InvalidRecord

try:  # orjson is several times faster; the stdlib is the fallback (e.g. a lean Lambda zip)
    import orjson

    def _dumps(obj: Mapping[str, Any]) -> bytes:
        return orjson.dumps(obj)

    _loads: Callable[[bytes], Any] = orjson.loads
    _JSONDecodeError: tuple[type[Exception], ...] = (orjson.JSONDecodeError,)
except ImportError:  # pragma: no cover - exercised in the Lambda runtime

    def _dumps(obj: Mapping[str, Any]) -> bytes:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

    _loads = json.loads
    _JSONDecodeError = (json.JSONDecodeError, UnicodeDecodeError)

MAX_RECORD_BYTES: Final = 1024 * 1024  # Kinesis: a record's data blob is at most 1 MiB
TS_FORMAT: Final = "%Y-%m-%d %H:%M:%S.%f"
_TS_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")
# The same shape, with the clock's ranges (hours 00-23, minutes and seconds 00-59).
_TS_CHECK: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2} ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}"
)
_REQUIRED: Final = ("well_id", "ts")
_STRING_FIELDS: Final = frozenset({"well_id", "instance_id", "event_type"})
_INT_FIELDS: Final = frozenset({"event_class", "state"})
_TS_FIELDS: Final = frozenset({"ts", "source_ts"})
# A timestamp must be a real instant within these years: 0000 or 9999 parse as
# text but break time arithmetic downstream (fleet ages, series windows).
MIN_YEAR: Final = 1970
MAX_YEAR: Final = 2099
# A partition value becomes a folder name: no separators, no leading dot.
WELL_ID_SAFE: Final = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_WELL_ID_RE: Final = re.compile(WELL_ID_SAFE)
# A new field becomes a lake column: a name every SQL engine (Athena, Glue, DuckDB)
# accepts unquoted, as `petrostream.schema.to_column` makes them. No control characters.
COLUMN_NAME_PATTERN: Final = r"^[a-z][a-z0-9_]{0,62}$"
COLUMN_NAME: Final = re.compile(COLUMN_NAME_PATTERN)
RESERVED: Final = frozenset({"dt"})  # partition columns that are not record fields
# Unknown numeric fields one record may carry (each is a new sensor column).
MAX_NEW_FIELDS: Final = 32
# Distinct new columns one consumer admits beyond the canonical ones (schema evolution).
MAX_NEW_COLUMNS: Final = 256
KNOWN_FIELDS: Final = frozenset(schema.RECORD_COLUMNS)
_NUMBER, _TS, _STRING, _INT = 0, 1, 2, 3
_KINDS: Final[dict[str, int]] = {
    **{c: _NUMBER for c in schema.RECORD_COLUMNS},
    **{c: _TS for c in _TS_FIELDS},
    **{c: _STRING for c in _STRING_FIELDS},
    **{c: _INT for c in _INT_FIELDS},
}


def format_ts(value: datetime) -> str:
    """Format an aware datetime as the record's UTC string, to the millisecond."""
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return value.astimezone(UTC).strftime(TS_FORMAT)[:-3]


def parse_ts(text: str) -> datetime:
    """Parse a record timestamp (``YYYY-MM-DD HH:MM:SS.mmm``, UTC) into an aware datetime.

    Raises:
        ValueError: the text is not in that format.
    """
    if not _TS_RE.fullmatch(text):
        raise ValueError(f"timestamp {text!r} is not 'YYYY-MM-DD HH:MM:SS.mmm'")
    return datetime.strptime(text, TS_FORMAT).replace(tzinfo=UTC)


def encode(reading: Mapping[str, Any]) -> bytes:
    """Serialize one reading to the record's bytes; None values are left out."""
    return _dumps({k: v for k, v in reading.items() if v is not None})


def decode(data: bytes, *, max_new_fields: int = MAX_NEW_FIELDS) -> dict[str, Any]:
    """Parse and validate one record (`validate`); return it as a dict.

    Raises:
        InvalidRecord: with reason ``bad_json``, ``not_an_object``, ``too_large`` or
            any reason of `validate`; the detail says which field.
    """
    if len(data) > MAX_RECORD_BYTES:
        raise InvalidRecord("too_large", f"record is {len(data)} bytes, the limit is 1 MiB")
    try:
        obj = _loads(data)
    except _JSONDecodeError as exc:
        raise InvalidRecord("bad_json", f"payload is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        kind = type(obj).__name__
        raise InvalidRecord("not_an_object", f"payload is a JSON {kind}, not an object")
    validate(obj, max_new_fields=max_new_fields)
    return obj


def loads_valid(data: bytes) -> dict[str, Any]:
    """Parse a record already known valid (a batch `petrostream.lake.decode.all_valid` passed).

    What `decode` returns for it, without checking each field again.
    """
    obj: dict[str, Any] = _loads(data)
    return obj


def validate(obj: Mapping[str, Any], *, max_new_fields: int = MAX_NEW_FIELDS) -> None:
    """Check a parsed record against every record rule; raise on the first it breaks.

    A string ``well_id`` that can name a partition folder and a ``ts`` are required;
    timestamps are ``YYYY-MM-DD HH:MM:SS.mmm`` naming a real instant in years
    `MIN_YEAR`..`MAX_YEAR`; labels are integers; strings are strings; every other
    field is a finite number or null. Unknown numeric fields are kept (new sensor
    columns, schema evolution) when their name matches `COLUMN_NAME_PATTERN` and the
    record carries at most ``max_new_fields`` of them.

    Raises:
        InvalidRecord: reason ``missing_field``, ``bad_timestamp``, ``wrong_type``,
            ``bad_well_id``, ``bad_column`` or ``too_many_fields``.
    """
    for key in _REQUIRED:
        if obj.get(key) is None:
            raise InvalidRecord("missing_field", f"required field {key!r} is missing")
    new_fields = 0
    kinds = _KINDS
    # Exact type checks (JSON parsers give exact types; ``bool`` is not ``int`` here).
    # This loop runs once per field of every record the detector sees: keep it flat.
    for key, value in obj.items():
        kind = kinds.get(key)
        if kind is None:
            if key in RESERVED or not isinstance(key, str) or not COLUMN_NAME.fullmatch(key):
                raise InvalidRecord(
                    "bad_column",
                    f"field {key!r} cannot be a lake column "
                    f"(a name must match {COLUMN_NAME_PATTERN})",
                )
            new_fields += 1
            kind = _NUMBER
        if value is None:
            continue
        if kind == _NUMBER:
            t = type(value)
            if t is float:
                if value - value != 0.0:  # inf or nan
                    raise InvalidRecord("wrong_type", f"{key}={value!r} is not a finite number")
            elif t is not int:
                raise InvalidRecord("wrong_type", f"{key}={value!r} is not a finite number")
        elif kind == _TS:
            check_ts(key, value)
        elif kind == _STRING:
            if type(value) is not str:
                raise InvalidRecord("wrong_type", f"{key}={value!r} is not a string")
        elif type(value) is not int:
            raise InvalidRecord("wrong_type", f"{key}={value!r} is not an integer")
    if new_fields > max_new_fields:
        raise InvalidRecord(
            "too_many_fields",
            f"record has {new_fields} unknown fields, the limit is {max_new_fields}",
        )
    check_well_id(obj["well_id"])


def check_well_id(well_id: str) -> None:
    """Raise ``bad_well_id`` unless ``well_id`` can name a partition folder."""
    if not _WELL_ID_RE.fullmatch(well_id):
        raise InvalidRecord("bad_well_id", f"well_id={well_id!r} cannot name a folder")


def check_ts(key: str, value: Any) -> None:
    """Raise ``bad_timestamp`` unless ``value`` is a record timestamp of a real instant."""
    if type(value) is not str or not _TS_CHECK.fullmatch(value):
        if type(value) is str and _TS_RE.fullmatch(value):
            raise InvalidRecord("bad_timestamp", f"{key}={value!r} is not a real instant")
        raise InvalidRecord("bad_timestamp", f"{key}={value!r} is not 'YYYY-MM-DD HH:MM:SS.mmm'")
    ok = _days.get(value[:10])
    if ok is None:
        ok = _day_check(value[:10])
    if ok:
        raise InvalidRecord("bad_timestamp", f"{key}={value!r} {ok}")


_days: dict[str, str] = {}  # date text -> "" if valid, else why not (a bounded cache)


def _day_check(day: str) -> str:
    year = int(day[0:4])
    if not MIN_YEAR <= year <= MAX_YEAR:
        why = f"is outside the years {MIN_YEAR}-{MAX_YEAR}"
    else:
        try:
            date(year, int(day[5:7]), int(day[8:10]))
            why = ""
        except ValueError:
            why = "is not a real instant (no such date)"
    if len(_days) >= 4096:
        _days.clear()
    _days[day] = why
    return why


class ColumnBudget:
    """New columns one consumer admits beyond the canonical ones (`MAX_NEW_COLUMNS`).

    A record whose new fields would take the count past ``limit`` is refused with
    ``too_many_columns``; fields already admitted stay free. ``known`` seeds it with
    the new columns a table already has. ``max_fields`` is the per-record cap
    `decode` applies (settings ``max_new_fields_per_record``, ``max_new_columns``).
    """

    def __init__(
        self,
        limit: int = MAX_NEW_COLUMNS,
        known: Iterable[str] = (),
        *,
        max_fields: int = MAX_NEW_FIELDS,
    ) -> None:
        self.limit = limit
        self.max_fields = max_fields
        self._admitted = {c for c in known if c not in KNOWN_FIELDS}

    def decode(self, data: bytes) -> dict[str, Any]:
        """`decode` with this budget's per-record cap, then `admit` the record."""
        obj = decode(data, max_new_fields=self.max_fields)
        self.admit(obj)
        return obj

    def admit(self, obj: Mapping[str, Any]) -> None:
        """Admit the record's new fields, or raise ``too_many_columns`` (nothing admitted)."""
        if KNOWN_FIELDS.issuperset(obj):  # the common case, one C-level pass
            return
        new = [k for k in obj if k not in KNOWN_FIELDS and k not in self._admitted]
        if not new:
            return
        if len(self._admitted) + len(new) > self.limit:
            raise InvalidRecord(
                "too_many_columns",
                f"field {new[0]!r} would be new column {len(self._admitted) + 1}; "
                f"the limit is {self.limit} new columns",
            )
        self._admitted.update(new)
