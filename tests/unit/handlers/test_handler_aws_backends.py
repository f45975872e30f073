"""S3 state objects, DynamoDB markers, SQS dead letters (moto server) and EMF metrics."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

import boto3
import pytest

from petrostream.errors import ConfigError
from petrostream.handlers.base import DeadLetter, StateConflict
from petrostream.handlers.dynamodb import DynamoDBBlobStore, DynamoDBMarkers
from petrostream.handlers.s3_state import S3BlobStore
from petrostream.handlers.shard_state import ShardStateStore
from petrostream.handlers.sqs import SqsDeadLetters
from petrostream.metrics.base import MetricPoint
from petrostream.metrics.emf import EmfMetrics


@pytest.fixture
def table(aws_env: str) -> str:
    name = f"state-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def bucket(aws_env: str) -> str:
    name = f"state-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def test_s3_state_objects_are_written_only_at_the_tag_they_were_read_at(bucket: str) -> None:
    # given an empty prefix
    blobs = S3BlobStore(bucket, "detector-state/")
    assert blobs.get("shardId-000000000000.state") is None
    # when an object is created, then replaced at its tag
    first = blobs.put("shardId-000000000000.state", b"v1", if_match=None)
    second = blobs.put("shardId-000000000000.state", b"v2", if_match=first)
    # then it reads back with its tag, and a stale writer (holding the first tag) is refused
    assert blobs.get("shardId-000000000000.state") == (b"v2", second)
    with pytest.raises(StateConflict):
        blobs.put("shardId-000000000000.state", b"old", if_match=first)
    with pytest.raises(StateConflict):  # a second "first" writer too
        blobs.put("shardId-000000000000.state", b"old", if_match=None)
    assert blobs.list_keys() == ["shardId-000000000000.state"]
    assert boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"][0]["Key"] == (
        "detector-state/shardId-000000000000.state"
    )


def test_s3_shard_state_round_trips_and_a_stale_container_is_refused(
    bucket: str, table: str
) -> None:
    # given two containers on the same bucket and table
    def container() -> ShardStateStore:
        markers = DynamoDBMarkers(table)
        return ShardStateStore(S3BlobStore(bucket), markers, legacy=markers.legacy_load)

    a, b = container(), container()
    a.save("WELL-00001", b"s1", {"shardId-0": "5"}, expected_version=0, shard_id="shardId-0")
    a.flush()
    # when b moves the well on, then a (still holding the first tag) writes from its copy
    got = b.load("WELL-00001", "shardId-0")
    b.save("WELL-00001", b"s2", {"shardId-0": "9"}, expected_version=got.version,
           shard_id="shardId-0")  # fmt: skip
    b.flush()
    a.save("WELL-00001", b"old", {"shardId-0": "7"}, expected_version=1, shard_id="shardId-0")
    # then a is refused, and reads b's state afterwards
    with pytest.raises(StateConflict):
        a.flush()
    stored = a.load("WELL-00001", "shardId-0")
    assert (stored.data, stored.version, dict(stored.positions)) == (b"s2", 2, {"shardId-0": "9"})


def test_a_wells_state_stored_per_item_by_an_earlier_release_still_loads(
    bucket: str, table: str
) -> None:
    # given a well's item as the per-well DynamoDB store wrote it
    boto3.client("dynamodb").put_item(
        TableName=table,
        Item={
            "pk": {"S": "WELL-00001"},
            "state": {"B": b"old-state"},
            "version": {"N": "7"},
            "positions": {"M": {"shardId-0": {"S": "42"}}},
        },
    )
    markers = DynamoDBMarkers(table)
    store = ShardStateStore(S3BlobStore(bucket), markers, legacy=markers.legacy_load)
    # when its shard, which has no object yet, loads it
    stored = store.load("WELL-00001", "shardId-0")
    # then it is the old item, and the next save moves it into the shard's object
    assert (stored.data, stored.version, dict(stored.positions)) == (
        b"old-state", 7, {"shardId-0": "42"}
    )  # fmt: skip
    store.save("WELL-00001", b"new", {"shardId-0": "43"}, expected_version=7, shard_id="shardId-0")
    store.flush()
    assert store.load("WELL-00001").version == 8


def test_dynamodb_notified_markers(table: str) -> None:
    store = DynamoDBMarkers(table)
    assert not store.was_notified("a:open")
    store.mark_notified("a:open")
    assert store.was_notified("a:open")
    assert not store.was_notified("a:closed")


def test_dynamodb_missing_table_is_a_config_error(aws_env: str) -> None:
    with pytest.raises(ConfigError, match="PETROSTREAM_STATE_TABLE"):
        DynamoDBMarkers("no-such-table").was_notified("a:open")


def test_s3_missing_bucket_is_a_config_error(aws_env: str) -> None:
    with pytest.raises(ConfigError, match="PETROSTREAM_STATE_BUCKET"):
        S3BlobStore("no-such-bucket-petrostream").get("shardId-0.state")


def test_sqs_dead_letters_carry_reason_and_payload(aws_env: str) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    letters = [
        DeadLetter("bad_json", f"payload {i}", "shardId-0", str(i), "WELL-1", b"{oops", 1.5, "arn")
        for i in range(12)
    ]
    SqsDeadLetters(url).put(letters)
    bodies = []
    for _ in range(5):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        bodies += [json.loads(m["Body"]) for m in got]
        if len(bodies) == 12:
            break
    assert sorted(int(b["sequence_number"]) for b in bodies) == list(range(12))
    assert bodies[0]["reason"] == "bad_json"
    assert bodies[0]["data_base64"] == "e29vcHM="


def test_emf_line_declares_cloudwatch_metrics() -> None:
    out = io.StringIO()
    point = MetricPoint(
        datetime(2024, 1, 1, tzinfo=UTC),
        {"RecordsProcessed": 100.0, "IteratorAgeMilliseconds": 12.5},
        {"StreamName": "petrostream"},
    )
    EmfMetrics(out).emit(point)
    doc = json.loads(out.getvalue())
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert doc["_aws"]["Timestamp"] == 1704067200000
    assert directive["Namespace"] == "PetroStream"
    assert directive["Dimensions"] == [["StreamName"]]
    assert {"Name": "IteratorAgeMilliseconds", "Unit": "Milliseconds"} in directive["Metrics"]
    assert (doc["StreamName"], doc["RecordsProcessed"]) == ("petrostream", 100.0)


def test_a_small_fleets_shard_state_lives_in_the_table(table: str) -> None:
    # given the table as the blob store (no bucket: a few wells per shard)
    markers = DynamoDBMarkers(table)
    a = ShardStateStore(DynamoDBBlobStore(table), markers, legacy=markers.legacy_load)
    a.save("WELL-00001", b"s1", {"shardId-0": "5"}, expected_version=0, shard_id="shardId-0")
    a.flush()
    # when a second container moves it on and the first writes from its stale copy
    b = ShardStateStore(DynamoDBBlobStore(table), markers, legacy=markers.legacy_load)
    b.save("WELL-00001", b"s2", {"shardId-0": "9"}, expected_version=1, shard_id="shardId-0")
    b.flush()
    a.save("WELL-00001", b"old", {"shardId-0": "7"}, expected_version=1, shard_id="shardId-0")
    # then the first is refused, the markers share the table, and the shard is listed once
    with pytest.raises(StateConflict):
        a.flush()
    markers.mark_notified("x:open")
    assert DynamoDBBlobStore(table).list_keys() == ["shardId-0.state"]
    assert a.load("WELL-00001", "shardId-0").data == b"s2"


def test_a_shard_state_past_the_item_limit_says_to_use_s3(table: str) -> None:
    with pytest.raises(ConfigError, match='state_store = "s3"'):
        DynamoDBBlobStore(table).put("shardId-0.state", b"x" * 420_000, if_match=None)
