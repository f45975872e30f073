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

import numpy as np
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


def as_request(keys: list[str], data: list[bytes]) -> local.BlobRequest:
    ends = np.cumsum([len(blob) for blob in data], dtype=np.int64)
    return local.BlobRequest(keys, b"".join(data), ends)


@pytest.mark.parametrize("fault_rate", [0.0, 0.3])
def test_put_record_requests_stores_what_one_put_per_request_stores(
    tmp_path: Path, fault_rate: float
) -> None:
    # given two fresh streams with the same fault seed and clock, and four requests
    kwargs = {"shard_count": 2, "fault_rate": fault_rate, "seed": 5, "clock": lambda: T0}
    one_by_one = LocalStream(tmp_path / "one.db", **kwargs)  # type: ignore[arg-type]
    bulk = LocalStream(tmp_path / "bulk.db", **kwargs)  # type: ignore[arg-type]
    requests = []
    for r in range(4):
        keys = [f"WELL-{(i * 7 + r) % 11:05d}" for i in range(300)]
        requests.append((keys, [f'{{"r":{r},"n":{i}}}'.encode() for i in range(300)]))

    # when the bulk stream takes them in one call, the other one put at a time
    outcomes = bulk.put_record_requests([as_request(k, d) for k, d in requests])
    expected = []
    for (keys, data), outcome in zip(requests, outcomes, strict=True):
        if outcome is None:
            break
        expected.append(one_by_one.put_record_blobs(keys, data))

    # then the same requests were stored, the same way, up to the first refusal
    attempted = [o for o in outcomes if o is not None]
    assert attempted == expected
    assert read_all(bulk) == read_all(one_by_one)
    if fault_rate:
        # the requests after the first one with a refused record were not attempted
        first_refusal = next(i for i, o in enumerate(attempted) if o.failed)
        assert len(attempted) == first_refusal + 1
        assert outcomes[first_refusal + 1 :] == [None] * (3 - first_refusal)
    else:
        assert len(attempted) == 4
        assert sum(len(r) for r in read_all(bulk).values()) == 1200
    bulk.close()
    one_by_one.close()


def test_put_record_requests_takes_views_of_one_buffer_and_stores_bytes(tmp_path: Path) -> None:
    # given one buffer holding two requests' records, handed over as views into it
    stream = LocalStream(tmp_path / "s.db", shard_count=2, clock=lambda: T0)
    data = [b"rec-%03d" % i for i in range(20)]
    keys = [f"WELL-{i % 3:05d}" for i in range(20)]
    buffer = memoryview(b"".join(data))
    ends = np.cumsum([len(d) for d in data], dtype=np.int64)
    first = local.BlobRequest(keys[:12], buffer[: int(ends[11])], ends[:12])
    second = local.BlobRequest(keys[12:], buffer[int(ends[11]) :], ends[12:] - ends[11])

    # when both are put in one call
    outcomes = stream.put_record_requests([first, second])

    # then every record is stored once, as bytes, each key's in order
    assert all(o is not None and not o.failed for o in outcomes)
    stored = [r for records in read_all(stream).values() for r in records]
    assert sorted(blob for _, blob, _ in stored) == data
    assert all(type(blob) is bytes for _, blob, _ in stored)
    for key in set(keys):
        assert [b for k, b, _ in stored if k == key] == [
            d for k, d in zip(keys, data, strict=True) if k == key
        ]
    stream.close()


@pytest.mark.parametrize(("keys", "data", "message"), BAD_BATCHES[1:])
def test_a_request_breaking_a_limit_is_refused_with_the_same_message_and_nothing_stored(
    tmp_path: Path, keys: list[str], data: list[bytes], message: str
) -> None:
    # given a stream and a valid request before the bad one
    stream = LocalStream(tmp_path / "s.db")
    good = as_request(["WELL-00001"], [b"ok"])

    # when both go in one call, then the call is refused with put_records' message
    with pytest.raises(ValueError, match=message):
        stream.put_record_requests([good, as_request(keys, data)])

    # and nothing of the call was stored
    assert all(not records for records in read_all(stream).values())
    stream.close()


def test_a_request_whose_ends_do_not_fit_its_data_is_refused(tmp_path: Path) -> None:
    stream = LocalStream(tmp_path / "s.db")
    with pytest.raises(ValueError, match="one end per record"):
        stream.put_record_requests([local.BlobRequest(["a", "b"], b"abc", np.array([1, 2]))])
    with pytest.raises(ValueError, match="must not decrease"):
        stream.put_record_requests([local.BlobRequest(["a", "b"], b"abc", np.array([4, 3]))])
    with pytest.raises(ValueError, match="at least one record"):
        stream.put_record_requests([local.BlobRequest([], b"", np.array([], np.int64))])
    assert all(not records for records in read_all(stream).values())
    stream.close()


def test_put_results_of_one_shard_and_of_two_name_what_was_stored(tmp_path: Path) -> None:
    # given keys of two shards, and requests whose records all go to one shard (as a
    # producer that groups by shard sends them) beside one that mixes both
    stream = LocalStream(tmp_path / "s.db", shard_count=2, clock=lambda: T0)
    shard_of = {f"WELL-{i:05d}": stream._shards_of([f"WELL-{i:05d}"])[0] for i in range(40)}
    first = [k for k, n in shard_of.items() if n == 0][:3]
    second = [k for k, n in shard_of.items() if n == 1][:3]
    assert first and second
    requests = [
        [first[i % 3] for i in range(7)],
        [second[i % 3] for i in range(5)],
        [(first + second)[i % 6] for i in range(9)],
        [first[0]] * 4,
    ]
    blobs = [[f"{r}-{i}".encode() for i in range(len(keys))] for r, keys in enumerate(requests)]

    # when they are put in one call
    outcomes = stream.put_record_requests(
        [as_request(keys, data) for keys, data in zip(requests, blobs, strict=True)]
    )

    # then each result names, per record, the shard and sequence number it was stored
    # under: what reading the shards gives back, in order
    stored = read_all(stream)
    at = {(shard, seq): data for shard, rows in stored.items() for _, data, seq in rows}
    named = []
    for outcome, data in zip(outcomes, blobs, strict=True):
        assert outcome is not None and not outcome.failed
        places = list(zip(outcome.shard_ids, map(str, outcome.sequence_numbers), strict=True))
        assert [at[place] for place in places] == data
        named += places
    assert sorted(named) == sorted(at)  # every stored record named once
    # and each shard's numbers increase strictly, one record each
    for rows in stored.values():
        seqs = [int(seq) for _, _, seq in rows]
        assert seqs == sorted(set(seqs))
    assert sum(map(len, stored.values())) == 25
    stream.close()
