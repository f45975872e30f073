"""The AWS query engine: Amazon Athena over the Glue catalog (boto3).

The user's SQL goes through the same `sqlguard.prepare` gate as locally
(read-only check, ``:param`` binding) and is generated back as Athena SQL.
The engine starts the query in the configured workgroup, polls
``GetQueryExecution`` with exponential backoff until a final state, stops the
query when the timeout passes, pages through ``GetQueryResults`` and converts
each value by the column type in ``ResultSetMetadata`` (Athena returns every
value as a string), so results have the local engine's shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from petrostream.errors import ConfigError, TransientError
from petrostream.query.base import (
    DEFAULT_LIMIT,
    DEFAULT_TIMEOUT_S,
    QueryError,
    QueryResult,
    QueryTimeout,
)
from petrostream.query.sqlguard import prepare

_PAGE: Final = 1000  # GetQueryResults' maximum MaxResults
_INTEGER_TYPES: Final = frozenset({"tinyint", "smallint", "integer", "int", "bigint"})
_FLOAT_TYPES: Final = frozenset({"double", "float", "real"})


def parse_timestamp(text: str) -> datetime:
    """Athena's ``2024-05-01 10:00:00.123`` (optionally `` UTC``) as an aware UTC datetime."""
    text = text.strip()
    zone = None
    if text.count(" ") > 1 or (" " in text and not text.rsplit(" ", 1)[1][:1].isdigit()):
        text, zone = text.rsplit(" ", 1)
    if zone not in (None, "UTC", "Z"):
        raise ValueError(f"timestamp in zone {zone}, expected UTC")
    value = datetime.fromisoformat(text.replace(" ", "T"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def convert(value: str | None, athena_type: str) -> Any:
    """One Athena result value (always text) as the Python value of its column type."""
    if value is None:
        return None
    kind = athena_type.lower().split("(", 1)[0].strip()
    if kind in _INTEGER_TYPES:
        return int(value)
    if kind in _FLOAT_TYPES:
        return float(value)  # Athena writes NaN and Infinity as text too
    if kind == "decimal":
        return Decimal(value)
    if kind == "boolean":
        return value.lower() == "true"
    if kind == "date":
        return date.fromisoformat(value)
    if kind.startswith("timestamp"):
        return parse_timestamp(value)
    return value


class AthenaEngine:
    """`QueryEngine` on Amazon Athena; results shaped like the local engine's."""

    def __init__(
        self,
        *,
        database: str,
        workgroup: str = "primary",
        output_location: str | None = None,
        client: Any = None,
        tables: set[str] | None = None,
        poll_initial: float = 0.2,
        poll_max: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("athena")
        self.client = client
        self.database = database
        self.workgroup = workgroup
        self.output_location = output_location
        self.tables = tables if tables is not None else {"sensors", "alerts", "rejects"}
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self._sleep = sleep
        self._clock = clock

    def execute(
        self,
        sql: str,
        *,
        params: Mapping[str, str] | None = None,
        limit: int | None = DEFAULT_LIMIT,
        timeout: float | None = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        """Run one read-only Athena SQL query; see `QueryEngine.execute`."""
        prepared = prepare(
            sql, tables=self.tables, params=params, dialect="athena", database=self.database
        )
        request: dict[str, Any] = {
            "QueryString": prepared.sql,
            "QueryExecutionContext": {"Database": self.database},
            "WorkGroup": self.workgroup,
        }
        if self.output_location:
            request["ResultConfiguration"] = {"OutputLocation": self.output_location}
        try:
            query_id = self.client.start_query_execution(**request)["QueryExecutionId"]
            execution = self._wait(query_id, timeout)
            columns, types, rows, truncated = self._results(query_id, limit)
        except Exception as exc:
            raise _translate(exc) from exc
        stats = execution.get("Statistics", {})
        return QueryResult(
            columns=columns,
            types=types,
            rows=rows,
            truncated=truncated,
            engine="athena",
            sql=prepared.sql,
            stats={"query_execution_id": query_id, **stats},
        )

    def _wait(self, query_id: str, timeout: float | None) -> dict[str, Any]:
        deadline = None if timeout is None else self._clock() + timeout
        delay = self.poll_initial
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            status = execution["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return dict(execution)
            if state in ("FAILED", "CANCELLED"):
                reason = status.get("StateChangeReason", "no reason given")
                raise QueryError(f"Athena query {state.lower()}: {reason}")
            if deadline is not None and self._clock() + delay > deadline:
                self.client.stop_query_execution(QueryExecutionId=query_id)
                raise QueryTimeout(
                    f"Athena query {query_id} still {state} after {timeout:g} s (--timeout); "
                    "it was stopped"
                )
            self._sleep(delay)
            delay = min(delay * 2, self.poll_max)

    def _results(
        self, query_id: str, limit: int | None
    ) -> tuple[list[str], list[str], list[tuple[Any, ...]], bool]:
        columns: list[str] = []
        types: list[str] = []
        rows: list[tuple[Any, ...]] = []
        paginator = self.client.get_paginator("get_query_results")
        first_page = True
        for page in paginator.paginate(
            QueryExecutionId=query_id, PaginationConfig={"PageSize": _PAGE}
        ):
            result_set = page["ResultSet"]
            if first_page:
                info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [c.get("Label") or c["Name"] for c in info]
                types = [c["Type"] for c in info]
            page_rows = [[d.get("VarCharValue") for d in r["Data"]] for r in result_set["Rows"]]
            if first_page and page_rows and page_rows[0] == columns:
                # A SELECT's first row holds the column labels, not data.
                page_rows = page_rows[1:]
            first_page = False
            for raw in page_rows:
                rows.append(tuple(convert(v, t) for v, t in zip(raw, types, strict=True)))
                if limit is not None and len(rows) > limit:
                    return columns, types, rows[:limit], True
        return columns, types, rows, False


def _translate(exc: Exception) -> Exception:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return ConfigError("no AWS credentials for Athena: set AWS_PROFILE or AWS_ACCESS_KEY_ID")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", str(exc))
        if code == "InvalidRequestException":
            return QueryError(f"Athena rejected the query: {message}")
        if code in {"AccessDeniedException", "UnrecognizedClientException"}:
            return ConfigError(f"Athena refused access ({code}): check the IAM permissions")
        return TransientError(f"Athena call failed ({code}): {message}")
    if isinstance(exc, BotoCoreError):
        return TransientError(f"Athena unreachable: {exc}")
    return exc
