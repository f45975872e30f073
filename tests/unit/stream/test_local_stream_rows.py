"""The local stream's storage: one row per shard and put, read back record by record."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from petrostream.stream.base import IteratorType, PutRecord
from petrostream.stream.local import LocalStream

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def stream(tmp_path: Path) -> LocalStream:
    s = LocalStream(tmp_path / "stream.db", shard_count=1, clock=lambda: T0)
    yield s
    s.close()


def _put_two_batches(stream: LocalStream) -> list[tuple[str, bytes, str]]:
    """Two puts of several keys each: (key, data, sequence number) of every record."""
    first = [PutRecord(f"WELL-{i % 3}", f'{{"n":{i}}}'.encode()) for i in range(7)]
    second = [PutRecord("WELL-9", b'{"n":%d}' % i) for i in range(7, 12)]
    out = []
    for batch in (first, second):
        results = stream.put_records(batch)
        out += [
            (r.partition_key, r.data, res.sequence_number)
            for r, res in zip(batch, results, strict=True)
        ]
    return out


def _page(stream: LocalStream, it: str, limit: int) -> tuple[list[tuple[str, bytes, str]], str]:
    page = stream.get_records(it, limit=limit)
    assert page.next_iterator is not None
    return [(r.partition_key, r.data, r.sequence_number) for r in page.records], page.next_iterator


def test_pages_that_start_and_stop_inside_a_put_return_each_record_once(
    stream: LocalStream,
) -> None:
    # given two puts stored as two rows
    put = _put_two_batches(stream)
    shard = stream.list_shards()[0].shard_id
    it = stream.get_shard_iterator(shard, IteratorType.TRIM_HORIZON)

    # when reading 3, then 5 (across the rows), then the rest
    a, it = _page(stream, it, 3)
    b, it = _page(stream, it, 5)
    c, it = _page(stream, it, 100)
    d, _ = _page(stream, it, 100)

    # then every record comes once, in put order, with its own key, data and number
    assert (a, b, c, d) == (put[:3], put[3:8], put[8:], [])


@pytest.mark.parametrize("at", [0, 4, 6, 7, 11])
def test_iterators_at_and_after_a_sequence_number_inside_a_put(
    stream: LocalStream, at: int
) -> None:
    put = _put_two_batches(stream)
    shard = stream.list_shards()[0].shard_id
    seq = put[at][2]
    at_it = stream.get_shard_iterator(shard, IteratorType.AT_SEQUENCE_NUMBER, sequence_number=seq)
    after_it = stream.get_shard_iterator(
        shard, IteratorType.AFTER_SEQUENCE_NUMBER, sequence_number=seq
    )
    assert _page(stream, at_it, 100)[0] == put[at:]
    assert _page(stream, after_it, 100)[0] == put[at + 1 :]
    blobs = stream.get_record_blobs(after_it, limit=2)
    assert blobs.data == [d for _, d, _ in put[at + 1 : at + 3]]
    assert blobs.sequence_numbers == [int(s) for _, _, s in put[at + 1 : at + 3]]


@pytest.mark.parametrize(("at", "limit"), [(0, 100), (2, 3), (6, 4), (10, 100)])
def test_a_record_page_is_get_records_as_columns(stream: LocalStream, at: int, limit: int) -> None:
    # given two puts (several keys in the first), read from inside a put
    put = _put_two_batches(stream)
    shard = stream.list_shards()[0].shard_id
    it = stream.get_shard_iterator(
        shard, IteratorType.AFTER_SEQUENCE_NUMBER, sequence_number=put[at][2]
    )
    # when the same iterator is read both ways
    records = stream.get_records(it, limit=limit)
    page = stream.get_record_page(it, limit=limit)
    # then the page holds the same records, keys and arrivals, and the same next page
    assert list(page) == records.records
    assert page[1:].sequence_numbers == [int(r.sequence_number) for r in records.records[1:]]
    assert page.partition_keys == [r.partition_key for r in records.records]
    assert (page.next_iterator, page.millis_behind_latest) == (
        records.next_iterator,
        records.millis_behind_latest,
    )
    assert page.shard_id == shard


def test_a_record_page_past_the_tip_is_empty_and_keeps_its_iterator(stream: LocalStream) -> None:
    _put_two_batches(stream)
    shard = stream.list_shards()[0].shard_id
    it = stream.get_shard_iterator(shard, IteratorType.LATEST)
    page = stream.get_record_page(it)
    assert (len(page), page.next_iterator, page.millis_behind_latest) == (0, it, 0)


def test_describe_counts_records_and_a_lag_from_inside_a_put(stream: LocalStream) -> None:
    put = _put_two_batches(stream)
    shard = stream.list_shards()[0].shard_id
    stream.set_checkpoint("lake", shard, put[4][2])
    described = stream.describe()
    assert described["shards"][0]["records"] == 12
    assert described["shards"][0]["first_sequence"] == put[0][2]
    assert described["shards"][0]["last_sequence"] == put[-1][2]
    assert described["consumers"][0]["lag_records"] == 7


def test_a_layout_1_file_is_migrated_on_open_with_its_numbers_and_checkpoints(
    tmp_path: Path,
) -> None:
    # given a stream file of layout 1 (one row per record), as earlier versions wrote it
    path = tmp_path / "stream.db"
    base = int(datetime.now(UTC).timestamp() * 1000) << 20  # recent: kept by retention
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        f"""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE shards (num INTEGER PRIMARY KEY, shard_id TEXT NOT NULL UNIQUE,
            start_hash TEXT NOT NULL, end_hash TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE records (shard INTEGER NOT NULL, seq INTEGER NOT NULL, pkey TEXT NOT NULL,
            data BLOB NOT NULL, PRIMARY KEY (shard, seq)) WITHOUT ROWID;
        CREATE TABLE checkpoints (consumer TEXT NOT NULL, shard INTEGER NOT NULL,
            seq INTEGER NOT NULL, PRIMARY KEY (consumer, shard)) WITHOUT ROWID;
        INSERT INTO meta VALUES ('version', '1'), ('name', 'old'), ('uid', 'abc'),
            ('retention_s', '86400'), ('created', '2026-01-01');
        INSERT INTO shards VALUES (0, 'shardId-000000000000', '0',
            '340282366920938463463374607431768211455', {base + 12});
        INSERT INTO records VALUES (0, {base + 10}, 'WELL-1', x'7b7d'),
            (0, {base + 11}, 'WELL-2', x'5b5d'), (0, {base + 12}, 'WELL-1', x'3132');
        INSERT INTO checkpoints VALUES ('lake', 0, {base + 10});
        """
    )
    conn.close()

    # when the stream opens it
    stream = LocalStream(path)
    shard = "shardId-000000000000"
    it = stream.get_shard_iterator(shard, IteratorType.TRIM_HORIZON)
    records = stream.get_records(it).records
    after = stream.get_shard_iterator(
        shard, IteratorType.AFTER_SEQUENCE_NUMBER, sequence_number=str(base + 10)
    )

    # then the records, their numbers and the consumer's place are kept, and puts go on
    assert [(r.partition_key, r.data, int(r.sequence_number)) for r in records] == [
        ("WELL-1", b"{}", base + 10), ("WELL-2", b"[]", base + 11), ("WELL-1", b"12", base + 12),
    ]  # fmt: skip
    assert [int(r.sequence_number) for r in stream.get_records(after).records] == [
        base + 11, base + 12,
    ]  # fmt: skip
    assert stream.get_checkpoint("lake", shard) == str(base + 10)
    assert int(stream.put_records([PutRecord("WELL-3", b"x")])[0].sequence_number) > base + 12
    assert stream.describe()["shards"][0]["records"] == 4
    stream.close()
    assert LocalStream(path).describe()["consumers"][0]["lag_records"] == 3
