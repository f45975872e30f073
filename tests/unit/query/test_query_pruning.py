"""File pruning on the Iceberg views (issue 15.5): a query reads only the files its filters
on ``ts`` / ``dt`` / ``well_id`` can match, and answers exactly as over every file."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from petrostream.catalog.base import Catalog
from petrostream.catalog.crawler import Crawler
from petrostream.lake.tables import commit_append, open_catalog, open_table
from petrostream.query.duckdb_engine import PRUNE_MIN_FILES, DuckDBEngine

START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 4
WELLS = [f"WELL-{w:05d}" for w in (1, 2, 3, 7, 12)]
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rows(day: int, well: str, n: int, offset_s: int) -> pa.Table:
    """n readings of one well on one day, the first at midnight + offset, the last at 23:59."""
    t0 = START + timedelta(days=day)
    span = 86_400 - 1 - offset_s
    ts = [t0 + timedelta(seconds=offset_s + span * k // (n - 1)) for k in range(n)]
    return pa.table(
        {
            "well_id": [well] * n,
            "instance_id": [f"{well}_{day}"] * n,
            "ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
            "source_ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
            "p_pdg": [float(day * 1000 + k) for k in range(n)],
            "event_class": pa.array([0] * n, pa.int32()),
            "event_type": ["NORMAL"] * n,
        }
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """5 wells x 4 days in two commits a day (so a partition can hold two files), crawled."""
    home: Path = tmp_path_factory.mktemp("pruning")
    table = open_table(open_catalog(home, str(home / "lake")), "sensors")
    for day in range(DAYS):
        for half, offset in ((0, 0), (1, 3600)):
            parts = [_rows(day, w, 12, offset) for w in WELLS[half::2]]
            table = commit_append(table, parts)
    catalog, _ = Crawler(str(home / "lake"), home=home).crawl(None)
    return catalog


@pytest.fixture(scope="module")
def engines(lake: Catalog):
    pruned, full = DuckDBEngine(lake), DuckDBEngine(lake, prune=False)
    yield pruned, full
    pruned.close()
    full.close()


def _files_read(engine: DuckDBEngine, sql: str) -> int:
    plan = engine.explain(sql)
    return sum(int(n) for n in re.findall(r"Total Files Read: (\d+)", plan))


# ---------------------------------------------------------------- the catalog


def test_the_crawl_records_each_files_ts_and_well_bounds(lake):
    files = [f for p in lake.tables["sensors"].partitions.values() for f in p.files.values()]
    assert len(files) == DAYS * len(WELLS)
    for f in files:
        (ts_low, ts_high), (well_low, well_high) = f.bounds["ts"], f.bounds["well_id"]
        assert ts_low <= ts_high and isinstance(ts_low, int)
        assert well_low == well_high and well_low in WELLS  # one well per file here


def test_bounds_survive_the_catalog_file_and_an_old_file_loads_without_them(lake):
    again = Catalog.from_dict(lake.to_dict())
    assert again.tables["sensors"].partitions == lake.tables["sensors"].partitions
    data = lake.to_dict()
    for p in data["tables"]["sensors"]["partitions"].values():
        p["files"] = {name: f[:4] for name, f in p["files"].items()}  # a catalog of before
    old = Catalog.from_dict(data)
    files = [f for p in old.tables["sensors"].partitions.values() for f in p.files.values()]
    assert files and all(f.bounds == {} for f in files)


# ---------------------------------------------------------------- what is pruned


WELL_DAY_BY_TS = (
    "SELECT count(*), sum(p_pdg), max(ts) FROM petrostream_db.sensors "
    "WHERE ts >= TIMESTAMP '2026-03-02 00:00:00' "
    "AND ts < TIMESTAMP '2026-03-02 00:00:00' + INTERVAL '1' DAY AND well_id = 'WELL-00007'"
)


@pytest.mark.parametrize(
    "sql",
    [
        WELL_DAY_BY_TS,
        "SELECT count(*), sum(p_pdg) FROM sensors "
        "WHERE dt = '2026-03-02' AND well_id = 'WELL-00007'",
        "SELECT count(*), sum(p_pdg) FROM sensors WHERE well_id = 'WELL-00007' AND ts BETWEEN "
        "from_iso8601_timestamp('2026-03-02T00:00:00Z') AND TIMESTAMP '2026-03-02 23:59:59.999'",
    ],
)
def test_a_well_day_opens_at_most_two_files(engines, sql):
    pruned, full = engines
    assert _files_read(full, sql) == DAYS * len(WELLS)
    assert 1 <= _files_read(pruned, sql) <= 2
    assert pruned.execute(sql).rows == full.execute(sql).rows
    assert pruned.execute(sql).rows[0][0] == 12


def test_a_filter_no_file_can_match_answers_with_the_same_columns(engines):
    pruned, full = engines
    sql = "SELECT well_id, ts, dt, p_pdg FROM sensors WHERE well_id = 'WELL-99999'"
    got, want = pruned.execute(sql), full.execute(sql)
    assert got.rows == want.rows == []
    assert (got.columns, got.types) == (want.columns, want.types)


@pytest.mark.parametrize(
    "sql",
    [
        # a self-join, a function of ts, now(), NOT, a shadowing WITH, OR with another
        # column, a subquery
        "SELECT count(*) FROM sensors a JOIN sensors b ON a.ts = b.ts "
        "WHERE a.well_id = 'WELL-00001'",
        "SELECT count(*) FROM sensors WHERE date(ts) = DATE '2026-03-02'",
        "SELECT count(*) FROM sensors WHERE ts < now() - INTERVAL '1' DAY",
        "SELECT count(*) FROM sensors WHERE NOT (well_id = 'WELL-00001')",
        "WITH sensors AS (SELECT * FROM petrostream_db.sensors) "
        "SELECT count(*) FROM sensors WHERE well_id = 'WELL-00001'",
        "SELECT count(*) FROM sensors WHERE well_id = 'WELL-00001' OR p_pdg > 2500",
        "SELECT count(*) FROM sensors WHERE ts IN (SELECT max(ts) FROM sensors)",
        "SELECT count(*) FROM petrostream_db.sensors "
        "WHERE petrostream_db.sensors.well_id = 'WELL-00001'",
    ],
)
def test_what_cannot_be_proved_reads_every_file_and_answers_the_same(engines, sql):
    pruned, full = engines
    result = pruned.execute(sql)
    assert "__pruned_" not in result.sql
    assert result.rows == full.execute(sql).rows


def test_a_subquery_and_a_cte_on_the_table_are_each_pruned(engines):
    pruned, full = engines
    sql = (
        "WITH day AS (SELECT * FROM sensors WHERE dt = '2026-03-03') "
        "SELECT (SELECT count(*) FROM day), count(*) FROM sensors "
        "WHERE well_id IN ('WELL-00002', 'WELL-00003')"
    )
    result = pruned.execute(sql)
    assert "__pruned_sensors_0" in result.sql and "__pruned_sensors_1" in result.sql
    assert result.rows == full.execute(sql).rows == [(12 * len(WELLS), 12 * 2 * DAYS)]


def test_time_travel_still_reads_its_snapshot(engines, lake):
    pruned, _ = engines
    first = pruned._iceberg(lake.tables["sensors"]).snapshots()[0].snapshot_id
    sql = f"SELECT count(*) FROM sensors FOR VERSION AS OF {first} WHERE well_id = 'WELL-00001'"
    assert pruned.execute(sql).rows == [(12,)]


# ---------------------------------------------------------------- pruned == unpruned

# Instants that sit on the files' edges: midnight, the first reading of the second commit
# (01:00), the last of the day (23:59:59), and a millisecond either side.
_EDGES = [
    START + timedelta(days=d, seconds=s) + timedelta(milliseconds=ms)
    for d in range(-1, DAYS + 1)
    for s in (0, 3600, 86_399)
    for ms in (-1, 0, 1)
]


def _timestamp(t: datetime) -> st.SearchStrategy[str]:
    text = t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    iso = t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    day = t.strftime("%Y-%m-%d")
    return st.sampled_from(
        [
            f"TIMESTAMP '{text}'",
            f"TIMESTAMP '{text} UTC'",
            f"from_iso8601_timestamp('{iso}')",
            f"DATE '{day}'",
            f"TIMESTAMP '{text}' - INTERVAL '1' HOUR",
        ]
    )


_OPS = st.sampled_from(["=", "<", "<=", ">", ">=", "<>"])
_TS = st.sampled_from(_EDGES).flatmap(_timestamp)
_DAYS = [(START + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(-1, DAYS + 1)]
_DT = st.sampled_from([*_DAYS, "2026-3-1"])
_WELL = st.sampled_from([*WELLS, "WELL-00000", "WELL-00005", "WELL-9", "A", "Z"])


def _atom() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda op, v: f"ts {op} {v}", _OPS, _TS),
        st.builds(lambda op, v: f"{v} {op} ts", _OPS, _TS),
        st.builds(lambda a, b: f"ts BETWEEN {a} AND {b}", _TS, _TS),
        st.builds(lambda vs: f"ts IN ({', '.join(vs)})", st.lists(_TS, min_size=1, max_size=3)),
        st.builds(lambda op, v: f"dt {op} '{v}'", _OPS, _DT),
        st.builds(lambda a, b: f"dt BETWEEN '{a}' AND '{b}'", _DT, _DT),
        st.builds(lambda op, v: f"well_id {op} '{v}'", _OPS, _WELL),
        st.builds(lambda op, v: f"s.well_id {op} '{v}'", _OPS, _WELL),
        st.builds(
            lambda vs: "well_id IN (" + ", ".join(f"'{v}'" for v in vs) + ")",
            st.lists(_WELL, min_size=1, max_size=3),
        ),
        st.builds(lambda op, v: f"p_pdg {op} {v}", _OPS, st.integers(0, 4000)),
    )


_WHERE = st.recursive(
    _atom(),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a} AND {b})", inner, inner),
        st.builds(lambda a, b: f"({a} OR {b})", inner, inner),
        st.builds(lambda a: f"NOT ({a})", inner),
    ),
    max_leaves=5,
)


@FAST
@given(where=_WHERE)
def test_pruned_and_unpruned_give_the_same_answer(engines, where):
    pruned, full = engines
    sql = (
        "SELECT count(*), sum(p_pdg), min(ts), max(ts), count(DISTINCT well_id) "
        f"FROM petrostream_db.sensors AS s WHERE {where}"
    )
    assert pruned.execute(sql).rows == full.execute(sql).rows


def test_every_comparison_on_every_edge_gives_the_same_answer(engines):
    """Each operator against each instant on a file's bound (exhaustive: the edges matter)."""
    pruned, full = engines
    wheres = [
        f"ts {op} TIMESTAMP '{t.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}'"
        for t in _EDGES
        for op in ("=", "<", "<=", ">", ">=")
    ]
    wheres += [f"dt {op} '{d}'" for d in _DAYS for op in ("=", "<", ">")]
    wheres += [f"well_id {op} '{w}'" for w in ("WELL-00001", "WELL-00012") for op in ("<", ">")]
    pruning = 0
    for where in wheres:
        sql = f"SELECT count(*), sum(p_pdg) FROM sensors WHERE {where}"
        result = pruned.execute(sql)
        pruning += "__pruned_" in result.sql
        assert result.rows == full.execute(sql).rows, where
    assert pruning > len(wheres) // 2  # most of them prune


