"""`petrostream stream describe` and `stream trim` on a real local stream file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from petrostream.cli import main
from petrostream.stream.base import PutRecord
from petrostream.stream.local import LocalStream


def seeded_stream(home: Path) -> LocalStream:
    stream = LocalStream(home / "stream.db", shard_count=2)
    results = stream.put_records([PutRecord(f"WELL-{i % 5:05d}", b"{}") for i in range(100)])
    stream.set_checkpoint("lake", str(results[0].shard_id), str(results[0].sequence_number))
    return stream


def test_describe_json_shows_shards_counts_retention_and_lag(home: Path) -> None:
    # given a stream with 100 records and one consumer one record in
    stream = seeded_stream(home)
    counts = {s["shard_id"]: s["records"] for s in stream.describe()["shards"]}

    # when described as JSON
    result = CliRunner().invoke(
        main, ["--home", str(home), "stream", "describe", "--format", "json"]
    )

    # then it reports the counts, the retention and the consumer's lag
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["retention_hours"] == 24
    assert sum(s["records"] for s in info["shards"]) == 100
    (consumer,) = info["consumers"]
    assert consumer["consumer"] == "lake"
    assert consumer["lag_records"] == counts[consumer["shard_id"]] - 1


def test_describe_table_is_readable(home: Path) -> None:
    seeded_stream(home)
    result = CliRunner().invoke(main, ["--home", str(home), "stream", "describe"])
    assert result.exit_code == 0, result.output
    assert "retention 24 h, 2 shards, 100 records" in result.output
    assert "shardId-000000000001" in result.output
    assert "lake" in result.output


def test_describe_without_a_stream_says_how_to_create_one(home: Path) -> None:
    result = CliRunner().invoke(main, ["--home", str(home), "stream", "describe"])
    assert result.exit_code == 2
    assert "no local stream" in result.output
    assert "petrostream replay" in result.output
    assert "Traceback" not in result.output
    assert not (home / "stream.db").exists()


def test_describe_of_a_missing_kinesis_stream_is_one_line(home: Path, aws_env: str) -> None:
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "stream", "describe", "--stream", "kinesis"],
        env={"PETROSTREAM_STREAM_NAME": "absent"},
    )
    assert result.exit_code == 2
    assert "'absent' not found" in result.output
    assert "Traceback" not in result.output


def test_trim_reports_what_it_removed(home: Path) -> None:
    seeded_stream(home)
    result = CliRunner().invoke(main, ["--home", str(home), "stream", "trim"])
    assert result.exit_code == 0, result.output
    assert "removed 0 records older than 24 h" in result.output
