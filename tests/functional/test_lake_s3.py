"""The same lake writer and maintain on an S3 warehouse (moto server), pyiceberg's S3 I/O."""

from __future__ import annotations

import boto3
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from petrostream.catalog.crawler import Crawler
from petrostream.lake.maintain import maintain
from petrostream.lake.tables import open_catalog
from petrostream.lake.writer import LakeWriter
from petrostream.query.duckdb_engine import DuckDBEngine
from petrostream.settings import Settings
from petrostream.stream.local import LocalStream
from petrostream.testing.lake import put_all, put_readings, read_table, reading

pytestmark = pytest.mark.aws


@pytest.fixture
def bucket(aws_env) -> str:
    s3 = boto3.client("s3")
    name = "petrostream-lake-test"
    existing = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if name in existing:
        for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    else:
        s3.create_bucket(Bucket=name)
    return name


class Crash(Exception):
    pass


def test_writer_on_s3_commits_exactly_once_and_maintains(home, bucket, monkeypatch):
    # given: a lake under an S3 prefix, chosen by the settings' lake root
    settings = Settings(home=home, lake_root=f"s3://{bucket}/lake")
    stream = LocalStream(home / "stream.db", name="s3test", shard_count=2)
    put_readings(stream, [reading(i, version=1 + i % 2) for i in range(400)])
    put_all(stream, [("WELL-00001", b"garbage")])
    real_commit = SqlCatalog.commit_table
    calls = [0]

    def dying(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 3:
            raise Crash(calls[0])
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(SqlCatalog, "commit_table", dying)
    with pytest.raises(Crash):
        catalog = open_catalog(settings.home, settings.lake_uri)
        LakeWriter(stream, catalog, buffer_bytes=20_000, page_limit=50).run(drain=True)
    monkeypatch.setattr(SqlCatalog, "commit_table", real_commit)
    # when: a restart on the same prefix, then maintain
    catalog = open_catalog(settings.home, settings.lake_uri)
    LakeWriter(stream, catalog, buffer_bytes=20_000, page_limit=50).run(drain=True)
    files_before = len(list(catalog.load_table("petrostream_db.sensors").scan().plan_files()))
    report = maintain(catalog, "sensors", target_bytes=8 * 1024 * 1024)
    # then
    table = read_table(catalog)
    keys = set(zip(table["instance_id"].to_pylist(), table["source_ts"].to_pylist(), strict=True))
    assert table.num_rows == 400 and len(keys) == 400
    assert table.column("p_anular").null_count == 200
    assert read_table(catalog, "rejects").column("reason").to_pylist() == ["bad_json"]
    assert files_before > 1 and report.files_after == 1
    objects = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="lake/petrostream_db/")
    assert any(o["Key"].endswith(".metadata.json") for o in objects["Contents"])
    # and crawl + query read the S3 snapshot as they read a folder's
    crawled, _ = Crawler(settings.lake_uri, home=settings.home).crawl(None)
    engine = DuckDBEngine(crawled)
    try:
        rows = engine.execute("SELECT count(*), count(p_anular), min(dt) FROM sensors").rows
    finally:
        engine.close()
    assert rows == [(400, 200, "2024-05-01")]
    stream.close()
