"""Athena's time travel on the local engine: ``FOR VERSION AS OF`` / ``FOR TIMESTAMP AS OF``
read the files of that snapshot of an Iceberg table; one it lacks is a sentence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from petrostream.catalog.crawler import Crawler
from petrostream.lake.tables import DEFS
from petrostream.lake.writer import LakeWriter
from petrostream.query.base import QueryError
from petrostream.query.duckdb_engine import DuckDBEngine
from petrostream.testing.lake import put_readings, reading


def _at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@pytest.fixture
def history(stream, catalog, home):
    """Three flushes of 30, 40 and 50 readings; each snapshot with the rows it holds."""
    snapshots = []
    start = 0
    for n in (30, 40, 50):
        put_readings(stream, [reading(i, well_id="WELL-00001") for i in range(start, start + n)])
        LakeWriter(stream, catalog).run(drain=True)
        start += n
        snapshot = catalog.load_table(DEFS["sensors"].identifier).current_snapshot()
        snapshots.append((snapshot.snapshot_id, snapshot.timestamp_ms, start))
    crawled, _ = Crawler(str(home / "lake"), home=home).crawl(None)
    engine = DuckDBEngine(crawled)
    yield engine, snapshots
    engine.close()


def test_for_version_as_of_counts_the_rows_of_that_snapshot(history):
    engine, snapshots = history
    for snapshot_id, _, rows in snapshots:
        sql = f"SELECT count(*) FROM petrostream_db.sensors FOR VERSION AS OF {snapshot_id}"
        assert engine.execute(sql).rows == [(rows,)]
    assert engine.execute("SELECT count(*) FROM sensors").rows == [(120,)]


def test_for_timestamp_as_of_reads_the_snapshot_current_then(history):
    engine, snapshots = history
    (_, first_ms, first_rows), (_, second_ms, second_rows), _ = snapshots
    at_second = f"TIMESTAMP '{_at(second_ms)} UTC'"
    just_before = f"TIMESTAMP '{_at(second_ms)} UTC' - INTERVAL '1' SECOND"
    got = engine.execute(f"SELECT count(*) FROM sensors FOR TIMESTAMP AS OF {at_second}").rows
    assert got == [(second_rows,)]
    if second_ms - first_ms > 1000:  # a second before the 2nd commit is after the 1st
        got = engine.execute(f"SELECT count(*) FROM sensors FOR TIMESTAMP AS OF {just_before}")
        assert got.rows == [(first_rows,)]


def test_a_pinned_table_keeps_its_alias_beside_the_current_one(history):
    engine, snapshots = history
    first_id = snapshots[0][0]
    sql = (
        "SELECT count(*) FROM sensors AS now_ LEFT JOIN sensors "
        f"FOR VERSION AS OF {first_id} AS then_ "
        "ON now_.source_ts = then_.source_ts AND now_.instance_id = then_.instance_id "
        "WHERE then_.source_ts IS NULL"
    )
    assert engine.execute(sql).rows == [(120 - snapshots[0][2],)]


def test_a_snapshot_the_table_lacks_is_named_with_the_ones_it_has(history):
    engine, snapshots = history
    with pytest.raises(QueryError, match=r"sensors has no snapshot 42 .*latest snapshots: .*"):
        engine.execute("SELECT count(*) FROM sensors FOR VERSION AS OF 42")
    with pytest.raises(QueryError, match=str(snapshots[-1][0])):
        engine.execute("SELECT count(*) FROM sensors FOR VERSION AS OF 42")


def test_a_time_before_the_first_snapshot_is_a_sentence(history):
    engine, _ = history
    with pytest.raises(QueryError, match=r"no snapshot at or before 2001-01-01 00:00:00.000 UTC"):
        engine.execute("SELECT 1 FROM sensors FOR TIMESTAMP AS OF TIMESTAMP '2001-01-01 00:00 UTC'")


def test_a_timestamp_that_does_not_parse_is_a_sentence(history):
    engine, _ = history
    with pytest.raises(
        QueryError, match="is not a timestamp .*TIMESTAMP 'YYYY-MM-DD HH:MM:SS UTC'"
    ):
        engine.execute("SELECT 1 FROM sensors FOR TIMESTAMP AS OF 'last tuesday'")


def test_a_version_that_is_not_an_id_is_a_sentence(history):
    engine, _ = history
    with pytest.raises(QueryError, match="takes a snapshot id"):
        engine.execute("SELECT 1 FROM sensors FOR VERSION AS OF 'yesterday'")
