"""The Athena engine: request/response handling against moto (which runs no SQL)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, date, datetime
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from petrostream.query.athena import AthenaEngine, convert, parse_timestamp
from petrostream.query.base import QueryError, QueryRefused, QueryTimeout

pytestmark = pytest.mark.aws

COLUMNS = [
    {"Name": "event_type", "Label": "event_type", "Type": "varchar"},
    {"Name": "readings", "Label": "readings", "Type": "bigint"},
    {"Name": "avg_p_pdg", "Label": "avg_p_pdg", "Type": "double"},
    {"Name": "last_ts", "Label": "last_ts", "Type": "timestamp"},
]


def row(*values: str | None) -> dict:
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


def inject(endpoint: str, rows: list[dict], columns: list[dict]) -> None:
    """Queue a canned result in moto (its documented moto-api for Athena results)."""
    body = json.dumps({"results": [{"rows": rows, "column_info": columns}]}).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback moto server
        f"{endpoint}/moto-api/static/athena/query-results",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310 - loopback moto server
        assert response.status == 201


def test_query_runs_in_workgroup_with_output_location_and_returns_typed_rows(athena_env):
    # given moto holds a canned Athena result (header row first, as Athena sends it)
    inject(
        athena_env,
        [
            row("event_type", "readings", "avg_p_pdg", "last_ts"),
            row("NORMAL", "1200", "38043600.5", "2024-05-01 10:33:14.000"),
            row("SPURIOUS_CLOSURE_OF_DHSV", "772", None, "2024-05-01 10:20:00.123"),
        ],
        COLUMNS,
    )
    client = boto3.client("athena")
    client.create_work_group(Name="petrostream", Configuration={})
    sleeps: list[float] = []
    engine = AthenaEngine(
        database="petrostream_db",
        workgroup="petrostream",
        output_location="s3://results-bucket/athena/",
        client=client,
        sleep=sleeps.append,
    )

    # when running the seed's question
    result = engine.execute(
        "SELECT event_type, count(*) AS readings FROM sensors WHERE well_id = :w GROUP BY 1",
        params={"w": "WELL-00001"},
    )

    # then the rows are typed like the local engine's
    assert result.engine == "athena"
    assert result.columns == ["event_type", "readings", "avg_p_pdg", "last_ts"]
    assert result.types == ["varchar", "bigint", "double", "timestamp"]
    assert result.rows == [
        ("NORMAL", 1200, 38043600.5, datetime(2024, 5, 1, 10, 33, 14, tzinfo=UTC)),
        ("SPURIOUS_CLOSURE_OF_DHSV", 772, None, datetime(2024, 5, 1, 10, 20, 0, 123000, UTC)),
    ]
    # and the request carried the workgroup, database, output location and bound SQL
    execution = client.get_query_execution(QueryExecutionId=result.stats["query_execution_id"])[
        "QueryExecution"
    ]
    assert execution["WorkGroup"] == "petrostream"
    assert execution["QueryExecutionContext"]["Database"] == "petrostream_db"
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(
        "s3://results-bucket/athena/"
    )
    assert "well_id = 'WELL-00001'" in execution["Query"]
    assert "petrostream_db.sensors" in execution["Query"]


def test_row_limit_applies_to_athena_results(athena_env):
    inject(
        athena_env,
        [row("event_type", "readings", "avg_p_pdg", "last_ts")]
        + [row("E", str(i), "1.0", "2024-05-01 10:00:00.000") for i in range(5)],
        COLUMNS,
    )
    engine = AthenaEngine(database="petrostream_db", sleep=lambda s: None)

    result = engine.execute("SELECT * FROM sensors", limit=3)

    assert [r[1] for r in result.rows] == [0, 1, 2]
    assert result.truncated


def test_refused_statement_never_reaches_athena(athena_env):
    client = boto3.client("athena")
    with Stubber(client) as stub:  # any call would fail: nothing is queued
        engine = AthenaEngine(database="petrostream_db", client=client)
        with pytest.raises(QueryRefused, match="DROP statements are not allowed"):
            engine.execute("DROP TABLE sensors")
        stub.assert_no_pending_responses()


def _stubbed(client):
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"}, None)
    return stub


def test_results_are_paged_through(athena_env):
    client = boto3.client("athena")
    stub = _stubbed(client)
    stub.add_response(
        "get_query_execution",
        {"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": "SUCCEEDED"}}},
    )
    meta = {"ColumnInfo": [{"Name": "n", "Label": "n", "Type": "integer"}]}
    stub.add_response(
        "get_query_results",
        {
            "ResultSet": {"Rows": [row("n"), row("1"), row("2")], "ResultSetMetadata": meta},
            "NextToken": "page-2",
        },
    )
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [row("3")], "ResultSetMetadata": meta}},
        {"QueryExecutionId": "q-1", "NextToken": "page-2", "MaxResults": 1000},
    )
    with stub:
        result = AthenaEngine(database="db", client=client, sleep=lambda s: None).execute(
            "SELECT 1 AS n"
        )
    assert result.rows == [(1,), (2,), (3,)]
    assert result.types == ["integer"]


def test_polling_backs_off_exponentially_up_to_the_cap(athena_env):
    client = boto3.client("athena")
    stub = _stubbed(client)
    for state in ("QUEUED", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"):
        stub.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": state}}},
        )
    meta = {"ColumnInfo": [{"Name": "n", "Label": "n", "Type": "integer"}]}
    stub.add_response(
        "get_query_results", {"ResultSet": {"Rows": [row("n")], "ResultSetMetadata": meta}}
    )
    sleeps: list[float] = []
    engine = AthenaEngine(database="db", client=client, sleep=sleeps.append, poll_max=0.5)
    with stub:
        assert engine.execute("SELECT 1 AS n").rows == []
    assert sleeps == [0.2, 0.4, 0.5, 0.5]


def test_failed_query_reports_athenas_reason(athena_env):
    client = boto3.client("athena")
    stub = _stubbed(client)
    stub.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": "q-1",
                "Status": {
                    "State": "FAILED",
                    "StateChangeReason": "COLUMN_NOT_FOUND: line 1:8: Column 'p_pgd' cannot be "
                    "resolved",
                },
            }
        },
    )
    with stub, pytest.raises(QueryError, match="Athena query failed: COLUMN_NOT_FOUND"):
        AthenaEngine(database="db", client=client).execute("SELECT p_pgd FROM sensors")


def test_timeout_stops_the_query(athena_env):
    client = boto3.client("athena")
    stub = _stubbed(client)
    running = {"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": "RUNNING"}}}
    for _ in range(2):  # t=0: wait 1 s; t=1: the next 2 s wait would pass 2.5 s
        stub.add_response("get_query_execution", running)
    stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    engine = AthenaEngine(
        database="db", client=client, sleep=sleep, clock=lambda: now[0], poll_initial=1.0
    )
    with stub, pytest.raises(QueryTimeout, match="still RUNNING after 2.5 s"):
        engine.execute("SELECT 1", timeout=2.5)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("value", "athena_type", "expected"),
    [
        ("42", "integer", 42),
        ("42", "bigint", 42),
        ("1.5", "double", 1.5),
        ("NaN", "double", float("inf") * 0),
        ("12.30", "decimal(10,2)", Decimal("12.30")),
        ("true", "boolean", True),
        ("2024-05-01", "date", date(2024, 5, 1)),
        ("WELL-00001", "varchar", "WELL-00001"),
        (None, "double", None),
    ],
)
def test_values_convert_by_column_type(value, athena_type, expected):
    got = convert(value, athena_type)
    if isinstance(expected, float) and expected != expected:
        assert got != got
    else:
        assert got == expected


def test_timestamps_with_zone_parse_to_utc():
    assert parse_timestamp("2024-05-01 10:00:00.000 UTC") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="expected UTC"):
        parse_timestamp("2024-05-01 10:00:00.000 America/Sao_Paulo")
