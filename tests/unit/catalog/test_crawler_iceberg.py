"""The crawler catalogs the Iceberg tables from their current snapshot: a killed flush's
files are never counted, a rewrite's inputs leave, and a kept crawler reads new footers only."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from petrostream.catalog.crawler import Crawler
from petrostream.lake.maintain import maintain
from petrostream.lake.tables import DEFS, commit_append
from petrostream.lake.writer import LakeWriter
from petrostream.query.duckdb_engine import DuckDBEngine
from petrostream.testing.lake import put_readings, reading


def count(catalog, sql: str = "SELECT count(*), count(DISTINCT (instance_id, source_ts))"):
    engine = DuckDBEngine(catalog)
    try:
        return engine.execute(f"{sql} FROM sensors").rows[0]
    finally:
        engine.close()


def fill(stream, catalog, start: int, n: int) -> None:
    put_readings(stream, [reading(i, well_id=f"WELL-0000{i % 2}") for i in range(start, start + n)])
    LakeWriter(stream, catalog).run(drain=True)


def test_a_file_in_no_snapshot_is_not_cataloged(stream, catalog, home):
    # given: two flushes, and a file a killed flush left in a partition folder
    fill(stream, catalog, 0, 50)
    fill(stream, catalog, 50, 50)
    first = sorted((home / "lake").rglob("sensors/data/*/*/*.parquet"))[0]
    (first.parent / "killed.parquet").write_bytes(first.read_bytes())
    # when
    crawled, report = Crawler(str(home / "lake"), home=home).crawl(None)
    # then
    assert count(crawled) == (100, 100)
    assert sum(p.file_count for p in crawled.tables["sensors"].partitions.values()) == 4
    assert not report.problems


def test_after_maintain_the_catalog_lists_the_new_files_and_counts_the_same(stream, catalog, home):
    # given: a crawled lake of small files
    for k in range(4):
        fill(stream, catalog, k * 30, 30)
    crawler = Crawler(str(home / "lake"), home=home)
    crawled, _ = crawler.crawl(None)
    files_before = sum(p.file_count for p in crawled.tables["sensors"].partitions.values())
    # when: maintain rewrites them, and the same crawler crawls again
    maintain(catalog, "sensors")
    crawled, report = crawler.crawl(crawled)
    # then
    files_after = sum(p.file_count for p in crawled.tables["sensors"].partitions.values())
    assert (files_before, files_after) == (8, 2)
    assert report.files_removed == 8 and report.files_read == 2
    assert count(crawled) == (120, 120)


def test_a_kept_crawler_reads_the_footers_of_new_files_only(stream, catalog, home):
    # given: a crawled lake
    fill(stream, catalog, 0, 40)
    crawler = Crawler(str(home / "lake"), home=home)
    crawled, first = crawler.crawl(None)
    # when: one more flush, crawled again
    fill(stream, catalog, 40, 40)
    crawled, second = crawler.crawl(crawled)
    # then
    assert first.files_read == 2
    assert (second.files_read, second.files_unchanged) == (2, 2)
    assert count(crawled) == (80, 80)


def test_the_report_names_the_snapshot_each_column_arrived_in(stream, catalog, home):
    # given: readings, then an append that brings a sensor the table did not have
    fill(stream, catalog, 0, 20)
    table = catalog.load_table(DEFS["sensors"].identifier)
    first = table.current_snapshot()
    novel = pa.table({
        "well_id": ["WELL-00001"],
        "ts": pa.array([datetime(2024, 5, 2, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        "q_novel": [1.5],
    })  # fmt: skip
    last = commit_append(table, novel).current_snapshot()
    # when
    _, report = Crawler(str(home / "lake"), home=home).crawl(None)
    # then
    steps = report.schema_history["sensors"]
    assert steps[0][0] == first.snapshot_id and "p_pdg" in steps[0][2]
    assert steps[-1][0] == last.snapshot_id and steps[-1][2] == ["q_novel"]
    assert f"schema of sensors: snapshot {last.snapshot_id} (" in report.history_lines()[-1]
    assert report.history_lines()[-1].endswith("): + q_novel")
