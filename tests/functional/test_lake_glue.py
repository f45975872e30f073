"""The lake on the Glue Data Catalog (moto server): the writer, maintain, crawl and a plain
pyiceberg through `lake describe`'s properties, on the code path of the local SQL catalog."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from click.testing import CliRunner
from pyiceberg.catalog import load_catalog

from petrostream.catalog.crawler import Crawler
from petrostream.cli import main as cli
from petrostream.lake.maintain import maintain
from petrostream.lake.tables import NAMESPACE, open_catalog
from petrostream.lake.writer import LakeWriter
from petrostream.settings import Settings
from petrostream.stream.local import LocalStream
from petrostream.testing.lake import put_readings, read_table, reading

pytestmark = pytest.mark.aws


@pytest.fixture
def glue_lake(aws_env, home):
    """An empty bucket and no Glue database of the lake's name (as after `terraform destroy`)."""
    bucket = f"petrostream-glue-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    glue = boto3.client("glue")
    if NAMESPACE in [d["Name"] for d in glue.get_databases()["DatabaseList"]]:
        glue.delete_database(Name=NAMESPACE)
    settings = Settings(home=home, lake_root=f"s3://{bucket}/lake", lake_catalog="glue")
    yield settings
    glue.delete_database(Name=NAMESPACE)


def test_writer_maintain_and_crawl_on_glue_count_every_reading_once(glue_lake, home):
    # given: the lake's tables made in Glue by `lake init`, then two writer runs
    runner = CliRunner()
    env = {"PETROSTREAM_HOME": str(home), "PETROSTREAM_LAKE_ROOT": glue_lake.lake_uri,
           "PETROSTREAM_LAKE_CATALOG": "glue"}  # fmt: skip
    init = runner.invoke(cli, ["lake", "init"], env=env)
    assert init.exit_code == 0, init.output
    table = boto3.client("glue").get_table(DatabaseName=NAMESPACE, Name="sensors")["Table"]
    assert table["Parameters"]["table_type"].upper() == "ICEBERG"
    stream = LocalStream(home / "stream.db", name="gluetest", shard_count=2)
    catalog = open_catalog(home, glue_lake.lake_uri, "glue")
    for start in (0, 150):
        put_readings(
            stream, [reading(i, well_id=f"WELL-0000{i % 3}") for i in range(start, start + 150)]
        )
        LakeWriter(stream, catalog).run(drain=True)
    # when: maintain, and a crawl of the same catalog
    report = maintain(catalog, "sensors")
    crawled, _ = Crawler(glue_lake.lake_uri, home=home, catalog_kind="glue").crawl(None)
    # then: every reading once through the writer's catalog, the crawl and a plain pyiceberg
    rows = read_table(catalog)
    assert rows.num_rows == 300
    assert (
        len(set(zip(rows["instance_id"].to_pylist(), rows["source_ts"].to_pylist(), strict=True)))
        == 300
    )
    assert report.rewritten_partitions >= 1
    assert crawled.tables["sensors"].rows == 300
    described = runner.invoke(cli, ["lake", "describe", "--format", "json"], env=env)
    assert described.exit_code == 0, described.output
    props = json.loads(described.output)["catalog"]
    assert props["type"] == "glue"
    plain = load_catalog(props.pop("name"), **props)
    assert plain.load_table(f"{NAMESPACE}.sensors").scan().to_arrow().num_rows == 300
