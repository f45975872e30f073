"""The stream record: one JSON object per reading, as DESIGN defines it.

This is the wire contract between the producer, the real-time consumer (the
Lambda handler) and the lake writer, and what Firehose's JSON->Parquet
conversion reads on AWS. Pure Python (the Lambda zip carries it).

Format: keys are canonical column names; timestamps are UTC strings
``YYYY-MM-DD HH:MM:SS.mmm``; a null sensor value is left out of the object
(readers treat an absent sensor as null); the partition key is ``well_id``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

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
_REQUIRED: Final = ("well_id", "ts")
_STRING_FIELDS: Final = frozenset({"well_id", "instance_id", "event_type"})
_INT_FIELDS: Final = frozenset({"event_class", "state"})
_TS_FIELDS: Final = frozenset({"ts", "source_ts"})


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
    if not _TS_RE.match(text):
        raise ValueError(f"timestamp {text!r} is not 'YYYY-MM-DD HH:MM:SS.mmm'")
    return datetime.strptime(text, TS_FORMAT).replace(tzinfo=UTC)


def encode(reading: Mapping[str, Any]) -> bytes:
    """Serialize one reading to the record's bytes; None values are left out."""
    return _dumps({k: v for k, v in reading.items() if v is not None})


def decode(data: bytes) -> dict[str, Any]:
    """Parse and validate one record.

    Checks that the payload is a JSON object with a string ``well_id`` and a
    well-formed ``ts``, that timestamps are well formed, that labels are integers,
    that strings are strings, and that every other field is a finite number or null.
    Unknown numeric fields are kept: they are new sensor columns (schema evolution).

    Raises:
        InvalidRecord: with reason ``bad_json``, ``not_an_object``, ``missing_field``,
            ``bad_timestamp``, ``wrong_type`` or ``too_large``; the detail says which field.
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
    for key in _REQUIRED:
        if obj.get(key) is None:
            raise InvalidRecord("missing_field", f"required field {key!r} is missing")
    for key, value in obj.items():
        if value is None:
            continue
        if key in _TS_FIELDS:
            if not isinstance(value, str) or not _TS_RE.match(value):
                raise InvalidRecord(
                    "bad_timestamp", f"{key}={value!r} is not 'YYYY-MM-DD HH:MM:SS.mmm'"
                )
        elif key in _STRING_FIELDS:
            if not isinstance(value, str):
                raise InvalidRecord("wrong_type", f"{key}={value!r} is not a string")
        elif key in _INT_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidRecord("wrong_type", f"{key}={value!r} is not an integer")
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            raise InvalidRecord("wrong_type", f"{key}={value!r} is not a finite number")
    return obj
