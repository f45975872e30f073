"""File pruning: which of an Iceberg table's files a query's filters can match.

The catalog keeps, per data file of an Iceberg table, the lower and upper bound
of its day column (``ts``; ``arrival`` for ``rejects``) and of its bucket column
(``well_id``), from the manifests (`catalog.base.DataFile.bounds`). For one
reference to such a table, `file_filter` reads the ``WHERE`` of the query block
that reads it and returns a `FileFilter`; the engine then scans only the files
whose bounds it `FileFilter.may_match`.

What is understood, under ``AND`` and ``OR`` (any nesting, across columns):

* ``ts`` compared (``=``, ``<``, ``<=``, ``>``, ``>=``, ``BETWEEN``, ``IN``) with
  a constant timestamp: ``TIMESTAMP '...'``, ``DATE '...'``,
  ``from_iso8601_timestamp('...')``, ``parse_datetime``, ``from_unixtime``,
  ``+``/``-`` ``INTERVAL``… — the engine evaluates it with DuckDB (`Instant`), so
  it means what the query means;
* ``dt`` (the view's ``YYYY-MM-DD`` string of ``ts``) compared with a
  ``'YYYY-MM-DD'`` literal, as a range of ``ts``;
* ``well_id`` compared with string literals.

Everything else constrains nothing: ``NOT``, ``<>``, ``IS``, functions of the
column (``date(ts) = ...``), a column of another table, ``now()`` (the value
could move between planning and running), a subquery. A block that joins,
samples or reads the table under a name a ``WITH`` shadows is not pruned. So a
filter only ever drops files in which no row can satisfy the ``WHERE``: the
answer is the same as over every file (`tests/unit/query/test_query_pruning.py`
checks it on random filters).

Pure Python (sqlglot only): the DuckDB side is the ``instant`` callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from sqlglot import exp

# Constant timestamp expressions, evaluated by the engine in one go: for each,
# microseconds since the epoch, or None when it is not a timestamp or date of at most
# microsecond precision (``ts`` is in microseconds: a nanosecond one would round) or fails.
Instants = Callable[[list[exp.Expr]], list[int | None]]
Bounds = Mapping[str, tuple[int | str, int | str]]

_DAY_US: Final = 86_400_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# ``strftime('%Y-%m-%d')`` orders as the instant only for years 0000-9999.
_DT_SAFE: Final = (
    int((datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) / timedelta(microseconds=1)),
    int((datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH) / timedelta(microseconds=1)) + _DAY_US - 1,
)
_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")

# What a constant timestamp may be built of: literals, casts, intervals, arithmetic
# and Athena's parsing functions. No column, subquery, ``now()`` or ``random()``.
_CONSTANT_NODES: Final[tuple[type[exp.Expr], ...]] = (
    exp.Literal,
    exp.Cast,
    exp.TryCast,
    exp.DataType,
    exp.DataTypeParam,
    exp.Interval,
    exp.Var,
    exp.Add,
    exp.Sub,
    exp.Neg,
    exp.Paren,
    exp.FromISO8601Timestamp,
    exp.ParseDatetime,
    exp.StrToTime,
    exp.StrToDate,
    exp.UnixToTime,
    exp.TimeStrToTime,
    exp.DateAdd,
    exp.DateSub,
)
_CONSTANT_FUNCTIONS: Final = frozenset({"from_iso8601_timestamp", "from_iso8601_date"})


@dataclass(frozen=True)
class Range:
    """``lower <= column <= upper`` (None: unbounded), a column's values a row may have."""

    column: str
    lower: int | str | None
    upper: int | str | None
    dt_derived: bool = False  # from ``dt``: holds only for files of years 0000-9999

    def may_match(self, bounds: Bounds) -> bool:
        """False only when no value inside the file's bounds of the column is in range."""
        found = bounds.get(self.column)
        if found is None:
            return True
        low, high = found
        if self.dt_derived and not (
            isinstance(low, int) and isinstance(high, int) and _DT_SAFE[0] <= low <= _DT_SAFE[1]
            and _DT_SAFE[0] <= high <= _DT_SAFE[1]
        ):  # fmt: skip
            return True
        kind = int if isinstance(self.lower if self.lower is not None else self.upper, int) else str
        if not (isinstance(low, kind) and isinstance(high, kind)):
            return True  # a bound of another type than the filter's: prove nothing
        if self.lower is not None and high < self.lower:  # type: ignore[operator]
            return False
        return not (self.upper is not None and low > self.upper)  # type: ignore[operator]


