"""Query results as text, CSV and JSON, with every value printed as Athena prints it.

Athena (Trino) prints a ``double`` with Java's ``Double.toString`` (``3.0E7``,
``0.001``, ``NaN``), a ``timestamp`` as ``2026-12-06 10:30:00.000``, a boolean
as ``true``, an array as ``[1, 2]``, a map or row as ``{a=1, b=2}``, an
interval as ``2 03:00:00.000``, a ``varbinary`` as hex bytes. `athena_text`
does that for one value, so ``--engine local`` and ``--engine athena`` print
the same text; `format_result` renders a whole result:

- ``csv``: a header, then every non-null value in double quotes and NULL as an
  empty field (Athena's result files: NULL and ``''`` stay distinguishable);
- ``json``: an array of objects as the Trino client protocol carries values:
  numbers and booleans as JSON, ``NaN``/``Infinity`` and decimals as strings,
  dates, times and timestamps as their Athena text, arrays and maps as JSON;
- ``table``: aligned columns of the Athena text, NULL shown as ``NULL``.

Pure Python: the dashboard imports it.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from petrostream.query.base import OutputFormat, QueryResult


def java_float_text(value: float, *, single: bool = False) -> str:
    """``value`` as Java's ``Double.toString`` (or ``Float.toString`` when ``single``) prints it."""
    if single:
        value = _single(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    digits = (_shortest_single(value) if single else repr(value)).lower()
    sign, body = ("-", digits[1:]) if digits.startswith("-") else ("", digits)
    mantissa, _, exponent = body.partition("e")
    whole, _, frac = mantissa.partition(".")
    raw = whole + frac
    leading = len(raw) - len(raw.lstrip("0"))
    significant = raw.strip("0") or "0"
    power = len(whole) + int(exponent or 0) - 1 - leading  # value = d.ddd x 10^power
    if 1e-3 <= abs(value) < 1e7:
        if power >= 0:
            whole_digits = significant[: power + 1].ljust(power + 1, "0")
            return f"{sign}{whole_digits}.{significant[power + 1 :] or '0'}"
        return f"{sign}0.{'0' * (-power - 1)}{significant}"
    return f"{sign}{significant[0]}.{significant[1:] or '0'}E{power}"


def _single(value: float) -> float:
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def _shortest_single(value: float) -> str:
    """The fewest digits that read back as the same 32-bit float (Java's Float.toString)."""
    for precision in range(1, 10):
        text = f"{value:.{precision}g}"
        if _single(float(text)) == value:
            return text
    return repr(value)


def _timestamp_text(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"


def _interval_text(span: timedelta) -> str:
    ms = round(span.total_seconds() * 1000)
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    days, ms = divmod(ms, 86_400_000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    return f"{sign}{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}"


def athena_text(value: Any, athena_type: str = "") -> str | None:
    """The text Athena shows for ``value`` of type ``athena_type``; None for NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_float_text(value, single=athena_type == "real")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return _timestamp_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return f"{value:%H:%M:%S}.{value.microsecond // 1000:03d}"
    if isinstance(value, timedelta):
        return _interval_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return " ".join(f"{b:02x}" for b in bytes(value))
    if isinstance(value, list | tuple):
        inner = _element_type(athena_type)
        return "[" + ", ".join(_nested(v, inner) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_nested(k, '')}={_nested(v, '')}" for k, v in value.items()) + "}"
    return str(value)


def _element_type(athena_type: str) -> str:
    return athena_type[6:-1] if athena_type.startswith("array(") else ""


def _nested(value: Any, athena_type: str) -> str:
    text = athena_text(value, athena_type)
    return "null" if text is None else text


def protocol_value(value: Any, athena_type: str = "") -> Any:
    """``value`` as JSON the way the Trino client protocol carries it."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else athena_text(value, athena_type)
    if isinstance(value, list | tuple):
        inner = _element_type(athena_type)
        return [protocol_value(v, inner) for v in value]
    if isinstance(value, dict):
        return {_nested(k, ""): protocol_value(v) for k, v in value.items()}
    return athena_text(value, athena_type)


def format_result(result: QueryResult, fmt: OutputFormat) -> str:
    """Render a result as an aligned text table, CSV (with header) or a JSON array of objects."""
    types = result.types or [""] * len(result.columns)
    if fmt == "json":
        records = [
            {
                col: protocol_value(v, t)
                for col, v, t in zip(result.columns, row, types, strict=True)
            }
            for row in result.rows
        ]
        return json.dumps(records, indent=1, ensure_ascii=False)
    texts = [[athena_text(v, t) for v, t in zip(row, types, strict=True)] for row in result.rows]
    if fmt == "csv":
        lines = [",".join(_csv_field(c) for c in result.columns)]
        lines += [",".join(_csv_field(v) for v in row) for row in texts]
        return "\n".join(lines)
    return _table(result.columns, [["NULL" if v is None else v for v in row] for row in texts])


def _csv_field(text: str | None) -> str:
    return "" if text is None else '"' + text.replace('"', '""') + '"'


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join([line.rstrip(), rule, *[b.rstrip() for b in body]])
