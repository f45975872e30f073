"""The crawler catalogs a table with a commit log from its committed files only.

A folder can hold an interrupted flush's orphans, or a merged file beside its
inputs; the catalog (and so every query and the dashboard) must not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from petrostream.lake.commitlog import snapshot
from petrostream.lake.compaction import compact

from petrostream.catalog.base import Catalog
from petrostream.catalog.crawler import Crawler
from petrostream.dashboard.data import LakeView
from petrostream.lake.local import LocalLakeStore
from petrostream.lake.writer import LakeWriter
from petrostream.query.duckdb_engine import DuckDBEngine
from petrostream.runtime.alerts_lake import alerts_table
from petrostream.settings import Settings
from petrostream.stream.local import LocalStream
from petrostream.testing.lake import put_readings, reading

MB = 1024 * 1024


class Killed(Exception):
    """Stands for a kill -9 at one put (not an OSError: the writer would retry that)."""


class KilledAt(LocalLakeStore):
    """A lake whose put of a path containing ``marker`` never happens: the process dies."""

    def __init__(self, root: Path, marker: str) -> None:
        super().__init__(root)
        self.marker = marker

    def _put_bytes(self, path: str, data: bytes) -> None:
        if self.marker in path:
            raise Killed(path)
        super()._put_bytes(path, data)


class DiesBeforeDeletingInputs(LocalLakeStore):
    def delete(self, path: str) -> None:
        if path.startswith("sensors/"):
            raise Killed(path)
        super().delete(path)


def write_batches(stream: LocalStream, lake: LocalLakeStore, batches: int, size: int = 50) -> None:
    """``batches`` committed files in one partition (one drained flush each)."""
    for b in range(batches):
        put_readings(stream, [reading(i) for i in range(b * size, (b + 1) * size)])
        LakeWriter(stream, lake).run(drain=True)


def on_disk(lake: LocalLakeStore, table: str = "sensors") -> list[str]:
    return sorted(p.name for p in (lake.root / table).rglob("*.parquet"))


def cataloged(catalog: Catalog, table: str = "sensors") -> list[str]:
    if table not in catalog.tables:
        return []
    return sorted(n for p in catalog.tables[table].partitions.values() for n in p.files)


def committed(lake: LocalLakeStore, table: str = "sensors") -> list[str]:
    return sorted(path.rsplit("/", 1)[-1] for path in snapshot(lake, table))


def count(catalog: Catalog, table: str = "sensors") -> int:
    engine = DuckDBEngine(catalog)
    try:
        return int(engine.execute(f"SELECT count(*) FROM {table}").rows[0][0])
    finally:
        engine.close()


def test_an_orphan_of_an_uncommitted_intent_is_neither_cataloged_nor_counted(stream, lake, home):
    # given: 100 committed readings, then a flush of 50 more killed before its commit
    write_batches(stream, lake, batches=2)
    put_readings(stream, [reading(i) for i in range(100, 150)])
    with pytest.raises(Killed):
        LakeWriter(stream, KilledAt(home / "lake", "/lake-writer/commits/")).run(drain=True)
    assert len(on_disk(lake)) == 3  # the orphan is in the partition folder

    # when
    catalog, report = Crawler(str(lake.root)).crawl(None)

    # then: only the committed files, and the query counts committed readings only
    assert cataloged(catalog) == committed(lake)
    assert len(cataloged(catalog)) == 2
    assert report.files_uncommitted == 1
    assert catalog.tables["sensors"].rows == 100
    assert count(catalog) == 100

    # and when the writer restarts (recovery, then the 50 again) and the lake is crawled again
    LakeWriter(stream, lake).run(drain=True)
    catalog, report = Crawler(str(lake.root)).crawl(catalog)

    # then every reading is counted once
    assert report.files_uncommitted == 0
    assert cataloged(catalog) == committed(lake) == on_disk(lake)
    assert count(catalog) == 150


def test_the_orphans_of_a_first_flush_that_never_committed_are_not_cataloged(stream, lake, home):
    # given: the writer's very first flush dies before its commit (no commit in the log yet)
    put_readings(stream, [reading(i) for i in range(50)])
    with pytest.raises(Killed):
        LakeWriter(stream, KilledAt(home / "lake", "/lake-writer/commits/")).run(drain=True)
    assert len(on_disk(lake)) == 1

    # when
    catalog, report = Crawler(str(lake.root)).crawl(None)

    # then: its intent marks sensors as the log's table, so its folder is not listed
    assert cataloged(catalog) == []
    assert report.files_uncommitted == 1


def test_after_a_compaction_the_catalog_lists_the_merged_file_and_counts_the_same(stream, lake):
    # given: three committed files, crawled and counted
    write_batches(stream, lake, batches=3)
    crawler = Crawler(str(lake.root))
    catalog, _ = crawler.crawl(None)
    before = count(catalog)
    assert before == 150 and len(cataloged(catalog)) == 3

    # when: compaction merges them, and the same crawler crawls again
    report = compact(lake, target_bytes=128 * MB)
    catalog, crawl_report = crawler.crawl(catalog)

    # then
    assert report.merges == 1
    assert cataloged(catalog) == committed(lake) == on_disk(lake)
    assert cataloged(catalog)[0].startswith("compact-")
    assert crawl_report.files_removed == 3 and crawl_report.files_read == 1
    assert count(catalog) == before


@pytest.mark.parametrize(
    ("kill", "visible_on_disk"),
    [
        # the merged file is put, its commit never is: inputs and orphan merged file on disk
        (lambda root: KilledAt(root, "/compaction/commits/"), 4),
        # the commit is put, the inputs are not deleted yet: inputs and merged file on disk
        (lambda root: DiesBeforeDeletingInputs(root), 4),
    ],
    ids=["before-commit", "after-commit"],
)
def test_a_merged_file_beside_its_inputs_is_counted_once(stream, lake, home, kill, visible_on_disk):
    # given: a compaction killed while both the merged file and its inputs are in the folder
    write_batches(stream, lake, batches=3)
    with pytest.raises(Killed):
        compact(kill(home / "lake"), target_bytes=128 * MB)
    assert len(on_disk(lake)) == visible_on_disk

    # when
    catalog, report = Crawler(str(lake.root)).crawl(None)

    # then: the committed side only (the inputs, or the merged file), every reading once
    assert cataloged(catalog) == committed(lake)
    assert report.files_uncommitted == visible_on_disk - len(committed(lake))
    assert count(catalog) == 150


def test_alerts_without_a_commit_log_are_still_crawled_beside_committed_sensors(stream, lake):
    # given: sensors through the lake writer, alerts as the detector exports them (no log)
    write_batches(stream, lake, batches=1)
    rows = [
        {"alert_id": f"a{i}", "well_id": "WELL-00001", "rule": "pressure_jump",
         "ts": f"2024-05-01 12:00:0{i}.000", "value": 1.0}
        for i in range(3)
    ]  # fmt: skip
    lake.write_parquet("alerts/dt=2024-05-01/part-00000001.parquet", alerts_table(rows))

    # when
    catalog, report = Crawler(str(lake.root)).crawl(None)

    # then: alerts are cataloged from their folder, sensors from the log
    assert sorted(report.new_tables) == ["alerts", "sensors"]
    assert cataloged(catalog, "alerts") == ["part-00000001.parquet"]
    assert count(catalog, "alerts") == 3
    assert count(catalog) == 50
    assert report.files_uncommitted == 0


def test_a_kept_crawler_reads_the_footers_of_new_committed_files_only(stream, lake):
    # given: a crawl of two committed files
    write_batches(stream, lake, batches=2)
    crawler = Crawler(str(lake.root))
    catalog, _ = crawler.crawl(None)

    # when: one more commit, crawled by the same crawler
    put_readings(stream, [reading(i) for i in range(100, 130)])
    LakeWriter(stream, lake).run(drain=True)
    catalog, report = crawler.crawl(catalog)

    # then
    assert (report.files_read, report.files_unchanged) == (1, 2)
    assert count(catalog) == 130


def test_the_dashboard_view_counts_committed_readings_only(stream, lake, home):
    # given: committed readings and an interrupted flush's orphan
    write_batches(stream, lake, batches=1)
    put_readings(stream, [reading(i) for i in range(50, 80)])
    with pytest.raises(Killed):
        LakeWriter(stream, KilledAt(home / "lake", "/lake-writer/commits/")).run(drain=True)
    view = LakeView(Settings(home=home), interval=0.0)

    try:
        # when / then: the dashboard's in-memory crawl leaves the orphan out
        assert int(view.execute("SELECT count(*) FROM sensors").rows[0][0]) == 50
        # and after recovery it sees the readings once
        LakeWriter(stream, lake).run(drain=True)
        assert int(view.execute("SELECT count(*) FROM sensors").rows[0][0]) == 80
    finally:
        view.close()
