"""DynamoDB state, SQS dead letters (moto server) and EMF metrics."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

import boto3
import pytest

from petrostream.errors import ConfigError
from petrostream.handlers.base import DeadLetter, StateConflict
from petrostream.handlers.dynamodb import DynamoDBStateStore
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


def test_dynamodb_state_round_trips_and_refuses_a_stale_write(table: str) -> None:
    # given an empty table
    store = DynamoDBStateStore(table)
    assert store.load("WELL-00001").version == 0
    # when state is saved, then saved again on top of version 1
    assert store.save("WELL-00001", b"\x00s1", {"shardId-0": "5"}, expected_version=0) == 1
    assert store.save("WELL-00001", b"\x00s2", {"shardId-0": "9"}, expected_version=1) == 2
    # then it reads back, and a stale writer (thinking version 1) is refused
    stored = store.load("WELL-00001")
    assert (stored.data, stored.version, dict(stored.positions)) == (
        b"\x00s2",
        2,
        {"shardId-0": "9"},
    )
    with pytest.raises(StateConflict):
        store.save("WELL-00001", b"old", {}, expected_version=1)
    with pytest.raises(StateConflict):  # a second "first" writer too
        store.save("WELL-00001", b"old", {}, expected_version=0)
    assert store.load("WELL-00001").data == b"\x00s2"


def test_dynamodb_notified_markers(table: str) -> None:
    store = DynamoDBStateStore(table)
    assert not store.was_notified("a:open")
    store.mark_notified("a:open")
    assert store.was_notified("a:open")
    assert not store.was_notified("a:closed")


def test_dynamodb_missing_table_is_a_config_error(aws_env: str) -> None:
    with pytest.raises(ConfigError, match="PETROSTREAM_STATE_TABLE"):
        DynamoDBStateStore("no-such-table").load("WELL-00001")


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
