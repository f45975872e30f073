"""The local stream shared by processes: concurrent producers and a consumer, and crash safety."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from petrostream.stream.base import IteratorType, PutRecord
from petrostream.stream.local import LocalStream

PER_PRODUCER = 6000
KEYS = 8
BATCH = 300


def produce(path: str, producer: int) -> None:
    """Put PER_PRODUCER records over KEYS keys, retrying injected failures in order."""
    stream = LocalStream(Path(path), fault_rate=0.05, seed=producer)
    records = [
        PutRecord(f"p{producer}-k{i % KEYS}", f"p{producer}-k{i % KEYS}-{i // KEYS}".encode())
        for i in range(PER_PRODUCER)
    ]
    pending: list[PutRecord] = []
    for start in range(0, len(records), BATCH):
        batch = pending + records[start : start + BATCH]
        results = stream.put_records(batch)
        pending = [rec for rec, res in zip(batch, results, strict=True) if not res.ok]
    while pending:
        results = stream.put_records(pending)
        pending = [rec for rec, res in zip(pending, results, strict=True) if not res.ok]
    stream.close()


def consume(path: str, expected: int, out: str) -> None:
    """Read every shard from the start, checkpointing, until `expected` records are read."""
    stream = LocalStream(Path(path))
    iterators = {
        s.shard_id: stream.get_shard_iterator(s.shard_id, IteratorType.TRIM_HORIZON)
        for s in stream.list_shards()
    }
    seen: list[list[str]] = []
    deadline = time.monotonic() + 120
    while len(seen) < expected and time.monotonic() < deadline:
        for shard_id, it in iterators.items():
            page = stream.get_records(it, limit=500)
            for rec in page.records:
                seen.append([rec.partition_key, rec.data.decode(), shard_id, rec.sequence_number])
            if page.records:
                stream.set_checkpoint("test", shard_id, page.records[-1].sequence_number)
            assert page.next_iterator is not None
            iterators[shard_id] = page.next_iterator
        time.sleep(0.001)
    Path(out).write_text(json.dumps(seen))
    stream.close()


def test_two_producer_processes_and_a_consumer_process_lose_and_repeat_nothing(
    tmp_path: Path,
) -> None:
    # given a stream file created up front, and a consumer process already reading it
    path = tmp_path / "stream.db"
    LocalStream(path, shard_count=2).close()
    ctx = multiprocessing.get_context("spawn")
    out = tmp_path / "seen.json"
    consumer = ctx.Process(target=consume, args=(str(path), 2 * PER_PRODUCER, str(out)))
    consumer.start()

    # when two producer processes put at the same time (with injected throttling)
    producers = [ctx.Process(target=produce, args=(str(path), p)) for p in range(2)]
    for proc in producers:
        proc.start()
    for proc in [*producers, consumer]:
        proc.join(timeout=180)
        assert proc.exitcode == 0

    # then the consumer read every record exactly once, each key in put order
    seen = json.loads(out.read_text())
    assert len(seen) == 2 * PER_PRODUCER
    assert len({(shard, seq) for _, _, shard, seq in seen}) == len(seen)
    for producer in range(2):
        for k in range(KEYS):
            key = f"p{producer}-k{k}"
            data = [d for pk, d, _, _ in seen if pk == key]
            assert data == [f"{key}-{n}" for n in range(PER_PRODUCER // KEYS)]
    # and its checkpoints reached each shard's last record
    stream = LocalStream(path)
    assert {
        s.shard_id: stream.latest_sequence(s.shard_id) for s in stream.list_shards()
    } == stream.checkpoints()["test"]


CRASHING_PRODUCER = """
import sys
from pathlib import Path
from petrostream.stream.base import PutRecord
from petrostream.stream.local import LocalStream

stream = LocalStream(Path(sys.argv[1]))
for batch in range(4):
    stream.put_records([PutRecord(f"k{i}", b"%d-%d" % (batch, i)) for i in range(500)])
print("stored", flush=True)
sys.stdin.read()  # wait to be killed, connection still open
"""


def test_a_put_that_returned_survives_kill_9_of_the_producer(tmp_path: Path) -> None:
    # given a producer process that put 2,000 records and holds the file open
    path = tmp_path / "stream.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_PRODUCER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "stored"

    # when it is killed without any chance to clean up
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    # then every record it was told was stored is there
    stream = LocalStream(path)
    total = sum(r["records"] for r in stream.describe()["shards"])
    assert total == 2000