@dataclass(frozen=True)
class AllOf:
    """Every part must be satisfiable (``AND``)."""

    parts: tuple[FileFilter, ...]

    def may_match(self, bounds: Bounds) -> bool:
        """False when one part cannot match the file."""
        return all(p.may_match(bounds) for p in self.parts)


@dataclass(frozen=True)
class AnyOf:
    """One part must be satisfiable (``OR``, ``IN``)."""

    parts: tuple[FileFilter, ...]

    def may_match(self, bounds: Bounds) -> bool:
        """False when no part can match the file."""
        return any(p.may_match(bounds) for p in self.parts)


FileFilter = Range | AllOf | AnyOf


@dataclass(frozen=True)
class PrunedColumns:
    """The columns of one table whose file bounds the catalog keeps."""

    day: str  # the timestamp partitioned by day (``ts``)
    bucket: str | None  # the string partitioned by bucket (``well_id``)
    derived_day: str | None = "dt"  # the view's ``YYYY-MM-DD`` of ``day``, if any


def prunable_block(table: exp.Table) -> exp.Select | None:
    """The query block whose only source is ``table``, or None when it joins or samples.

    Also None when a column of the block names the table with its schema
    (``petrostream_db.sensors.ts``): the view that replaces the table keeps only
    its name or alias.
    """
    from_ = table.parent
    select = from_.parent if isinstance(from_, exp.From) else None
    if not isinstance(select, exp.Select) or select.args.get("from_") is not from_:
        return None
    if select.args.get("joins") or select.args.get("laterals"):
        return None
    if any(table.args.get(k) for k in ("sample", "version", "pivots", "joins", "laterals")):
        return None
    if any(c.args.get("db") for c in select.find_all(exp.Column)):
        return None  # ``petrostream_db.sensors.ts`` would not bind on the replacing view
    return select


def file_filter(
    select: exp.Select, table: exp.Table, columns: PrunedColumns, instants: Instants
) -> FileFilter | None:
    """What ``select``'s WHERE says about the bounds of the files of ``table``.

    The constants compared with the day column are evaluated first, in one call of
    ``instants``. Returns None when the WHERE constrains none of ``columns`` (every
    file is read).
    """
    where = select.args.get("where")
    if where is None:
        return None
    names = {table.alias_or_name.lower()}
    if not table.alias:
        names.add(table.name.lower())
    reader = _Reader(names, columns)
    wanted = reader.constants(where.this)
    if wanted:
        reader.instants = {id(n): v for n, v in zip(wanted, instants(wanted), strict=True)}
    return reader.read(where.this)


