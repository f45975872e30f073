"""Athena's date and time idioms on DuckDB: Joda and MySQL formats, zones, dates that stay dates.

Used by `petrostream.query.athena_sql`'s dispatch; every function takes a
sqlglot node of the user's (Trino) AST and returns its DuckDB replacement.
"""

from __future__ import annotations

import re
from typing import Final

from sqlglot import exp

from petrostream.query.athena_ast import call, literal_text
from petrostream.query.base import QueryError

_MYSQL_UNSUPPORTED: Final = {"%D": "%D", "%U": "%U", "%W": "%u", "%V": "%V", "%w": "%w", "%X": "%X"}
# After sqlglot's parse a MySQL format is in strftime codes; these are the ones Trino
# refuses (its docs: "%D %U %u %V %w %X are not supported"), by their parsed code.

_JODA: Final[dict[str, str]] = {
    "yyyy": "%Y",
    "yy": "%y",
    "y": "%Y",
    "YYYY": "%Y",
    "Y": "%Y",
    "xxxx": "%G",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%-m",
    "dd": "%d",
    "d": "%-d",
    "DDD": "%j",
    "D": "%-j",
    "HH": "%H",
    "H": "%-H",
    "hh": "%I",
    "h": "%-I",
    "mm": "%M",
    "m": "%-M",
    "ss": "%S",
    "s": "%-S",
    "SSS": "%g",
    "SSSSSS": "%f",
    "SSSSSSSSS": "%n",
    "a": "%p",
    "EEEE": "%A",
    "EEE": "%a",
    "E": "%a",
    "e": "%u",
    "ww": "%V",
    "w": "%-V",
    "G": "AD",
}
# Every local timestamp is UTC: zone letters print UTC's name or offset.
_JODA_ZONE_TEXT: Final[dict[str, str]] = {"Z": "+0000", "ZZ": "+00:00", "ZZZ": "UTC", "z": "UTC"}


def joda_to_strftime(pattern: str, *, parsing: bool = False) -> str:
    """A Joda-Time ``DateTimeFormat`` pattern as a DuckDB strftime/strptime format.

    Raises:
        QueryError: a pattern letter DuckDB has no equivalent for (named in the message).
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":  # quoted literal text; '' is one quote
            end = pattern.find("'", i + 1)
            if end == i + 1:
                out.append("'")
                i += 2
                continue
            if end < 0:
                raise QueryError(f"format {pattern!r} has an unclosed quote")
            out.append(pattern[i + 1 : end].replace("%", "%%"))
            i = end + 1
            continue
        if not char.isalpha():
            out.append("%%" if char == "%" else char)
            i += 1
            continue
        run = 1
        while i + run < len(pattern) and pattern[i + run] == char:
            run += 1
        letters = pattern[i : i + run]
        if char in "Zz":
            out.append(("%z" if char == "Z" else "%Z") if parsing else _zone_text(letters))
        elif letters in _JODA:
            out.append(_JODA[letters])
        elif char == "y" or char == "Y":
            out.append("%Y")
        elif char in "dHhmsM" and run > 2 and char != "M":
            out.append(_JODA[char * 2])
        else:
            raise QueryError(
                f"format letter {letters!r} in {pattern!r} is not supported by the local "
                "engine; use yyyy MM dd HH mm ss SSS EEE MMM a Z and quoted text"
            )
        i += run
    return "".join(out)


def _zone_text(letters: str) -> str:
    return _JODA_ZONE_TEXT.get(
        letters, "Coordinated Universal Time" if letters == "zzzz" else "UTC"
    )


def mysql_format(node: exp.Expr, function: str) -> exp.Expr:
    """A parsed date_format/date_parse format, checked for what Trino refuses."""
    if not (isinstance(node, exp.Literal) and node.is_string):
        return node
    text = str(node.this)
    for code in re.findall(r"%-?.", text):
        if code in _MYSQL_UNSUPPORTED:
            raise QueryError(
                f"{function}(): the specifier {_MYSQL_UNSUPPORTED[code]} is not supported "
                "(as on Athena); use %Y %m %d %H %i %s %f %a %b %W %M %j %p, or "
                "day_of_week() / week() for weekdays and weeks"
            )
    return exp.Literal.string(text.replace("%v", "%V"))


def format_datetime(node: exp.Anonymous) -> exp.Expr:
    """``format_datetime(ts, joda)`` as ``strftime``."""
    value, fmt = (node.expressions + [None, None])[:2]
    text = literal_text(fmt, "format_datetime")
    return call("strftime", value, exp.Literal.string(joda_to_strftime(text)))


def parse_datetime(node: exp.ParseDatetime) -> exp.Expr:
    """``parse_datetime(text, joda)`` as ``strptime``, a timestamp with time zone."""
    text = literal_text(node.args.get("format"), "parse_datetime")
    parsed = call("strptime", node.this, exp.Literal.string(joda_to_strftime(text, parsing=True)))
    return exp.cast(parsed, exp.DType.TIMESTAMPTZ)


def at_time_zone(value: exp.Expr, zone: exp.Expr) -> exp.Expr:
    """``ts AT TIME ZONE zone``: the wall clock of ``zone`` at that instant."""
    # Trino converts the instant to the zone's wall clock; DuckDB's timezone() on a
    # TIMESTAMPTZ does that (a zone-less timestamp is taken as UTC, the session zone).
    return call("timezone", zone, exp.cast(value, exp.DType.TIMESTAMPTZ))


def with_timezone(node: exp.Anonymous) -> exp.Expr:
    """``with_timezone(ts, zone)``: the instant at which ``zone``'s clock reads ``ts``."""
    value, zone = node.expressions[:2]
    return call("timezone", zone, exp.cast(value, exp.DType.TIMESTAMP))


def unix_to_time(node: exp.UnixToTime) -> exp.Expr:
    """``from_unixtime(x[, zone | hours, minutes])``."""
    moment = call("to_timestamp", node.this)
    if node.args.get("zone") is not None:
        return at_time_zone(moment, node.args["zone"])
    hours, minutes = node.args.get("hours"), node.args.get("minutes")
    if hours is not None or minutes is not None:
        wall: exp.Expr = exp.cast(moment, exp.DType.TIMESTAMP)
        for amount, unit in ((hours, "HOUR"), (minutes, "MINUTE")):
            if amount is not None:
                wall = exp.Add(this=wall, expression=exp.Interval(this=amount, unit=exp.var(unit)))
        return wall
    return node


def keep_date(node: exp.Expr) -> exp.Expr:
    """``date ± interval`` and ``date_add(unit, n, date)`` stay a date, as in Trino."""
    interval_right = isinstance(node.args.get("expression"), exp.Interval)
    if isinstance(node, exp.DateAdd | exp.DateSub) or interval_right:
        base = node.this
    elif isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):
        base = node.expression
    else:
        return node
    return call("athena_keep_date", base.copy(), node.copy())
