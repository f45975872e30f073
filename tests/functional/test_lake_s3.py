"""The same lake writer, commit log and compaction on an S3 prefix (moto server)."""

from __future__ import annotations

import boto3
import pytest

from petrostream.lake.commitlog import snapshot
from petrostream.lake.compaction import compact
from petrostream.lake.factory import open_lake_uri
from petrostream.lake.s3 import S3LakeStore
from petrostream.lake.writer import LakeWriter
from petrostream.settings import Settings
from petrostream.stream.local import LocalStream
from petrostream.testing.lake import put_all, put_readings, read_committed, reading

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


def test_writer_on_s3_commits_exactly_once_and_compacts(home, bucket):
    # given: a lake under an S3 prefix, chosen by the settings' lake root
    settings = Settings(home=home, lake_root=f"s3://{bucket}/lake")
    stream = LocalStream(home / "stream.db", name="s3test", shard_count=2)
    put_readings(stream, [reading(i, version=1 + i % 2) for i in range(400)])
    put_all(stream, [("WELL-00001", b"garbage")])

    class Dying(S3LakeStore):
        puts = 0

        def _put_bytes(self, path, data):
            Dying.puts += 1
            if Dying.puts == 6:
                raise Crash(path)
            super()._put_bytes(path, data)

    with pytest.raises(Crash):
        dying = Dying(settings.lake_uri)
        LakeWriter(stream, dying, buffer_bytes=20_000, page_limit=50).run(drain=True)
    # when: a restart on the same prefix, then a compaction
    lake = open_lake_uri(settings.lake_uri)
    assert isinstance(lake, S3LakeStore)
    LakeWriter(stream, lake, buffer_bytes=20_000, page_limit=50).run(drain=True)
    files_before = len(snapshot(lake, "sensors"))
    report = compact(lake, target_bytes=8 * 1024 * 1024)
    # then
    table = read_committed(lake)
    keys = set(zip(table["instance_id"].to_pylist(), table["source_ts"].to_pylist(), strict=True))
    assert table.num_rows == 400 and len(keys) == 400
    assert table.column("p_anular").null_count == 200
    assert read_committed(lake, "rejects").column("reason").to_pylist() == ["bad_json"]
    assert files_before > 1 and report.files_after == 1
    objects = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="lake/sensors/")
    assert [o["Key"] for o in objects["Contents"]] == [
        "lake/" + path for path in snapshot(lake, "sensors")
    ]
    stream.close()
