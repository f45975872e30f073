"""The query contract: one result shape for every engine, named queries, output formats.

Both engines (`DuckDBEngine` on the local lake, `AthenaEngine` on AWS) accept
Athena (Trino) SQL and return a `QueryResult` whose types are Athena's type
names, so callers (the CLI, the dashboard) do not care which engine ran it;
`petrostream.query.output` prints results as Athena does.
Pure Python: the dashboard imports this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
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


class QueryBusy(QueryError):  # noqa: N818
    """Every query slot stayed busy until the query's timeout; nothing ran."""


class QueryTooLarge(QueryError):  # noqa: N818
    """The query needed more memory, or returned more bytes, than its limit allows."""


@dataclass(frozen=True)
class QueryLimits:
    """What one query may use on the local engine, and how many run at once.

    Attributes:
        memory: DuckDB ``memory_limit`` of each query (``"1GB"``); None: DuckDB's
            default (80 % of RAM). Sorts, joins and aggregates past it spill to
            ``temp_directory``; what cannot spill fails with `QueryTooLarge`.
        concurrent: queries that run at the same time; more wait for a slot (up to
            their timeout, then `QueryBusy`).
        threads: DuckDB threads of each query; None: DuckDB's default (all cores).
        temp_directory: where queries spill; None: a ``petrostream-duckdb`` folder in
            the system temporary folder (never the current folder, DuckDB's default).
        max_temp_bytes: DuckDB ``max_temp_directory_size`` (``"10GB"``); None: DuckDB's.
        max_result_bytes: approximate size of the rows a query may return; past it
            `QueryTooLarge`. None: no limit.
    """

    memory: str | None = None
    concurrent: int = 1
    threads: int | None = None
    temp_directory: Path | None = None
    max_temp_bytes: str | None = None
    max_result_bytes: int | None = None


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
    """A JSON-ready value for the dashboard's API: timestamps ISO 8601 UTC (``...Z``), NaN null.

    The CLI's output prints values as Athena does instead (`petrostream.query.output`).
    """
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
