"""Named queries: every shipped .sql parses as Athena SQL and answers on DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from petrostream.catalog.crawler import Crawler
from petrostream.query.base import QueryError, named_queries, named_query
from petrostream.query.duckdb_engine import DuckDBEngine
from petrostream.query.sqlguard import prepare
from petrostream.testing.lakefiles import sensor_rows, write_lake_file

NOW = datetime.now(UTC).replace(microsecond=0)
EXPECTED = {
    "avg_pressure_last_hour",
    "events_per_well",
    "latest_reading_per_well",
    "alerts_per_well_per_day",
    "completeness_per_sensor",
    "pressure_series",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    lake: Path = tmp_path_factory.mktemp("named") / "lake"
    day = NOW.strftime("%Y-%m-%d")
    # WELL-00001: 120 normal readings ending now; WELL-00002: an old event (2 h ago)
    recent = sensor_rows(120, start=NOW - timedelta(seconds=119), instance_id="i1")
    old = sensor_rows(60, start=NOW - timedelta(hours=2), event_class=2, instance_id="i2")
    write_lake_file(lake, "sensors", {"dt": day, "well_id": "WELL-00001"}, recent)
    write_lake_file(lake, "sensors", {"dt": day, "well_id": "WELL-00002"}, old)
    alerts = pa.table(
        {
            "alert_id": ["a1", "a1", "a2"],
            "well_id": ["WELL-00001", "WELL-00001", "WELL-00002"],
            "status": ["open", "closed", "open"],
        }
    )
    write_lake_file(lake, "alerts", {"dt": day}, alerts)
    catalog, _ = Crawler(str(lake)).crawl(None)
    engine = DuckDBEngine(catalog, threads=1)
    yield engine
    engine.close()


def test_the_shipped_set_is_complete_and_described():
    queries = named_queries()
    assert set(queries) == EXPECTED
    for query in queries.values():
        assert query.description and not query.description.startswith("@")
    assert named_query("pressure_series").params == {"well_id": None, "bucket_seconds": "60"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_named_query_transpiles_to_athena_and_duckdb(name):
    query = named_query(name)
    params = {k: v or "WELL-00001" for k, v in query.params.items()}
    for dialect in ("athena", "duckdb"):
        assert prepare(query.sql, tables={"sensors", "alerts"}, params=params, dialect=dialect).sql


def test_avg_pressure_last_hour_keeps_only_the_last_hour(engine):
    query = named_query("avg_pressure_last_hour")
    result = engine.execute(query.sql, params=query.bind({}))
    # the old event is 2 hours back: only NORMAL readings of the last hour remain
    assert result.columns == ["event_type", "readings", "avg_p_pdg", "avg_p_tpt"]
    assert result.rows == [("NORMAL", 120, 1.0e7 + 59.5, 2.0e7 + 59.5)]
    wider = engine.execute(query.sql, params=query.bind({"hours": "3"}))
    assert [r[0] for r in wider.rows] == ["NORMAL", "SPURIOUS_CLOSURE_OF_DHSV"]


def test_events_latest_alerts_and_completeness(engine):
    events = engine.execute(named_query("events_per_well").sql)
    assert [(r[0], r[1], r[2], r[3]) for r in events.rows] == [
        ("WELL-00001", "NORMAL", 1, 120),
        ("WELL-00002", "SPURIOUS_CLOSURE_OF_DHSV", 1, 60),
    ]

    query = named_query("latest_reading_per_well")
    latest = engine.execute(query.sql, params=query.bind({}))
    first = latest.records()[0]
    assert first["well_id"] == "WELL-00001"
    assert first["ts"] == NOW and first["p_pdg"] == 1.0e7 + 119

    alerts = engine.execute(named_query("alerts_per_well_per_day").sql)
    day = NOW.strftime("%Y-%m-%d")
    assert alerts.rows == [("WELL-00001", day, 1, 2), ("WELL-00002", day, 1, 1)]


def test_completeness_reads_zero_for_sensors_the_lake_never_saw(engine):
    # the test lake has only p_pdg, p_tpt, t_tpt; canonical columns read as NULL
    result = engine.execute(named_query("completeness_per_sensor").sql)
    well1 = {r[1]: r[4] for r in result.rows if r[0] == "WELL-00001"}
    assert well1 == {
        "p_jus_ckgl": 0.0,
        "p_mon_ckp": 0.0,
        "p_pdg": 1.0,
        "p_tpt": 1.0,
        "qgl": 0.0,
        "t_jus_ckp": 0.0,
        "t_tpt": 1.0,
    }


def test_pressure_series_buckets_one_well(engine):
    query = named_query("pressure_series")
    result = engine.execute(query.sql, params=query.bind({"well_id": "WELL-00001"}))
    assert sum(r[1] for r in result.rows) == 120
    assert all(r[0].second == 0 for r in result.rows)  # 60 s buckets on the minute
    assert result.types[0] == "timestamp"  # one UTC timestamp type locally (docs)
    with pytest.raises(QueryError, match="needs --param well_id=VALUE"):
        query.bind({})
    with pytest.raises(QueryError, match="has no parameter wel"):
        query.bind({"wel": "x"})
