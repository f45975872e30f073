"""Local-stream behaviour beyond the contract: layout, retention, checkpoints, faults, errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from petrostream.errors import ConfigError, TransientError
from petrostream.stream.base import (
    THROUGHPUT_EXCEEDED,
    CheckpointStore,
    IteratorType,
    PutRecord,
    StreamRecord,
    sequence_key,
)
from petrostream.stream.local import LocalStream

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def read_shard(stream: LocalStream, shard_id: str, it: str | None = None) -> list[StreamRecord]:
    it = it or stream.get_shard_iterator(shard_id, IteratorType.TRIM_HORIZON)
    out: list[StreamRecord] = []
    while True:
        page = stream.get_records(it)
        if not page.records:
            return out
        out.extend(page.records)
        assert page.next_iterator is not None
        it = page.next_iterator


def read_all(stream: LocalStream) -> list[StreamRecord]:
    return [r for s in stream.list_shards() for r in read_shard(stream, s.shard_id)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stream(tmp_path: Path, clock: FakeClock) -> LocalStream:
    return LocalStream(tmp_path / "stream.db", shard_count=2, clock=clock)


def test_a_reopened_file_keeps_its_layout_and_iterators(tmp_path: Path) -> None:
    # given a four-shard stream with records and an iterator half way
    first = LocalStream(tmp_path / "s.db", name="fleet", shard_count=4)
    first.put_records([PutRecord("k", str(i).encode()) for i in range(10)])
    shard = first.put_records([PutRecord("k", b"10")])[0].shard_id
    assert shard is not None
    page = first.get_records(first.get_shard_iterator(shard, IteratorType.TRIM_HORIZON), limit=4)
    first.close()

    # when the file is opened again asking for two shards and another name
    second = LocalStream(tmp_path / "s.db", name="other", shard_count=2)

    # then it keeps four shards and its name, and the old iterator resumes where it was
    assert len(second.list_shards()) == 4
    assert second.name == "fleet"
    assert page.next_iterator is not None
    rest = read_shard(second, shard, page.next_iterator)
    assert [r.data for r in rest] == [str(i).encode() for i in range(4, 11)]


def test_an_iterator_of_another_stream_is_refused(tmp_path: Path) -> None:
    one = LocalStream(tmp_path / "one.db")
    two = LocalStream(tmp_path / "two.db")
    it = one.get_shard_iterator(one.list_shards()[0].shard_id, IteratorType.TRIM_HORIZON)
    with pytest.raises(ValueError, match="another stream"):
        two.get_records(it)


def test_sequence_numbers_carry_the_arrival_time(stream: LocalStream, clock: FakeClock) -> None:
    # given a record put at T0 / when read / then its arrival is T0 (ms precision)
    stream.put_records([PutRecord("k", b"x")])
    (record,) = read_all(stream)
    assert record.arrival == T0


def test_sequence_numbers_increase_even_when_the_clock_goes_back(
    stream: LocalStream, clock: FakeClock
) -> None:
    first = stream.put_records([PutRecord("k", b"1")])[0].sequence_number
    clock.advance(-timedelta(hours=1))
    second = stream.put_records([PutRecord("k", b"2")])[0].sequence_number
    assert first is not None
    assert second is not None
    assert sequence_key(second) == sequence_key(first) + 1


def test_at_timestamp_uses_arrival_time(stream: LocalStream, clock: FakeClock) -> None:
    # given records arrived at T0 and T0 + 1 s
    stream.put_records([PutRecord("k", b"early")])
    clock.advance(timedelta(seconds=1))
    shard = stream.put_records([PutRecord("k", b"late")])[0].shard_id
    assert shard is not None

    # when reading AT_TIMESTAMP T0 + 1 s / then only the late one
    it = stream.get_shard_iterator(shard, IteratorType.AT_TIMESTAMP, timestamp=clock.now)
    assert [r.data for r in read_shard(stream, shard, it)] == [b"late"]


def test_naive_timestamps_are_refused(stream: LocalStream) -> None:
    shard = stream.list_shards()[0].shard_id
    with pytest.raises(ValueError, match="timezone-aware"):
        stream.get_shard_iterator(
            shard,
            IteratorType.AT_TIMESTAMP,
            timestamp=datetime(2026, 1, 1),  # noqa: DTZ001
        )


def test_millis_behind_latest_measures_the_unread_tail(
    stream: LocalStream, clock: FakeClock
) -> None:
    # given 20 records of one key put at T0, read 5 s later
    shard = stream.put_records([PutRecord("k", str(i).encode()) for i in range(20)])[0].shard_id
    assert shard is not None
    clock.advance(timedelta(seconds=5))
    it = stream.get_shard_iterator(shard, IteratorType.TRIM_HORIZON)

    # when a first page of 10 is read: 5 s behind; when the rest is read: caught up
    first = stream.get_records(it, limit=10)
    assert first.millis_behind_latest == 5000
    assert first.next_iterator is not None
    assert stream.get_records(first.next_iterator).millis_behind_latest == 0


def test_trim_removes_only_records_past_retention(stream: LocalStream, clock: FakeClock) -> None:
    # given records put at T0 and at T0 + 23 h (retention 24 h)
    stream.put_records([PutRecord(f"k{i}", b"old") for i in range(30)])
    clock.advance(timedelta(hours=23))
    stream.put_records([PutRecord(f"k{i}", b"new") for i in range(20)])

    # when trimming at T0 + 25 h
    clock.advance(timedelta(hours=2))
    removed = stream.trim()

    # then exactly the old records are gone
    assert removed == 30
    assert sorted(r.data for r in read_all(stream)) == [b"new"] * 20


def test_trim_runs_on_put_and_never_reuses_sequence_numbers(
    tmp_path: Path, clock: FakeClock
) -> None:
    # given a stream whose records all expired
    first = LocalStream(tmp_path / "s.db", clock=clock)
    old = first.put_records([PutRecord("k", b"old")])[0]
    first.close()
    clock.advance(timedelta(hours=25))

    # when a new writer puts (its first put trims)
    writer = LocalStream(tmp_path / "s.db", clock=clock)
    new = writer.put_records([PutRecord("k", b"new")])[0]

    # then only the new record remains, numbered after the trimmed one
    assert [r.data for r in read_all(writer)] == [b"new"]
    assert old.sequence_number is not None
    assert new.sequence_number is not None
    assert sequence_key(new.sequence_number) > sequence_key(old.sequence_number)
    assert writer.latest_sequence(str(new.shard_id)) == new.sequence_number


def test_trim_in_chunks_removes_everything_expired(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("petrostream.stream.local.TRIM_CHUNK", 7)
    stream = LocalStream(tmp_path / "s.db", clock=clock)
    stream.put_records([PutRecord(f"k{i}", b"x") for i in range(100)])
    clock.advance(timedelta(days=2))
    assert stream.trim() == 100
    assert read_all(stream) == []


def test_retention_is_stored_with_the_stream(tmp_path: Path, clock: FakeClock) -> None:
    stream = LocalStream(tmp_path / "s.db", retention=timedelta(hours=1), clock=clock)
    stream.put_records([PutRecord("k", b"x")])
    reopened = LocalStream(tmp_path / "s.db", clock=clock)  # default 24 h is ignored
    clock.advance(timedelta(hours=2))
    assert reopened.retention == timedelta(hours=1)
    assert reopened.trim() == 1
    reopened.set_retention(timedelta(hours=48))
    assert LocalStream(tmp_path / "s.db").describe()["retention_hours"] == 48


def test_latest_sequence(stream: LocalStream) -> None:
    shard = stream.list_shards()[0].shard_id
    assert stream.latest_sequence(shard) is None
    results = stream.put_records([PutRecord(f"k{i}", b"x") for i in range(50)])
    last = [r.sequence_number for r in results if r.shard_id == shard][-1]
    assert stream.latest_sequence(shard) == last


# -- checkpoints --------------------------------------------------------------------


def test_checkpoints_are_per_consumer_and_shard_and_never_move_back(
    stream: LocalStream,
) -> None:
    # given records on a shard
    results = stream.put_records([PutRecord("k", str(i).encode()) for i in range(5)])
    shard = str(results[0].shard_id)
    seqs = [str(r.sequence_number) for r in results]

    # when two consumers checkpoint, one of them backwards
    stream.set_checkpoint("detector", shard, seqs[3])
    stream.set_checkpoint("detector", shard, seqs[1])
    stream.set_checkpoint("lake", shard, seqs[0])

    # then each keeps its furthest position
    assert isinstance(stream, CheckpointStore)
    assert stream.get_checkpoint("detector", shard) == seqs[3]
    assert stream.get_checkpoint("lake", shard) == seqs[0]
    assert stream.get_checkpoint("nobody", shard) is None
    assert stream.checkpoints() == {"detector": {shard: seqs[3]}, "lake": {shard: seqs[0]}}


def test_checkpoints_survive_reopening_and_show_lag(tmp_path: Path) -> None:
    stream = LocalStream(tmp_path / "s.db")
    results = stream.put_records([PutRecord("k", str(i).encode()) for i in range(10)])
    shard = str(results[0].shard_id)
    stream.set_checkpoint("lake", shard, str(results[6].sequence_number))
    stream.close()

    info = LocalStream(tmp_path / "s.db").describe()

    assert info["consumers"] == [
        {
            "consumer": "lake",
            "shard_id": shard,
            "checkpoint": results[6].sequence_number,
            "lag_records": 3,
        }
    ]
    by_shard = {s["shard_id"]: s for s in info["shards"]}
    assert by_shard[shard]["records"] == 10
    assert by_shard[shard]["first_sequence"] == results[0].sequence_number
    assert by_shard[shard]["last_sequence"] == results[-1].sequence_number


def test_bad_checkpoints_are_refused(stream: LocalStream) -> None:
    result = stream.put_records([PutRecord("k", b"x")])[0]
    shard, seq = str(result.shard_id), str(result.sequence_number)
    with pytest.raises(ValueError, match="no shard"):
        stream.set_checkpoint("c", "shardId-000000000042", seq)
    with pytest.raises(ValueError, match="past the last record"):
        stream.set_checkpoint("c", shard, str(int(seq) + 1))
    with pytest.raises(ValueError, match="not a sequence number"):
        stream.set_checkpoint("c", shard, "abc")
    with pytest.raises(ValueError, match="empty"):
        stream.set_checkpoint("", shard, seq)


# -- fault injection ------------------------------------------------------------------


def test_fault_rate_fails_that_fraction_and_stores_the_rest(tmp_path: Path) -> None:
    # given a stream failing 20 % of each put
    stream = LocalStream(tmp_path / "s.db", fault_rate=0.2, seed=7)
    sent = [PutRecord(f"well-{i % 10}", str(i).encode()) for i in range(500)]

    # when 500 records are put
    results = stream.put_records(sent)

    # then exactly 100 fail as throttled, without shard or sequence, and 400 are stored
    failed = [r for r in results if not r.ok]
    assert len(failed) == 100
    assert {r.error_code for r in failed} == {THROUGHPUT_EXCEEDED}
    assert all(r.sequence_number is None and r.shard_id is None for r in failed)
    stored = sorted(r.data for r in read_all(stream))
    assert stored == sorted(rec.data for rec, res in zip(sent, results, strict=True) if res.ok)


def test_fault_injection_is_deterministic_with_a_seed(tmp_path: Path) -> None:
    sent = [PutRecord(f"well-{i % 10}", b"x") for i in range(300)]
    runs = [
        [r.ok for r in LocalStream(tmp_path / f"{n}.db", fault_rate=0.1, seed=3).put_records(sent)]
        for n in range(2)
    ]
    assert runs[0] == runs[1]
    assert runs[0].count(False) == 30


def test_injected_failures_are_a_suffix_of_each_key_so_retries_keep_order(
    tmp_path: Path,
) -> None:
    # given a faulty stream and a producer that retries failed records before newer ones
    stream = LocalStream(tmp_path / "s.db", fault_rate=0.3, seed=11)
    sent = [PutRecord(f"well-{i % 4}", str(i).encode()) for i in range(2000)]
    pending: list[PutRecord] = []
    for start in range(0, len(sent), 250):
        batch = pending + sent[start : start + 250]
        results = stream.put_records(batch[:500])
        pending = [rec for rec, res in zip(batch, results, strict=True) if not res.ok]
        pending += batch[500:]
    while pending:
        results = stream.put_records(pending)
        pending = [rec for rec, res in zip(pending, results, strict=True) if not res.ok]

    # then every record is stored once and each key's records are in put order
    got = read_all(stream)
    assert len(got) == len(sent)
    for key in {r.partition_key for r in sent}:
        assert [r.data for r in got if r.partition_key == key] == [
            r.data for r in sent if r.partition_key == key
        ]


def test_fault_rate_must_be_a_fraction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fault_rate"):
        LocalStream(tmp_path / "s.db", fault_rate=1.5)


# -- errors -------------------------------------------------------------------------------


def test_a_locked_file_is_a_transient_error(stream: LocalStream) -> None:
    # given another connection holding the write lock
    other = sqlite3.connect(stream.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    stream.busy_timeout_ms = 50
    try:
        # when putting / then TransientError, and nothing half-written
        with pytest.raises(TransientError, match="busy|locked"):
            stream.put_records([PutRecord("k", b"x")])
    finally:
        other.execute("ROLLBACK")
        other.close()
    stream.put_records([PutRecord("k", b"y")])
    assert [r.data for r in read_all(stream)] == [b"y"]


def test_a_file_that_is_not_a_stream_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "stream.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="not a PetroStream stream"):
        LocalStream(path)


def test_a_missing_stream_is_a_config_error_when_not_creating(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no local stream"):
        LocalStream(tmp_path / "nothing.db", create=False)
    assert not (tmp_path / "nothing.db").exists()
