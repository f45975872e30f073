"""`petrostream replay --target kinesis` against Kinesis in a moto server on loopback."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from helpers_3w import bundled_3w_table

from petrostream.cli import main
from petrostream.record import decode
from petrostream.stream.base import IteratorType
from petrostream.stream.kinesis import KinesisStream


@pytest.mark.aws
def test_replay_to_kinesis_puts_every_row(aws_env: str, home: Path, bundled_3w_files: list[Path]):
    # given a Kinesis stream with two shards
    client = boto3.client("kinesis")
    client.create_stream(StreamName="replay-test", ShardCount=2)
    client.get_waiter("stream_exists").wait(StreamName="replay-test")

    # when the real files are replayed into it as fast as possible
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "replay", *map(str, bundled_3w_files), "--speed", "0",
         "--target", "kinesis", "--stream-name", "replay-test", "--quiet"],
    )  # fmt: skip

    # then every row is a record on the stream, keyed by its well
    assert result.exit_code == 0, result.output
    total = sum(bundled_3w_table().values())  # what the bundled README lists
    assert f"records    {total:,} put" in result.output
    stream = KinesisStream("replay-test")
    records = []
    for shard in stream.list_shards():
        iterator = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        while True:
            page = stream.get_records(iterator, limit=10_000)
            records.extend(page.records)
            if not page.records or page.next_iterator is None:
                break
            iterator = page.next_iterator
    assert len(records) == total
    assert all(decode(r.data)["well_id"] == r.partition_key for r in records)
