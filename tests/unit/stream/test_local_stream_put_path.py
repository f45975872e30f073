"""The local stream's put path: the list fast path, the batch checks, last_seq bookkeeping."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from petrostream.stream import local
from petrostream.stream.base import (
    MAX_PUT_BYTES,
    MAX_RECORD_BYTES,
    IteratorType,
    PutRecord,
    check_put_batch,
    check_put_lists,
    hash_key,
)
from petrostream.stream.local import LocalStream

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def read_all(stream: LocalStream) -> dict[str, list[tuple[str, bytes, str]]]:
    out = {}
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        page = stream.get_records(it, limit=10_000)
        out[shard.shard_id] = [(r.partition_key, r.data, r.sequence_number) for r in page.records]
    return out


def keys_on_shard(stream: LocalStream, shard: int, count: int) -> list[str]:
    info = stream.list_shards()[shard]
    found = []
    n = 0
    while len(found) < count:
        key = f"WELL-{n:05d}"
        if info.starting_hash_key <= hash_key(key) <= info.ending_hash_key:
            found.append(key)
        n += 1
    return found


@pytest.mark.parametrize("fault_rate", [0.0, 0.3])
def test_put_record_blobs_stores_and_answers_as_put_records_does(
    tmp_path: Path, fault_rate: float
) -> None:
    # given two fresh streams with the same fault seed and the same clock
    kwargs = {"shard_count": 2, "fault_rate": fault_rate, "seed": 7, "clock": lambda: T0}
    plain = LocalStream(tmp_path / "plain.db", **kwargs)  # type: ignore[arg-type]
    fast = LocalStream(tmp_path / "fast.db", **kwargs)  # type: ignore[arg-type]
    keys = [f"WELL-{i % 13:05d}" for i in range(500)]
    data = [f'{{"n":{i}}}'.encode() for i in range(500)]

    # when the same request goes through put_records and put_record_blobs, twice
    results = [plain.put_records(list(map(PutRecord, keys, data))) for _ in range(2)]
    outcomes = [fast.put_record_blobs(keys, data) for _ in range(2)]

    # then the outcome is the same, record by record, and so is what was stored
    assert [o.results() for o in outcomes] == results
    for outcome, result in zip(outcomes, results, strict=True):
        assert outcome.failed == [i for i, r in enumerate(result) if not r.ok]
        assert (len(outcome.failed) > 0) == (fault_rate > 0)
    assert read_all(fast) == read_all(plain)
    # and each shard's sequence numbers increase strictly, each key in request order
    for records in read_all(fast).values():
        seqs = [int(seq) for _, _, seq in records]
        assert seqs == sorted(set(seqs))
    stored = [r for records in read_all(fast).values() for r in records]
    assert all(type(blob) is bytes for _, blob, _ in stored)
    if not fault_rate:
        for key in set(keys):
            sent = [blob for k, blob in zip(keys, data, strict=True) if k == key]
            assert [blob for k, blob, _ in stored if k == key] == sent * 2
    plain.close()
    fast.close()


def test_a_put_that_misses_a_shard_leaves_its_last_sequence_alone(tmp_path: Path) -> None:
    # given a two-shard stream
    stream = LocalStream(tmp_path / "s.db", shard_count=2, clock=lambda: T0)
    shard0, shard1 = (s.shard_id for s in stream.list_shards())

    # when every put holds keys of shard 0 only
    for _ in range(3):
        stream.put_record_blobs(keys_on_shard(stream, 0, 5), [b"x"] * 5)

    # then shard 1 never assigned a sequence number, and shard 0's last is its last record
    assert stream.latest_sequence(shard1) is None
    assert stream.latest_sequence(shard0) == read_all(stream)[shard0][-1][2]
    stream.close()


def test_a_put_whose_records_all_fail_assigns_no_sequence_number(tmp_path: Path) -> None:
    # given a stream refusing every record
    stream = LocalStream(tmp_path / "s.db", shard_count=1, fault_rate=1.0, seed=1)

    # when a put is refused whole
    outcome = stream.put_record_blobs(["a", "b"], [b"1", b"2"])

    # then nothing is stored and the shard has no last sequence number
    assert outcome.failed == [0, 1]
    assert outcome.sequence_numbers == [0, 0]
    assert outcome.shard_ids == [None, None]
    assert stream.latest_sequence(stream.list_shards()[0].shard_id) is None
    stream.close()


def test_put_record_blobs_refuses_lists_of_different_lengths(tmp_path: Path) -> None:
    stream = LocalStream(tmp_path / "s.db")
    with pytest.raises(ValueError, match="2 partition keys for 1 records"):
        stream.put_record_blobs(["a", "b"], [b"1"])
    assert all(not records for records in read_all(stream).values())
    stream.close()


BAD_BATCHES = [
    ([], [], "at least one record"),
    (["k"] * 501, [b"x"] * 501, "501 records in one put"),
    (["ok", ""], [b"x", b"y"], "record 1: partition key must be 1-256 characters"),
    (["ok", "k" * 257], [b"x", b"y"], "record 1: partition key must be 1-256 characters"),
    (["k", "k"], [b"x", b"x" * MAX_RECORD_BYTES], f"record 1 is {MAX_RECORD_BYTES + 1} bytes"),
    # the key's UTF-8 bytes count: 1 MiB - 1 of data plus a 2-byte key is over
    (["é"], [b"x" * (MAX_RECORD_BYTES - 1)], f"record 0 is {MAX_RECORD_BYTES + 1} bytes"),
    (["k"] * 6, [b"x" * (MAX_PUT_BYTES // 6)] * 6, "the limit is 5 MiB per call"),
    # 6 keys of 1 character but 2 bytes: 3 bytes too many in all
    (["é"] * 6, [b"x" * 873_812] * 6, "put of 5242884 bytes"),
]


@pytest.mark.parametrize(("keys", "data", "message"), BAD_BATCHES)
def test_batch_checks_refuse_what_breaks_a_limit_with_the_same_message(
    keys: list[str], data: list[bytes], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_put_lists(keys, data)
    with pytest.raises(ValueError, match=message):
        check_put_batch(list(map(PutRecord, keys, data)))


def test_batch_checks_accept_requests_at_the_limits() -> None:
    check_put_lists(["k" * 256], [b"x" * (MAX_RECORD_BYTES - 256)])
    check_put_lists(["é"] * 6, [b"x" * 873_811] * 6)
    check_put_lists(["k"] * 500, [b""] * 500)


def test_a_key_that_is_not_text_is_refused_as_a_bad_partition_key() -> None:
    with pytest.raises(ValueError, match="record 1: partition key"):
        check_put_lists(["ok", None], [b"x", b"y"])  # type: ignore[list-item]


def test_a_bulk_producer_checkpoints_in_the_background_and_the_wal_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a stream that asks for a checkpoint every 256 KiB put
    monkeypatch.setattr(local, "CHECKPOINT_BYTES", 256 * 1024)
    path = tmp_path / "s.db"
    stream = LocalStream(path, shard_count=2)
    blob = b"x" * 200
    keys = [f"WELL-{i % 10:05d}" for i in range(500)]
    puts = 400

    # when 40 MB of records are put (150 times the threshold)
    wal = path.with_name("s.db-wal")
    restarts = set()
    for _ in range(puts):
        stream.put_record_blobs(keys, [blob] * 500)
        # the WAL header's checkpoint sequence number grows each time the WAL restarts
        with wal.open("rb") as header:
            restarts.add(int.from_bytes(header.read(16)[12:], "big"))

    # then the checkpoint thread ran and the WAL restarted again and again, instead of
    # growing with the data (a restart needs the WAL fully copied when a put begins)
    assert any(t.name.startswith("petrostream-wal-checkpoint") for t in threading.enumerate())
    assert len(restarts) >= 3
    # and every record is there, in order, once
    assert sum(len(records) for records in read_all_pages(stream).values()) == puts * 500
    stream.close()
    assert not any(t.name.startswith("petrostream-wal-checkpoint") for t in threading.enumerate())
    # and the file reopens with every record
    reopened = LocalStream(path)
    assert sum(len(records) for records in read_all_pages(reopened).values()) == puts * 500
    reopened.close()


def read_all_pages(stream: LocalStream) -> dict[str, list[int]]:
    out = {}
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        seqs: list[int] = []
        while page := stream.get_record_blobs(it).sequence_numbers:
            seqs.extend(page)
            it = stream.get_shard_iterator(
                shard.shard_id, IteratorType.AFTER_SEQUENCE_NUMBER, sequence_number=str(seqs[-1])
            )
        assert seqs == sorted(set(seqs))
        out[shard.shard_id] = seqs
    return out


BULK_PRODUCER = """
import sys
from pathlib import Path
from petrostream.stream import local

local.CHECKPOINT_BYTES = 64 * 1024  # the checkpoint thread runs every few puts
stream = local.LocalStream(Path(sys.argv[1]))
keys = [f"k{i % 7}" for i in range(500)]
n = 0
while True:
    stream.put_record_blobs(keys, [b"%d-%d" % (n, i) + b"x" * 150 for i in range(500)])
    n += 1
    print(n, flush=True)
"""


def test_puts_that_returned_survive_kill_9_while_the_checkpoint_thread_runs(
    tmp_path: Path,
) -> None:
    # given a producer process putting nonstop, checkpointing in the background
    path = tmp_path / "stream.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", BULK_PRODUCER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    returned = 0
    while returned < 150:
        returned = int(proc.stdout.readline())

    # when it is killed mid-flight
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    # then the file is intact and holds every put that returned, each whole
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stream = LocalStream(path)
    seqs = read_all_pages(stream)
    total = sum(len(s) for s in seqs.values())
    assert total >= returned * 500
    assert total % 500 == 0
    stream.close()
