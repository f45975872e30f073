"""The crawler: footers of new files only, Glue's schema policy, removed partitions."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from petrostream.catalog.base import Catalog
from petrostream.catalog.crawler import Crawler, glue_type
from petrostream.catalog.local import LocalCatalogStore
from petrostream.errors import ConfigError
from petrostream.testing.lakefiles import sensor_rows, write_lake_file

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def part(dt: str, well: str) -> dict[str, str]:
    return {"dt": dt, "well_id": well}


def crawl(lake: Path, store: LocalCatalogStore):
    catalog, report = Crawler(str(lake)).crawl(store.load())
    store.save(catalog)
    return catalog, report


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def store(tmp_path: Path) -> LocalCatalogStore:
    return LocalCatalogStore(tmp_path / "catalog.json")


def test_first_crawl_catalogs_tables_columns_partitions_and_ignores_bookkeeping(lake, store):
    # given two sensor partitions, an alerts partition and bookkeeping files
    write_lake_file(lake, "sensors", part("2024-05-01", "WELL-00001"), sensor_rows(10, start=T0))
    write_lake_file(lake, "sensors", part("2024-05-01", "WELL-00002"), sensor_rows(5, start=T0))
    write_lake_file(lake, "sensors", part("2024-05-01", "WELL-00002"), sensor_rows(5, start=T0))
    alerts = pa.table({"alert_id": ["a1"], "well_id": ["WELL-00001"], "severity": ["high"]})
    write_lake_file(lake, "alerts", {"dt": "2024-05-01"}, alerts)
    (lake / "_petrostream").mkdir()
    (lake / "_petrostream" / "commit-1.json").write_text("{}")
    (lake / "sensors" / ".tmp-x.parquet").write_text("partial")

    # when crawling
    catalog, report = crawl(lake, store)

    # then the tables, Glue types, keys and partition stats are known
    sensors = catalog.tables["sensors"]
    assert sorted(report.new_tables) == ["alerts", "sensors"]
    assert [(c.name, c.type) for c in sensors.columns] == [
        ("instance_id", "string"),
        ("ts", "timestamp"),
        ("source_ts", "timestamp"),
        ("p_pdg", "double"),
        ("p_tpt", "double"),
        ("t_tpt", "double"),
        ("event_class", "int"),
        ("event_type", "string"),
        ("state", "int"),
    ]
    assert [(c.name, c.type) for c in sensors.partition_keys] == [
        ("dt", "string"),
        ("well_id", "string"),
    ]
    p2 = sensors.partitions["dt=2024-05-01/well_id=WELL-00002"]
    assert p2.values == ["2024-05-01", "WELL-00002"]
    assert p2.file_count == 2 and p2.rows == 10 and p2.bytes > 0
    assert p2.location == f"{lake}/sensors/dt=2024-05-01/well_id=WELL-00002"
    assert [c.name for c in catalog.tables["alerts"].partition_keys] == ["dt"]
    assert len(sensors.schema_versions) == 1
    assert report.files_read == 4 and not report.problems
    # and the catalog file holds the counts for a human reader
    saved = json.loads(store.path.read_text())
    assert saved["database"] == "petrostream_db"
    assert saved["tables"]["sensors"]["file_count"] == 3


def test_second_crawl_reads_no_footer_of_unchanged_files(lake, store):
    # given a crawled file whose bytes are then corrupted with size and mtime kept
    path = write_lake_file(lake, "sensors", part("2024-05-01", "W1"), sensor_rows(3, start=T0))
    crawl(lake, store)
    stat = path.stat()
    path.write_bytes(b"x" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    # when crawling again
    _, report = crawl(lake, store)

    # then the file was not read (reading it would have reported a bad footer)
    assert report.files_read == 0 and report.files_unchanged == 1
    assert not report.problems and not report.changed
    assert report.lines() == []


def test_changed_file_is_read_again(lake, store):
    path = write_lake_file(lake, "sensors", part("2024-05-01", "W1"), sensor_rows(3, start=T0))
    crawl(lake, store)
    write_lake_file(lake, "sensors", part("2024-05-01", "W1"), sensor_rows(7, start=T0), path.name)

    catalog, report = crawl(lake, store)

    assert report.files_read == 1
    assert catalog.tables["sensors"].rows == 7


def test_new_columns_are_added_as_a_new_schema_version(lake, store):
    write_lake_file(lake, "sensors", part("2024-05-01", "W1"), sensor_rows(3, start=T0))
    crawl(lake, store)
    wider = sensor_rows(3, start=T0, columns=("p_pdg", "p_tpt", "t_tpt", "aber_ckp", "qbs"))
    write_lake_file(lake, "sensors", part("2024-05-02", "W1"), wider)

    catalog, report = crawl(lake, store)

    sensors = catalog.tables["sensors"]
    assert [(t, c.name) for t, c in report.new_columns] == [
        ("sensors", "aber_ckp"),
        ("sensors", "qbs"),
    ]
    assert "new column sensors.aber_ckp double" in report.lines()
    assert [v.version for v in sensors.schema_versions] == [1, 2]
    assert sensors.schema_versions[1].added == ["aber_ckp", "qbs"]
    assert sensors.column_type("qbs") == "double"
    assert "new partition sensors/dt=2024-05-02/well_id=W1" in report.lines()


def test_type_conflict_keeps_the_catalog_type_and_is_reported(lake, store):
    write_lake_file(lake, "sensors", part("2024-05-01", "W1"), sensor_rows(3, start=T0))
    crawl(lake, store)
    odd = sensor_rows(3, start=T0).set_column(3, "p_pdg", pa.array(["1", "2", "3"], pa.string()))
    write_lake_file(lake, "sensors", part("2024-05-02", "W1"), odd, "odd.parquet")

    catalog, report = crawl(lake, store)

    sensors = catalog.tables["sensors"]
    assert sensors.column_type("p_pdg") == "double"
    assert len(sensors.conflicts) == 1
    conflict = sensors.conflicts[0]
    assert (conflict.column, conflict.catalog_type, conflict.found_type) == (
        "p_pdg",
        "double",
        "string",
    )
    assert conflict.file == "sensors/dt=2024-05-02/well_id=W1/odd.parquet"
    assert any(line.startswith("type conflict sensors.p_pdg") for line in report.lines())
    assert len(sensors.schema_versions) == 1


def test_removed_partition_and_file_are_noticed(lake, store):
    keep = write_lake_file(lake, "sensors", part("2024-05-01", "W1"), sensor_rows(3, start=T0))
    extra = write_lake_file(lake, "sensors", part("2024-05-01", "W1"), sensor_rows(3, start=T0))
    gone = write_lake_file(lake, "sensors", part("2024-05-02", "W1"), sensor_rows(3, start=T0))
    crawl(lake, store)
    extra.unlink()
    gone.unlink()
    gone.parent.rmdir()

    catalog, report = crawl(lake, store)

    assert report.removed_partitions == [("sensors", "dt=2024-05-02/well_id=W1")]
    assert report.files_removed == 2
    assert list(catalog.tables["sensors"].partitions) == ["dt=2024-05-01/well_id=W1"]
    assert catalog.tables["sensors"].partitions["dt=2024-05-01/well_id=W1"].file_count == 1
    assert keep.exists()


def test_unreadable_file_is_reported_and_skipped(lake, store):
    write_lake_file(lake, "sensors", part("2024-05-01", "W1"), sensor_rows(3, start=T0))
    bad = lake / "sensors" / "dt=2024-05-01" / "well_id=W2" / "bad.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not parquet at all")

    catalog, report = crawl(lake, store)

    assert list(catalog.tables["sensors"].partitions) == ["dt=2024-05-01/well_id=W1"]
    assert len(report.problems) == 1 and "bad.parquet" in report.problems[0]
    assert "unreadable Parquet footer" in report.problems[0]


def test_missing_lake_is_a_clear_config_error(tmp_path, store):
    with pytest.raises(ConfigError, match="does not exist"):
        Crawler(str(tmp_path / "nowhere")).crawl(None)


def test_catalog_file_round_trips_and_leaves_no_temp_file(lake, store):
    write_lake_file(lake, "sensors", part("2024-05-01", "W1"), sensor_rows(3, start=T0))
    catalog, _ = crawl(lake, store)

    loaded = store.load()

    assert loaded is not None
    assert loaded.to_dict() == catalog.to_dict()
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["catalog.json", "lake"]


def test_corrupt_catalog_file_says_how_to_fix(store):
    store.path.write_text("{not json")
    with pytest.raises(ConfigError, match="run `petrostream crawl`"):
        store.load()


def test_catalog_from_another_lake_is_replaced(lake, tmp_path, store):
    store.save(Catalog(lake_uri="s3://elsewhere/lake"))
    write_lake_file(lake, "sensors", part("2024-05-01", "W1"), sensor_rows(3, start=T0))

    catalog, report = crawl(lake, store)

    assert catalog.lake_uri == str(lake)
    assert report.new_tables == ["sensors"]


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.float64(), "double"),
        (pa.int32(), "int"),
        (pa.int64(), "bigint"),
        (pa.string(), "string"),
        (pa.large_string(), "string"),
        (pa.timestamp("ms", tz="UTC"), "timestamp"),
        (pa.date32(), "date"),
        (pa.bool_(), "boolean"),
        (pa.dictionary(pa.int32(), pa.string()), "string"),
        (pa.decimal128(10, 2), "decimal(10,2)"),
        (pa.list_(pa.float64()), "array<double>"),
    ],
)
def test_arrow_types_map_to_glue_type_names(arrow_type, expected):
    assert glue_type(arrow_type) == expected
