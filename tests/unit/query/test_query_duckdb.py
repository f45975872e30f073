"""The local engine: views over the catalog's files, pruning, safety, limits, output."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from petrostream.catalog.crawler import Crawler
from petrostream.catalog.local import LocalCatalogStore
from petrostream.query.base import (
    CatalogMissing,
    QueryBusy,
    QueryError,
    QueryLimits,
    QueryResult,
    QueryTimeout,
    QueryTooLarge,
)
from petrostream.query.duckdb_engine import DuckDBEngine
from petrostream.query.output import format_result
from petrostream.testing.lakefiles import sensor_rows, write_lake_file

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def build(lake: Path, tmp_path: Path) -> DuckDBEngine:
    catalog, _ = Crawler(str(lake)).crawl(None)
    store = LocalCatalogStore(tmp_path / "catalog.json")
    store.save(catalog)
    return DuckDBEngine.from_catalog_file(store.path, threads=1)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    for day in (1, 2):
        for well in ("WELL-00001", "WELL-00002", "WELL-00003"):
            rows = sensor_rows(100, start=T0 + timedelta(days=day - 1))
            write_lake_file(lake, "sensors", {"dt": f"2024-05-0{day}", "well_id": well}, rows)
    return lake


@pytest.fixture
def engine(lake: Path, tmp_path: Path):
    engine = build(lake, tmp_path)
    yield engine
    engine.close()


def test_tables_answer_qualified_and_unqualified_with_partition_columns(engine):
    qualified = engine.execute(
        'SELECT well_id, dt, count(*) AS n FROM "petrostream_db"."sensors" '
        "GROUP BY well_id, dt ORDER BY well_id, dt"
    )
    plain = engine.execute("SELECT count(*) AS n FROM sensors")

    assert qualified.columns == ["well_id", "dt", "n"]
    assert qualified.types == ["varchar", "varchar", "bigint"]
    assert qualified.rows[0] == ("WELL-00001", "2024-05-01", 100)
    assert len(qualified.rows) == 6
    assert plain.rows == [(600,)]


def test_timestamps_are_utc_and_session_time_zone_is_utc(engine):
    result = engine.execute(
        "SELECT min(ts) AS first, hour(min(ts)) AS h, typeof(min(ts)) AS t FROM sensors"
    )
    first, hour, _ = result.rows[0]
    assert first == T0
    assert first.utcoffset() == timedelta(0)
    assert hour == 10
    # the lake's UTC ts is Athena's `timestamp` (as the Glue table types it)
    assert result.types[0] == "timestamp"


@pytest.mark.parametrize(
    ("where", "files"),
    [
        ("well_id = 'WELL-00002'", 2),
        ("dt = '2024-05-02'", 3),
        ("dt = '2024-05-02' AND well_id = 'WELL-00003'", 1),
        ("well_id IN ('WELL-00001', 'WELL-00003')", 4),
    ],
)
def test_filters_on_dt_and_well_id_prune_files(engine, where, files):
    plan = engine.explain(f"SELECT avg(p_pdg) FROM sensors WHERE {where}")
    assert f"Total Files Read: {files}" in plan
    assert "Scanning Files: " + f"{files}/6" in plan


def test_pruned_partitions_are_never_opened(lake, tmp_path):
    # given a catalogued lake where every file but one partition's is then destroyed,
    # except the first file of the view's list, whose footer DuckDB reads at bind
    # time for the schema (one footer per group of files with the same columns)
    engine = build(lake, tmp_path)
    for path in sorted(lake.rglob("*.parquet"))[1:]:
        if "WELL-00002" not in str(path) or "2024-05-01" not in str(path):
            path.write_bytes(b"garbage" * 100)

    # when querying that one partition, the query still works
    result = engine.execute(
        "SELECT count(*) FROM sensors WHERE dt = '2024-05-01' AND well_id = 'WELL-00002'"
    )
    assert result.rows == [(100,)]

    # and a query over everything fails with the crawl advice, not a traceback
    with pytest.raises(QueryError):
        engine.execute("SELECT count(*) FROM sensors")


def test_files_with_different_columns_union_with_nulls(lake, tmp_path):
    write_lake_file(
        lake,
        "sensors",
        {"dt": "2024-05-03", "well_id": "WELL-00001"},
        sensor_rows(10, start=T0 + timedelta(days=2), columns=("p_pdg", "aber_ckp")),
    )
    engine = build(lake, tmp_path)

    result = engine.execute(
        "SELECT dt, count(aber_ckp) AS a, count(p_tpt) AS t, count(*) AS n FROM sensors "
        "GROUP BY dt ORDER BY dt"
    )

    assert result.rows == [
        ("2024-05-01", 0, 300, 300),
        ("2024-05-02", 0, 300, 300),
        ("2024-05-03", 10, 0, 10),
    ]


def test_type_conflict_reads_with_the_catalog_type(lake, tmp_path):
    odd = sensor_rows(3, start=T0).set_column(3, "p_pdg", pa.array(["1.5", "x", "3"]))
    write_lake_file(lake, "sensors", {"dt": "2024-05-04", "well_id": "WELL-00001"}, odd)
    engine = build(lake, tmp_path)

    result = engine.execute(
        "SELECT p_pdg FROM sensors WHERE dt = '2024-05-04' ORDER BY p_pdg NULLS LAST"
    )

    assert result.types == ["double"]
    assert result.rows == [(1.5,), (3.0,), (None,)]


def test_row_limit_truncates_and_says_so(engine):
    result = engine.execute("SELECT ts FROM sensors", limit=7)
    assert len(result.rows) == 7 and result.truncated
    assert not engine.execute("SELECT ts FROM sensors", limit=600).truncated


def test_timeout_interrupts_a_long_query(engine):
    slow = "SELECT count(*) FROM sensors a, sensors b, sensors c, sensors d"
    with pytest.raises(QueryTimeout, match="interrupted after 0.2 s"):
        engine.execute(slow, timeout=0.2)
    # the connection still answers afterwards
    assert engine.execute("SELECT 1 AS one").rows == [(1,)]


def test_binder_error_points_at_the_users_line(engine):
    with pytest.raises(QueryError) as info:
        engine.execute("SELECT well_id,\n  avg(p_pgd) AS p\nFROM sensors GROUP BY 1")
    text = str(info.value)
    assert 'Referenced column "p_pgd" not found' in text
    assert "at line 2, column 7:\n    avg(p_pgd) AS p\n        ^^^^^" in text
    assert "AVG(" not in text  # not the transpiled text


def test_connection_has_no_file_access_even_behind_the_guard(engine, tmp_path):
    # the guard refuses read_csv; this checks DuckDB's own lock as a second wall
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with engine.connection() as con:
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_csv('{secret}')").fetchall()
        with pytest.raises(duckdb.InvalidInputException, match="locked"):
            con.execute("SET enable_external_access = true")


def test_without_catalog_the_message_says_run_crawl(tmp_path):
    with pytest.raises(CatalogMissing, match="run `petrostream crawl` first"):
        DuckDBEngine.from_catalog_file(tmp_path / "catalog.json")


def test_table_not_in_catalog_is_an_unknown_table(engine):
    with pytest.raises(QueryError, match="unknown table alerts: petrostream_db has sensors"):
        engine.execute("SELECT * FROM alerts")


def test_output_prints_values_as_athena_does():
    # given a result with a timestamp, a double, a bigint, a date, a boolean and NULLs
    result = QueryResult(
        columns=["ts", "p", "n", "day", "ok"],
        types=["timestamp", "double", "bigint", "date", "boolean"],
        rows=[(T0, 3.0e7, 3, T0.date(), True), (None, float("nan"), None, None, None)],
    )

    # then JSON carries numbers as numbers, NaN as "NaN" and times as Athena's text
    assert json.loads(format_result(result, "json")) == [
        {"ts": "2024-05-01 10:00:00.000", "p": 3.0e7, "n": 3, "day": "2024-05-01", "ok": True},
        {"ts": None, "p": "NaN", "n": None, "day": None, "ok": None},
    ]
    # and CSV quotes every value as Athena's result files do, NULL left empty
    assert format_result(result, "csv").splitlines() == [
        '"ts","p","n","day","ok"',
        '"2024-05-01 10:00:00.000","3.0E7","3","2024-05-01","true"',
        ',"NaN",,,',
    ]
    # and the table shows the same text, NULL as NULL
    table = format_result(result, "table").splitlines()
    assert table[0].split() == ["ts", "p", "n", "day", "ok"]
    assert table[2].split() == ["2024-05-01", "10:00:00.000", "3.0E7", "3", "2024-05-01", "true"]
    assert table[3].split() == ["NULL", "NaN", "NULL", "NULL", "NULL"]


def test_refresh_picks_up_a_new_crawl(lake, tmp_path, engine):
    write_lake_file(
        lake, "sensors", {"dt": "2024-05-09", "well_id": "WELL-00009"}, sensor_rows(5, start=T0)
    )
    catalog, _ = Crawler(str(lake)).crawl(engine.catalog)

    engine.refresh(catalog)

    assert engine.execute("SELECT count(*) FROM sensors").rows == [(605,)]


SLOW = "SELECT sum(a.p_pdg * b.p_tpt * c.t_tpt) FROM sensors a, sensors b, sensors c"


def _run_in_thread(engine: DuckDBEngine, sql: str, **kwargs) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(engine.execute(sql, **kwargs))
        except QueryError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_slow_query_and_a_fast_one_run_side_by_side(lake, tmp_path):
    # given an engine of two slots with a slow cross join running
    catalog, _ = Crawler(str(lake)).crawl(None)
    engine = DuckDBEngine(catalog, threads=1, limits=QueryLimits(concurrent=2))
    slow, outcome = _run_in_thread(engine, SLOW, timeout=120)
    assert engine.pool.wait_running(1, timeout=60)

    # when a fast query comes, it answers while the slow one still runs
    assert engine.execute("SELECT 1 AS one").rows == [(1,)]
    assert slow.is_alive() and not outcome

    # and closing the engine stops the slow one with a sentence
    engine.close()
    slow.join()
    assert isinstance(outcome[0], QueryError) and "shutting down" in str(outcome[0])


def test_past_its_slots_a_query_waits_then_says_busy(lake, tmp_path):
    catalog, _ = Crawler(str(lake)).crawl(None)
    engine = DuckDBEngine(catalog, threads=1, limits=QueryLimits(concurrent=1))
    slow, _ = _run_in_thread(engine, SLOW, timeout=120)
    assert engine.pool.wait_running(1, timeout=60)
    with pytest.raises(QueryBusy, match="1 queries were still running"):
        engine.execute("SELECT 1", timeout=0.2)
    engine.close()
    slow.join()


def test_a_query_past_its_memory_is_too_large_and_spills_inside_the_home(
    lake, tmp_path, monkeypatch
):
    # given an engine whose queries may use 64 MB and spill into <home>/tmp/duckdb,
    # started from another folder
    cwd = tmp_path / "started-here"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    spill = tmp_path / "home" / "tmp" / "duckdb"
    catalog, _ = Crawler(str(lake)).crawl(None)
    limits = QueryLimits(memory="64MB", temp_directory=spill)
    engine = DuckDBEngine(catalog, threads=1, limits=limits)

    # when a sort larger than that runs (without spilling it fails: out of memory),
    # it spills into the home and answers
    sort = "SELECT count(*) FROM (SELECT unnest(range(2000000)) AS i ORDER BY random())"
    assert engine.execute(sort, timeout=300).rows == [(2000000,)]
    assert spill.is_dir()
    assert list(cwd.iterdir()) == []  # nothing in the folder it was started from

    # and what cannot spill is a QueryTooLarge with the limit in the message
    with pytest.raises(QueryTooLarge, match="64MB"):
        engine.execute("SELECT list(i) FROM (SELECT unnest(range(20000000)) AS i)", timeout=300)
    engine.close()


def test_a_result_past_its_byte_limit_is_too_large(lake, tmp_path):
    catalog, _ = Crawler(str(lake)).crawl(None)
    engine = DuckDBEngine(catalog, threads=1, limits=QueryLimits(max_result_bytes=100_000))
    assert len(engine.execute("SELECT ts FROM sensors").rows) == 600
    with pytest.raises(QueryTooLarge, match="larger than 0.1 MB"):
        engine.execute("SELECT lpad('x', 10000, 'y') FROM sensors")
    engine.close()