class _Reader:
    def __init__(self, qualifiers: set[str], columns: PrunedColumns) -> None:
        self.qualifiers = qualifiers
        self.columns = columns
        self.instants: dict[int, int | None] = {}

    def constants(self, where: exp.Expr) -> list[exp.Expr]:
        """The constant operands compared with the day column anywhere in ``where``."""
        found: list[exp.Expr] = []
        for node in where.walk():
            if isinstance(node, exp.EQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
                pairs = [(node.this, node.expression), (node.expression, node.this)]
                found += [v for c, v in pairs if self._is_day(c) and _is_constant(v)]
            elif isinstance(node, exp.Between) and self._is_day(node.this):
                found += [v for v in (node.args["low"], node.args["high"]) if _is_constant(v)]
            elif isinstance(node, exp.In) and self._is_day(node.this):
                found += [v for v in node.expressions if _is_constant(v)]
        return found

    def _is_day(self, node: exp.Expr) -> bool:
        return self._column(node) == self.columns.day

    def read(self, node: exp.Expr) -> FileFilter | None:
        """The filter ``node`` implies, None when it implies nothing checkable."""
        if isinstance(node, exp.Paren):
            return self.read(node.this)
        if isinstance(node, exp.And):
            parts = [p for p in (self.read(node.this), self.read(node.expression)) if p]
            return AllOf(tuple(parts)) if parts else None
        if isinstance(node, exp.Or):
            left, right = self.read(node.this), self.read(node.expression)
            return AnyOf((left, right)) if left and right else None
        if isinstance(node, exp.Between) and not node.args.get("symmetric"):
            column = self._column(node.this)
            if column is None:
                return None
            low = self._value(column, node.args["low"])
            high = self._value(column, node.args["high"])
            if low is None or high is None:
                return None
            return self._range(column, low[0], high[1])
        if isinstance(node, exp.In):
            column = self._column(node.this)
            if column is None or node.args.get("query") or node.args.get("unnest"):
                return None
            values = [self._value(column, v) for v in node.expressions]
            if not values or any(v is None for v in values):
                return None
            return AnyOf(tuple(self._range(column, v[0], v[1]) for v in values if v))
        if isinstance(node, exp.EQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
            return self._compare(node)
        return None

    def _compare(self, node: exp.Binary) -> FileFilter | None:
        op = type(node)
        column = self._column(node.this)
        other = node.expression
        if column is None:
            column, other = self._column(node.expression), node.this
            op = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE}.get(op, op)
        if column is None:
            return None
        value = self._value(column, other)
        if value is None:
            return None
        low, high = value
        if op is exp.EQ:
            return self._range(column, low, high)
        strict = isinstance(low, int) and op in (exp.GT, exp.LT)  # strings: keep the bound
        if op in (exp.GT, exp.GTE):
            return self._range(column, high + 1 if strict else low, None)  # type: ignore[operator]
        return self._range(column, None, low - 1 if strict else high)  # type: ignore[operator]

    def _range(self, column: str, low: int | str | None, high: int | str | None) -> Range:
        """A range of ``column``; one of ``dt`` is a range of the day column it derives from."""
        if column == self.columns.derived_day:
            return Range(self.columns.day, low, high, dt_derived=True)
        return Range(column, low, high)

    def _column(self, node: exp.Expr) -> str | None:
        """The pruned column ``node`` names (as ``day``/``bucket``), None otherwise."""
        if not isinstance(node, exp.Column) or node.args.get("db") or node.args.get("catalog"):
            return None
        if node.table and node.table.lower() not in self.qualifiers:
            return None
        name = node.name.lower()
        c = self.columns
        return name if name in {c.day, c.bucket, c.derived_day} - {None} else None

    def _value(self, column: str, node: exp.Expr) -> tuple[int | str, int | str] | None:
        """The closed range of the column's values ``= node`` allows (None: not a constant).

        For ``dt`` it is the range of the day column over day d (``dt > 'd'`` is then
        past the day's last microsecond, ``dt < 'd'`` before its first).
        """
        c = self.columns
        if column == c.bucket:
            if isinstance(node, exp.Literal) and node.is_string:
                return node.name, node.name
            return None
        if column == c.derived_day:
            if not (isinstance(node, exp.Literal) and node.is_string):
                return None
            if not _DAY.fullmatch(node.name):
                return None
            try:
                day = date.fromisoformat(node.name)
            except ValueError:
                return None
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            first = int((start - _EPOCH) / timedelta(microseconds=1))
            return first, first + _DAY_US - 1
        us = self.instants.get(id(node))  # `constants` found it, if it is one
        return None if us is None else (us, us)


def _is_constant(node: exp.Expr) -> bool:
    for part in node.walk():
        if isinstance(part, exp.Anonymous):
            if part.name.lower() not in _CONSTANT_FUNCTIONS:
                return False
        elif not isinstance(part, _CONSTANT_NODES):
            return False
    return True