def test_a_table_of_few_files_is_read_whole(tmp_path):
    """Below PRUNE_MIN_FILES planning costs more than it saves: no pruned view."""
    table = open_table(open_catalog(tmp_path, str(tmp_path / "lake")), "sensors")
    table = commit_append(table, [_rows(0, w, 12, 0) for w in WELLS])
    catalog, _ = Crawler(str(tmp_path / "lake"), home=tmp_path).crawl(None)
    assert catalog.tables["sensors"].file_count < PRUNE_MIN_FILES
    engine = DuckDBEngine(catalog)
    try:
        result = engine.execute(WELL_DAY_BY_TS.replace("2026-03-02", "2026-03-01"))
    finally:
        engine.close()
    assert "__pruned_" not in result.sql and result.rows[0][0] == 12


@pytest.mark.aws
def test_on_an_s3_lake_the_planned_files_are_the_scanned_dataset(aws_env, tmp_path):
    import boto3

    s3 = boto3.client("s3")
    bucket = "petrostream-pruning-test"
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/lake-{tmp_path.name}"
    table = open_table(open_catalog(tmp_path, uri), "sensors")
    for day in range(DAYS):
        table = commit_append(table, [_rows(day, w, 12, 0) for w in WELLS])
    catalog, _ = Crawler(uri, home=tmp_path).crawl(None)
    pruned, full = DuckDBEngine(catalog), DuckDBEngine(catalog, prune=False)
    try:
        for sql in (
            WELL_DAY_BY_TS,
            "SELECT count(*), sum(p_pdg) FROM sensors WHERE dt < '2026-03-02'",
        ):
            result = pruned.execute(sql)
            assert "__pruned_sensors_0" in result.sql
            assert result.rows == full.execute(sql).rows
            assert result.rows[0][0] in (12, 12 * len(WELLS))
    finally:
        pruned.close()
        full.close()
