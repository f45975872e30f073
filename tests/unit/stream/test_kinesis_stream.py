"""KinesisStream at its boundary: botocore errors translated, iterators renewed, factory wiring."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from petrostream.errors import ConfigError, PetroStreamError, TransientError
from petrostream.settings import Settings
from petrostream.stream.base import INTERNAL_FAILURE, THROUGHPUT_EXCEEDED, IteratorType, PutRecord
from petrostream.stream.checkpoints import SQLiteCheckpointStore
from petrostream.stream.factory import open_checkpoints, open_stream
from petrostream.stream.kinesis import KinesisStream
from petrostream.stream.local import LocalStream


def client_error(code: str, status: int = 400, operation: str = "PutRecords") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


class FakeKinesis:
    """Just enough of a boto3 Kinesis client; ``fail`` maps an operation to an exception."""

    def __init__(self) -> None:
        self.fail: dict[str, list[Exception]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.put_response: dict[str, Any] = {}

    def _maybe_fail(self, op: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((op, kwargs))
        if self.fail.get(op):
            raise self.fail[op].pop(0)

    def list_shards(self, **kwargs: Any) -> dict[str, Any]:
        self._maybe_fail("list_shards", kwargs)
        return {
            "Shards": [
                {
                    "ShardId": "shardId-000000000000",
                    "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(2**128 - 1)},
                    "SequenceNumberRange": {"StartingSequenceNumber": "1"},
                }
            ]
        }

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        self._maybe_fail("put_records", kwargs)
        return self.put_response

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        self._maybe_fail("get_shard_iterator", kwargs)
        return {"ShardIterator": f"aws-{len(self.calls)}"}

    def get_records(self, **kwargs: Any) -> dict[str, Any]:
        self._maybe_fail("get_records", kwargs)
        return {
            "Records": [
                {
                    "SequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "PartitionKey": "k",
                    "Data": b"x",
                    "ApproximateArrivalTimestamp": datetime(2026, 5, 1, tzinfo=UTC),
                }
            ],
            "NextShardIterator": "aws-next",
            "MillisBehindLatest": 0,
        }


@pytest.fixture
def fake() -> FakeKinesis:
    return FakeKinesis()


def test_per_record_failures_become_results_with_kinesis_error_codes(fake: FakeKinesis) -> None:
    # given Kinesis accepting the call but throttling one record and failing another
    fake.put_response = {
        "FailedRecordCount": 2,
        "Records": [
            {"SequenceNumber": "1", "ShardId": "shardId-000000000000"},
            {"ErrorCode": THROUGHPUT_EXCEEDED, "ErrorMessage": "Rate exceeded"},
            {"ErrorCode": INTERNAL_FAILURE, "ErrorMessage": "Internal service failure."},
        ],
    }

    # when three records are put
    results = KinesisStream("s", client=fake).put_records([PutRecord("k", b"x")] * 3)

    # then each gets its own outcome, in order
    assert [r.ok for r in results] == [True, False, False]
    assert results[0].sequence_number == "1"
    assert [r.error_code for r in results[1:]] == [THROUGHPUT_EXCEEDED, INTERNAL_FAILURE]


@pytest.mark.parametrize(
    "error",
    [
        client_error("ProvisionedThroughputExceededException"),
        client_error("ThrottlingException"),
        client_error("InternalFailure", 500),
        client_error("SomethingNew", 503),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_throttling_and_outages_are_transient(fake: FakeKinesis, error: Exception) -> None:
    fake.fail["put_records"] = [error]
    with pytest.raises(TransientError):
        KinesisStream("s", client=fake).put_records([PutRecord("k", b"x")])


def test_a_missing_stream_is_a_config_error_with_a_fix(fake: FakeKinesis) -> None:
    fake.fail["list_shards"] = [client_error("ResourceNotFoundException", operation="ListShards")]
    with pytest.raises(
        ConfigError, match=r"'fleet' not found.*(terraform|PETROSTREAM_STREAM_NAME)"
    ):
        KinesisStream("fleet", client=fake).list_shards()


def test_refused_credentials_are_a_config_error(fake: FakeKinesis) -> None:
    fake.fail["put_records"] = [client_error("UnrecognizedClientException")]
    with pytest.raises(ConfigError, match="credentials"):
        KinesisStream("s", client=fake).put_records([PutRecord("k", b"x")])


def test_an_unknown_error_is_still_a_petrostream_error(fake: FakeKinesis) -> None:
    fake.fail["put_records"] = [client_error("KMSDisabledException")]
    with pytest.raises(PetroStreamError, match="KMSDisabledException"):
        KinesisStream("s", client=fake).put_records([PutRecord("k", b"x")])


def test_an_expired_iterator_is_renewed_after_the_last_record_read(fake: FakeKinesis) -> None:
    # given an iterator that has read one record
    stream = KinesisStream("s", client=fake)
    it = stream.get_shard_iterator("shardId-000000000000", IteratorType.TRIM_HORIZON)
    page = stream.get_records(it)
    assert page.next_iterator is not None
    last = page.records[-1].sequence_number

    # when Kinesis says it expired (iterators live 5 minutes)
    fake.fail["get_records"] = [client_error("ExpiredIteratorException", operation="GetRecords")]
    again = stream.get_records(page.next_iterator)

    # then a fresh iterator AFTER the last record read is fetched and the read succeeds
    renew = [kw for op, kw in fake.calls if op == "get_shard_iterator"][-1]
    assert renew["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER"
    assert renew["StartingSequenceNumber"] == last
    assert len(again.records) == 1


def test_records_read_have_aware_utc_arrival(fake: FakeKinesis) -> None:
    stream = KinesisStream("s", client=fake)
    page = stream.get_records(
        stream.get_shard_iterator("shardId-000000000000", IteratorType.LATEST)
    )
    assert page.records[0].arrival == datetime(2026, 5, 1, tzinfo=UTC)
    assert page.records[0].data == b"x"


def test_a_stream_missing_on_the_moto_server_is_a_config_error(aws_env: str) -> None:
    stream = KinesisStream("no-such-stream")
    with pytest.raises(ConfigError, match="not found"):
        stream.put_records([PutRecord("k", b"x")])


def test_kinesis_describe_on_moto_lists_shards_and_consumers(aws_env: str, tmp_path: Path) -> None:
    import boto3

    client = boto3.client("kinesis")
    client.create_stream(StreamName="described", ShardCount=3)
    client.get_waiter("stream_exists").wait(StreamName="described", WaiterConfig={"Delay": 0.1})
    store = SQLiteCheckpointStore(tmp_path / "cp.db", stream="described")
    store.set_checkpoint("lake", "shardId-000000000001", "7")

    info = KinesisStream("described").describe(store)

    assert [s["shard_id"] for s in info["shards"]] == [f"shardId-{i:012d}" for i in range(3)]
    assert info["retention_hours"] == 24
    assert info["consumers"] == [
        {
            "consumer": "lake",
            "shard_id": "shardId-000000000001",
            "checkpoint": "7",
            "lag_records": None,
        }
    ]
    client.delete_stream(StreamName="described")


# -- factory and the Kinesis checkpoint file -------------------------------------------------


def test_factory_opens_the_local_stream_from_settings(home: Path) -> None:
    settings = Settings(home=home, stream_shards=3, retention_hours=2, fault_rate=0.0)
    stream = open_stream(settings)
    assert isinstance(stream, LocalStream)
    assert stream.path == settings.stream_path
    assert len(stream.list_shards()) == 3
    assert stream.describe()["retention_hours"] == 2
    checkpoints = open_checkpoints(settings)
    assert isinstance(checkpoints, LocalStream)
    assert checkpoints.path == settings.stream_path


def test_factory_opens_kinesis_and_a_checkpoint_file(home: Path, aws_env: str) -> None:
    settings = Settings(home=home, stream_name="fleet")
    stream = open_stream(settings, "kinesis")
    assert isinstance(stream, KinesisStream)
    assert stream.name == "fleet"
    store = open_checkpoints(settings, "kinesis")
    assert isinstance(store, SQLiteCheckpointStore)
    assert store.path.parent == home


def test_factory_refuses_an_unknown_backend(home: Path) -> None:
    with pytest.raises(ConfigError, match="unknown stream backend 'kafka'"):
        open_stream(Settings(home=home), "kafka")


def test_checkpoint_file_compares_long_kinesis_sequence_numbers(tmp_path: Path) -> None:
    # given 56-digit Kinesis sequence numbers (beyond 64-bit integers)
    low = "49590338271490256608559692538361571095921575989136588898"
    high = "49590338271490256608559692540925702759324208523137515618"
    store = SQLiteCheckpointStore(tmp_path / "cp.db", stream="s")

    # when checkpointing forward then backward
    store.set_checkpoint("lake", "shardId-000000000000", high)
    store.set_checkpoint("lake", "shardId-000000000000", low)

    # then the furthest stays, also for another process opening the file
    reopened = SQLiteCheckpointStore(tmp_path / "cp.db", stream="s")
    assert reopened.get_checkpoint("lake", "shardId-000000000000") == high
    assert reopened.checkpoints() == {"lake": {"shardId-000000000000": high}}
    assert SQLiteCheckpointStore(tmp_path / "cp.db", stream="other").checkpoints() == {}
