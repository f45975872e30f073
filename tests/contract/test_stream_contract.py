"""The stream contract: the same tests, unchanged, on the local stream and on Kinesis (moto).

Every test reads as given / when / then and relies only on the `Stream` protocol.
Known gaps of moto's Kinesis (see docs/stream.md): no retention trimming, and
``MillisBehindLatest`` is computed between records rather than against now.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from petrostream.stream.base import (
    HASH_KEY_SPACE,
    MAX_PUT_RECORDS,
    MAX_RECORD_BYTES,
    IteratorType,
    PutRecord,
    Stream,
    StreamRecord,
    hash_key,
    sequence_key,
)

SHARDS = 2


@pytest.fixture(params=["local", pytest.param("kinesis", marks=pytest.mark.aws)])
def stream(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stream]:
    """A fresh, empty two-shard stream of each backend."""
    if request.param == "local":
        from petrostream.stream.local import LocalStream

        local = LocalStream(tmp_path / "stream.db", name="contract", shard_count=SHARDS)
        yield local
        local.close()
        return
    request.getfixturevalue("aws_env")
    import boto3

    from petrostream.stream.kinesis import KinesisStream

    client = boto3.client("kinesis")
    name = f"contract-{uuid.uuid4().hex[:12]}"
    client.create_stream(StreamName=name, ShardCount=SHARDS)
    client.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    kinesis = KinesisStream(name, client=client)
    yield kinesis
    kinesis.close()
    client.delete_stream(StreamName=name)


def put_all(stream: Stream, records: list[PutRecord]) -> list[str]:
    """Put records in batches of at most 500; return their sequence numbers."""
    seqs: list[str] = []
    for start in range(0, len(records), MAX_PUT_RECORDS):
        results = stream.put_records(records[start : start + MAX_PUT_RECORDS])
        assert all(r.ok for r in results), [r.error_code for r in results if not r.ok]
        seqs.extend(r.sequence_number for r in results if r.sequence_number)
    return seqs


def read_shard(stream: Stream, shard_id: str, iterator: str | None = None) -> list[StreamRecord]:
    """Every record of the shard from the iterator (default TRIM_HORIZON) to the tip."""
    it = iterator or stream.get_shard_iterator(shard_id, IteratorType.TRIM_HORIZON)
    out: list[StreamRecord] = []
    while it is not None:
        page = stream.get_records(it, limit=1000)
        out.extend(page.records)
        it = page.next_iterator
        if not page.records:
            break
    return out


def read_all(stream: Stream) -> list[StreamRecord]:
    return [rec for shard in stream.list_shards() for rec in read_shard(stream, shard.shard_id)]


def test_it_implements_the_protocol(stream: Stream) -> None:
    assert isinstance(stream, Stream)


def test_shards_cover_the_hash_key_space_in_order(stream: Stream) -> None:
    # given a two-shard stream / when its shards are listed
    shards = stream.list_shards()

    # then they are contiguous, ordered, cover 0..2^128-1 and look like Kinesis ids
    assert len(shards) == SHARDS
    assert shards[0].starting_hash_key == 0
    assert shards[-1].ending_hash_key == HASH_KEY_SPACE - 1
    for left, right in zip(shards, shards[1:], strict=False):
        assert right.starting_hash_key == left.ending_hash_key + 1
    assert [s.shard_id for s in shards] == [f"shardId-{i:012d}" for i in range(SHARDS)]


def test_put_then_get_round_trips_data_and_key(stream: Stream) -> None:
    # given records with text and binary (non UTF-8) payloads
    sent = [PutRecord(f"well-{i}", f'{{"i": {i}}}'.encode()) for i in range(20)]
    sent.append(PutRecord("binary", bytes(range(256))))

    # when they are put and every shard is read from the start
    results = stream.put_records(sent)
    got = read_all(stream)

    # then every record is read once, identical, with an aware UTC arrival time
    assert [r.ok for r in results] == [True] * len(sent)
    assert sorted((r.partition_key, r.data) for r in got) == sorted(
        (r.partition_key, r.data) for r in sent
    )
    assert all(r.arrival.utcoffset() == timedelta(0) for r in got)
    assert all(abs(datetime.now(UTC) - r.arrival) < timedelta(hours=1) for r in got)


def test_results_come_one_per_record_in_request_order(stream: Stream) -> None:
    # given a batch whose records go to both shards
    sent = [PutRecord(f"key-{i}", str(i).encode()) for i in range(50)]

    # when it is put
    results = stream.put_records(sent)
    by_seq = {(r.shard_id, r.sequence_number): r for r in read_all(stream)}

    # then result i describes record i: its shard and its sequence number
    assert len(results) == len(sent)
    for rec, res in zip(sent, results, strict=True):
        assert by_seq[(res.shard_id, res.sequence_number)].data == rec.data


def test_partition_key_hash_picks_the_shard(stream: Stream) -> None:
    # given the shards' hash ranges
    shards = {s.shard_id: s for s in stream.list_shards()}

    # when records with many keys are put
    sent = [PutRecord(f"WELL-{i:05d}", b"x") for i in range(200)]
    results = stream.put_records(sent)

    # then each landed on the shard owning the MD5 hash of its key, and both shards were used
    for rec, res in zip(sent, results, strict=True):
        assert res.shard_id is not None
        shard = shards[res.shard_id]
        assert shard.starting_hash_key <= hash_key(rec.partition_key) <= shard.ending_hash_key
    assert {r.shard_id for r in results} == set(shards)


def test_records_of_one_key_are_read_in_put_order(stream: Stream) -> None:
    # given five keys interleaved over several puts
    sent = [PutRecord(f"well-{i % 5}", f"{i}".encode()) for i in range(1200)]

    # when they are put in batches and every shard is read
    put_all(stream, sent)
    got = read_all(stream)

    # then per key the order is the put order
    for key in {r.partition_key for r in sent}:
        assert [r.data for r in got if r.partition_key == key] == [
            r.data for r in sent if r.partition_key == key
        ]


def test_sequence_numbers_increase_strictly_within_a_shard(stream: Stream) -> None:
    # given several puts / when each shard is read
    put_all(stream, [PutRecord(f"k{i % 7}", b"v") for i in range(700)])
    for shard in stream.list_shards():
        seqs = [r.sequence_number for r in read_shard(stream, shard.shard_id)]

        # then sequence numbers are decimal strings, strictly increasing
        assert all(s.isdigit() for s in seqs)
        keys = [sequence_key(s) for s in seqs]
        assert keys == sorted(set(keys))


def one_key_per_shard(stream: Stream) -> dict[str, str]:
    """A partition key that maps to each shard."""
    found: dict[str, str] = {}
    for shard in stream.list_shards():
        i = 0
        while not shard.starting_hash_key <= hash_key(f"k{i}") <= shard.ending_hash_key:
            i += 1
        found[shard.shard_id] = f"k{i}"
    return found


def test_iterators_at_and_after_a_sequence_number(stream: Stream) -> None:
    # given ten records on one shard
    shard_id, key = next(iter(one_key_per_shard(stream).items()))
    seqs = put_all(stream, [PutRecord(key, str(i).encode()) for i in range(10)])

    # when reading AT and AFTER the fourth record's sequence number
    at = stream.get_shard_iterator(
        shard_id, IteratorType.AT_SEQUENCE_NUMBER, sequence_number=seqs[3]
    )
    after = stream.get_shard_iterator(
        shard_id, IteratorType.AFTER_SEQUENCE_NUMBER, sequence_number=seqs[3]
    )

    # then AT includes it and AFTER starts with the next one
    assert [r.data for r in read_shard(stream, shard_id, at)] == [
        str(i).encode() for i in range(3, 10)
    ]
    assert [r.data for r in read_shard(stream, shard_id, after)] == [
        str(i).encode() for i in range(4, 10)
    ]


def test_trim_horizon_reads_everything_and_latest_only_what_follows(stream: Stream) -> None:
    # given a shard with old records and a LATEST iterator taken now
    shard_id, key = next(iter(one_key_per_shard(stream).items()))
    put_all(stream, [PutRecord(key, b"old-1"), PutRecord(key, b"old-2")])
    latest = stream.get_shard_iterator(shard_id, IteratorType.LATEST)

    # when new records arrive
    put_all(stream, [PutRecord(key, b"new-1"), PutRecord(key, b"new-2")])

    # then LATEST yields only the new ones, TRIM_HORIZON all four
    assert [r.data for r in read_shard(stream, shard_id, latest)] == [b"new-1", b"new-2"]
    assert [r.data for r in read_shard(stream, shard_id)] == [
        b"old-1",
        b"old-2",
        b"new-1",
        b"new-2",
    ]


def test_at_timestamp_starts_at_the_first_record_arrived_since(stream: Stream) -> None:
    # given records put before and after a moment
    shard_id, key = next(iter(one_key_per_shard(stream).items()))
    put_all(stream, [PutRecord(key, b"before")])
    time.sleep(0.05)
    moment = datetime.now(UTC)
    time.sleep(0.05)
    put_all(stream, [PutRecord(key, b"after-1"), PutRecord(key, b"after-2")])

    # when reading AT_TIMESTAMP that moment, and at a moment before everything
    it = stream.get_shard_iterator(shard_id, IteratorType.AT_TIMESTAMP, timestamp=moment)
    early = stream.get_shard_iterator(
        shard_id, IteratorType.AT_TIMESTAMP, timestamp=moment - timedelta(hours=1)
    )

    # then only records arrived at or after it are read
    assert [r.data for r in read_shard(stream, shard_id, it)] == [b"after-1", b"after-2"]
    assert [r.data for r in read_shard(stream, shard_id, early)] == [
        b"before",
        b"after-1",
        b"after-2",
    ]


def test_an_empty_page_keeps_a_working_iterator(stream: Stream) -> None:
    # given an empty shard
    shard_id, key = next(iter(one_key_per_shard(stream).items()))
    it = stream.get_shard_iterator(shard_id, IteratorType.TRIM_HORIZON)

    # when it is read: an empty page, caught up
    page = stream.get_records(it)
    assert page.records == []
    assert page.next_iterator is not None
    assert page.millis_behind_latest == 0

    # then the next iterator still sees records put afterwards, and pages onward
    put_all(stream, [PutRecord(key, b"late")])
    page = stream.get_records(page.next_iterator)
    assert [r.data for r in page.records] == [b"late"]
    assert page.next_iterator is not None
    assert stream.get_records(page.next_iterator).records == []


def test_limit_pages_through_a_shard_without_gaps_or_repeats(stream: Stream) -> None:
    # given 25 records on one shard
    shard_id, key = next(iter(one_key_per_shard(stream).items()))
    put_all(stream, [PutRecord(key, str(i).encode()) for i in range(25)])

    # when read ten at a time
    it: str | None = stream.get_shard_iterator(shard_id, IteratorType.TRIM_HORIZON)
    sizes, data = [], []
    for _ in range(4):
        assert it is not None
        page = stream.get_records(it, limit=10)
        sizes.append(len(page.records))
        data.extend(r.data for r in page.records)
        it = page.next_iterator

    # then pages are 10, 10, 5, 0 and together the 25 records in order
    assert sizes == [10, 10, 5, 0]
    assert data == [str(i).encode() for i in range(25)]


def test_an_iterator_can_be_read_twice(stream: Stream) -> None:
    # given an iterator over a shard with records
    shard_id, key = next(iter(one_key_per_shard(stream).items()))
    put_all(stream, [PutRecord(key, b"a"), PutRecord(key, b"b")])
    it = stream.get_shard_iterator(shard_id, IteratorType.TRIM_HORIZON)

    # when the same iterator is read twice (a consumer retrying a failed batch)
    first, second = stream.get_records(it), stream.get_records(it)

    # then it yields the same records
    assert [r.sequence_number for r in first.records] == [r.sequence_number for r in second.records]


@pytest.mark.parametrize(
    ("records", "why"),
    [
        ([], "empty"),
        ([PutRecord("k", b"x")] * (MAX_PUT_RECORDS + 1), "501 records"),
        ([PutRecord("k", b"x" * MAX_RECORD_BYTES)], "record over 1 MiB with its key"),
        ([PutRecord(f"k{i}", b"x" * (900 * 1024)) for i in range(6)], "over 5 MiB"),
        ([PutRecord("", b"x")], "empty partition key"),
        ([PutRecord("k" * 257, b"x")], "257-character key"),
    ],
)
def test_a_batch_over_the_limits_is_refused_whole(
    stream: Stream, records: list[PutRecord], why: str
) -> None:
    # given / when a PutRecords request breaking a limit: then ValueError and nothing stored
    with pytest.raises(ValueError):
        stream.put_records(records)
    assert read_all(stream) == [], why


def test_bad_iterator_arguments_are_refused(stream: Stream) -> None:
    shard_id = stream.list_shards()[0].shard_id
    with pytest.raises(ValueError):
        stream.get_shard_iterator("shardId-000000000099", IteratorType.TRIM_HORIZON)
    with pytest.raises(ValueError):
        stream.get_shard_iterator(shard_id, IteratorType.AT_SEQUENCE_NUMBER)
    with pytest.raises(ValueError):
        stream.get_shard_iterator(shard_id, IteratorType.AFTER_SEQUENCE_NUMBER)
    with pytest.raises(ValueError):
        stream.get_shard_iterator(shard_id, IteratorType.AT_TIMESTAMP)
    with pytest.raises(ValueError):
        stream.get_records(stream.get_shard_iterator(shard_id, IteratorType.LATEST), limit=0)
    with pytest.raises(ValueError):
        stream.get_records("not-an-iterator")
