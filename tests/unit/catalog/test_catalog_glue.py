"""Publishing the catalog to the Glue Data Catalog (moto server: the API is real)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from petrostream.catalog.crawler import Crawler
from petrostream.catalog.glue import PARQUET_SERDE, GlueCatalogStore
from petrostream.testing.lakefiles import sensor_rows, write_lake_file

pytestmark = pytest.mark.aws
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def glue(aws_env):
    return boto3.client("glue")


@pytest.fixture
def database() -> str:
    return f"petrostream_db_{uuid.uuid4().hex[:8]}"


def lake_with(tmp_path: Path, wells: list[str], columns=("p_pdg", "p_tpt")) -> Path:
    lake = tmp_path / "lake"
    for well in wells:
        write_lake_file(
            lake,
            "sensors",
            {"dt": "2024-05-01", "well_id": well},
            sensor_rows(4, start=T0, columns=columns),
        )
    return lake


def partitions(glue, database: str) -> dict[tuple[str, ...], dict]:
    pages = glue.get_paginator("get_partitions").paginate(
        DatabaseName=database, TableName="sensors"
    )
    return {tuple(p["Values"]): p for page in pages for p in page["Partitions"]}


def test_publish_creates_database_parquet_table_and_partitions(tmp_path, glue, database):
    # given a crawled lake with three wells
    lake = lake_with(tmp_path, ["WELL-00001", "WELL-00002", "WELL-00003"])
    catalog, _ = Crawler(str(lake)).crawl(None)

    # when publishing to Glue
    report = GlueCatalogStore(database, glue).publish(catalog)

    # then Glue holds an external Parquet table partitioned by dt and well_id
    assert report.created_database and report.created_tables == ["sensors"]
    table = glue.get_table(DatabaseName=database, Name="sensors")["Table"]
    sd = table["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert sd["InputFormat"].endswith("MapredParquetInputFormat")
    assert sd["OutputFormat"].endswith("MapredParquetOutputFormat")
    assert sd["Location"] == f"{lake}/sensors/"
    assert {c["Name"]: c["Type"] for c in sd["Columns"]}["p_pdg"] == "double"
    assert {c["Name"]: c["Type"] for c in sd["Columns"]}["ts"] == "timestamp"
    assert table["PartitionKeys"] == [
        {"Name": "dt", "Type": "string"},
        {"Name": "well_id", "Type": "string"},
    ]
    assert table["Parameters"]["classification"] == "parquet"
    found = partitions(glue, database)
    assert set(found) == {("2024-05-01", f"WELL-0000{i}") for i in (1, 2, 3)}
    one = found[("2024-05-01", "WELL-00001")]
    assert (
        one["StorageDescriptor"]["Location"] == f"{lake}/sensors/dt=2024-05-01/well_id=WELL-00001/"
    )
    assert one["Parameters"]["numFiles"] == "1"
    assert one["Parameters"]["recordCount"] == "4"


def test_publish_is_idempotent_and_follows_schema_and_partition_changes(tmp_path, glue, database):
    lake = lake_with(tmp_path, ["WELL-00001", "WELL-00002"])
    crawler = Crawler(str(lake))
    catalog, _ = crawler.crawl(None)
    store = GlueCatalogStore(database, glue)
    store.publish(catalog)

    # publishing the same catalog again changes nothing
    again = store.publish(catalog)
    assert (again.created_tables, again.updated_tables) == ([], [])
    assert (again.created_partitions, again.updated_partitions, again.deleted_partitions) == (
        0,
        0,
        0,
    )

    # a new column and a new partition arrive, one partition disappears
    write_lake_file(
        lake,
        "sensors",
        {"dt": "2024-05-02", "well_id": "WELL-00001"},
        sensor_rows(2, start=T0, columns=("p_pdg", "p_tpt", "aber_ckp")),
    )
    for f in (lake / "sensors" / "dt=2024-05-01" / "well_id=WELL-00002").iterdir():
        f.unlink()
    catalog, _ = crawler.crawl(catalog)
    report = store.publish(catalog)

    assert report.updated_tables == ["sensors"]
    assert (report.created_partitions, report.deleted_partitions) == (1, 1)
    columns = glue.get_table(DatabaseName=database, Name="sensors")["Table"]["StorageDescriptor"][
        "Columns"
    ]
    assert columns[-1] == {"Name": "aber_ckp", "Type": "double"}
    assert set(partitions(glue, database)) == {
        ("2024-05-01", "WELL-00001"),
        ("2024-05-02", "WELL-00001"),
    }


def test_load_reads_tables_and_partitions_back(tmp_path, glue, database):
    lake = lake_with(tmp_path, ["WELL-00001", "WELL-00002"])
    catalog, _ = Crawler(str(lake)).crawl(None)
    store = GlueCatalogStore(database, glue)
    assert store.load() is None
    store.publish(catalog)

    loaded = store.load()

    assert loaded is not None
    sensors = loaded.tables["sensors"]
    assert [c.name for c in sensors.columns] == [c.name for c in catalog.tables["sensors"].columns]
    assert sorted(sensors.partitions) == sorted(catalog.tables["sensors"].partitions)


def test_an_iceberg_table_is_published_as_glue_holds_iceberg_tables(
    stream, catalog, home, glue, database
):
    # given: a lake whose sensors table is Iceberg, crawled
    from pyiceberg.catalog.glue import GlueCatalog

    from petrostream.lake.writer import LakeWriter
    from petrostream.testing.lake import put_readings, reading

    put_readings(stream, [reading(i, well_id=f"WELL-0000{i % 3}") for i in range(90)])
    LakeWriter(stream, catalog).run(drain=True)
    crawled, _ = Crawler(str(home / "lake"), home=home).crawl(None)
    # when: published, twice (the second time changes nothing)
    store = GlueCatalogStore(database, glue)
    store.publish(crawled)
    again = store.publish(crawled)
    # then: an Iceberg table pointing at the current metadata, no Hive partitions ...
    table = glue.get_table(DatabaseName=database, Name="sensors")["Table"]
    metadata = catalog.load_table("petrostream_db.sensors").metadata_location
    assert table["Parameters"]["table_type"] == "ICEBERG"
    assert table["Parameters"]["metadata_location"] == metadata
    assert table.get("PartitionKeys", []) == [] and partitions(glue, database) == {}
    assert (again.created_tables, again.updated_tables) == ([], [])
    # ... that pyiceberg's own Glue catalog opens and reads whole
    rows = GlueCatalog("glue").load_table(f"{database}.sensors").scan().to_arrow()
    assert rows.num_rows == 90
    assert len(set(rows.column("well_id").to_pylist())) == 3
