"""The query contract: one result shape for every engine, named queries, output formats.

Both engines (`DuckDBEngine` on the local lake, `AthenaEngine` on AWS) accept
Athena (Trino) SQL and return a `QueryResult` whose types are Athena's type
names, so callers (the CLI, the dashboard) do not care which engine ran it.
Pure Python: the dashboard imports this module.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any, Final, Literal, Protocol

from petrostream.errors import PetroStreamError

DEFAULT_LIMIT: Final = 10_000
DEFAULT_TIMEOUT_S: Final = 60.0
OutputFormat = Literal["table", "csv", "json"]


class QueryError(PetroStreamError):
    """The SQL is wrong (syntax, unknown column…); the message points into the user's SQL."""


class QueryRefused(QueryError):  # noqa: N818 - says what happened, like InvalidRecord
    """The statement is not a read-only query (DDL, DML, COPY, a file-reading function…)."""


class QueryTimeout(QueryError):  # noqa: N818
    """The query ran longer than its timeout and was interrupted."""


class CatalogMissing(QueryError):  # noqa: N818
    """There is no catalog yet: `petrostream crawl` has not run."""


@dataclass
class QueryResult:
    """Rows of a query in column order, with Athena type names (``double``, ``varchar``…).

    Attributes:
        columns: column names as the query labels them.
        types: Athena/Trino type name of each column.
        rows: one tuple per row; timestamps are timezone-aware UTC datetimes.
        truncated: True when the row limit cut the result.
        engine: which engine ran the query (``local`` or ``athena``).
        sql: the SQL the engine ran (transpiled for DuckDB).
    """

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    engine: str = "local"
    sql: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class QueryEngine(Protocol):
    """Runs one read-only Athena SQL statement."""

    def execute(
        self,
        sql: str,
        *,
        params: Mapping[str, str] | None = None,
        limit: int | None = DEFAULT_LIMIT,
        timeout: float | None = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        """Run ``sql`` (Athena/Trino dialect) and return at most ``limit`` rows.

        ``params`` fill ``:name`` placeholders with literals (numbers stay numbers).
        Safe to call repeatedly; never changes the lake or the catalog.

        Raises:
            QueryRefused: the statement is not a read-only query.
            QueryError: the SQL is wrong; the message shows the user's line and a caret.
            QueryTimeout: the query ran longer than ``timeout`` seconds.
            CatalogMissing: nothing was crawled yet.
            TransientError: the remote engine failed for a reason that may pass.
        """
        ...


# ---------------------------------------------------------------- named queries


@dataclass(frozen=True)
class NamedQuery:
    """A shipped ``.sql`` file of ``petrostream/query/named``.

    Attributes:
        name: the file stem (``avg_pressure_last_hour``).
        description: the file's first comment line.
        sql: the Athena SQL text, with ``:param`` placeholders.
        params: parameter name -> default (None: required), from ``-- @param`` lines.
    """

    name: str
    description: str
    sql: str
    params: dict[str, str | None]

    def bind(self, given: Mapping[str, str]) -> dict[str, str]:
        """Merge the given parameters with the defaults; raise QueryError if one is missing."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise QueryError(f"named query {self.name} has no parameter {unknown[0]} ({known})")
        bound: dict[str, str] = {}
        for name, default in self.params.items():
            value = given.get(name, default)
            if value is None:
                raise QueryError(
                    f"named query {self.name} needs --param {name}=VALUE ({self.description})"
                )
            bound[name] = value
        return bound


_PARAM_LINE = re.compile(r"^--\s*@param\s+(\w+)(?:\s*=\s*(\S+))?")


def named_queries() -> dict[str, NamedQuery]:
    """Every shipped named query, by name."""
    found: dict[str, NamedQuery] = {}
    folder = resources.files("petrostream.query").joinpath("named")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        text = entry.read_text(encoding="utf-8")
        lines = text.splitlines()
        description = next(
            (ln.lstrip("-").strip() for ln in lines if ln.startswith("--")), entry.name
        )
        params: dict[str, str | None] = {}
        for line in lines:
            match = _PARAM_LINE.match(line)
            if match:
                params[match.group(1)] = match.group(2)
        name = entry.name.removesuffix(".sql")
        found[name] = NamedQuery(name, description, text, params)
    return found


def named_query(name: str) -> NamedQuery:
    """The named query ``name``; QueryError listing the names if there is none."""
    queries = named_queries()
    if name not in queries:
        raise QueryError(
            f"no named query {name!r}; `petrostream query --list` shows: {', '.join(queries)}"
        )
    return queries[name]


# ---------------------------------------------------------------- output


def json_value(value: Any) -> Any:
    """A JSON-ready value: timestamps ISO 8601 UTC (``...Z``), NaN as null."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        text = value.astimezone(UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    value = json_value(value)
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def format_result(result: QueryResult, fmt: OutputFormat) -> str:
    """Render a result as an aligned text table, CSV (with header) or a JSON array of objects."""
    if fmt == "json":
        return json.dumps(
            [{k: json_value(v) for k, v in rec.items()} for rec in result.records()], indent=1
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow(["" if v is None else _csv_text(v) for v in row])
        return out.getvalue().rstrip("\n")
    return _table(result.columns, [[_text(v) for v in row] for row in result.rows])


def _csv_text(value: Any) -> str:
    value = json_value(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join([line.rstrip(), rule, *[b.rstrip() for b in body]])
