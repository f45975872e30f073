"""Local stream throughput: put_records and get_records, beside raw SQLite in the same run.

    .venv/bin/python benchmarks/bench_stream.py [--records 1000000] [--shards 2]

Records are ~250-byte JSON readings of 20 wells (partition key = well id), put in
batches of 500 (the PutRecords maximum) and read back in pages of 10,000. The
baseline is plain SQLite on the same machine: the same rows inserted with
executemany in one transaction per 500 rows into a bare table, and read back with
one SELECT per 10,000 rows, so the ratio is the stream's own overhead (hashing,
sequence numbers, results, record objects). ``put_record_blobs`` is the local
stream's list fast path (no PutRecord/PutResult per record), which replay uses.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from petrostream.stream.base import IteratorType, PutRecord
from petrostream.stream.local import LocalStream

PAYLOAD = (
    b'{"well_id":"WELL-00001","instance_id":"WELL-00001_20170316110041",'
    b'"ts":"2026-05-09 10:00:00.000","source_ts":"2017-03-16 11:00:41.000",'
    b'"p_pdg":0.0,"p_tpt":10092000.0,"t_tpt":119.0,"p_mon_ckp":9397000.0,'
    b'"t_jus_ckp":74.8,"p_jus_ckgl":null,"qgl":0.0,"event_class":0,"state":null}'
)


def batches(n: int) -> list[list[PutRecord]]:
    return [
        [PutRecord(f"WELL-{(b * 500 + i) % 20:05d}", PAYLOAD) for i in range(500)]
        for b in range(n // 500)
    ]


def bench_put_blobs(path: Path, work: list[list[PutRecord]], shards: int) -> float:
    lists = [([r.partition_key for r in b], [r.data for r in b]) for b in work]
    stream = LocalStream(path, shard_count=shards)
    start = time.perf_counter()
    for keys, data in lists:
        stream.put_record_blobs(keys, data)
    put_s = time.perf_counter() - start
    stream.close()
    return put_s


def bench_stream(path: Path, work: list[list[PutRecord]], shards: int) -> tuple[float, float]:
    stream = LocalStream(path, shard_count=shards)
    start = time.perf_counter()
    for batch in work:
        stream.put_records(batch)
    put_s = time.perf_counter() - start
    start = time.perf_counter()
    read = 0
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        while True:
            page = stream.get_records(it, limit=10_000)
            if not page.records:
                break
            read += len(page.records)
            it = page.next_iterator or it
    get_s = time.perf_counter() - start
    assert read == sum(len(b) for b in work), read
    stream.close()
    return put_s, get_s


def bench_sqlite(path: Path, work: list[list[PutRecord]]) -> tuple[float, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE r (shard INTEGER, seq INTEGER, pkey TEXT, data BLOB, "
        "PRIMARY KEY (shard, seq)) WITHOUT ROWID"
    )
    seq = 0
    start = time.perf_counter()
    for batch in work:
        rows = []
        for rec in batch:
            seq += 1
            rows.append((0, seq, rec.partition_key, rec.data))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO r VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    put_s = time.perf_counter() - start
    start = time.perf_counter()
    after, read = 0, 0
    while True:
        rows = conn.execute(
            "SELECT seq, pkey, data FROM r WHERE shard = 0 AND seq > ? ORDER BY seq LIMIT 10000",
            (after,),
        ).fetchall()
        if not rows:
            break
        read += len(rows)
        after = rows[-1][0]
    get_s = time.perf_counter() - start
    conn.close()
    return put_s, get_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=2)
    args = parser.parse_args()
    work = batches(args.records)
    n = sum(len(b) for b in work)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        put_s, get_s = bench_stream(Path(tmp) / "stream.db", work, args.shards)
        blobs_s = bench_put_blobs(Path(tmp) / "blobs.db", work, args.shards)
        base_put_s, base_get_s = bench_sqlite(Path(tmp) / "raw.db", work)
    load_after = os.getloadavg()
    print(
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.platform()}, "
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}"
    )
    print(f"{n:,} records of {len(PAYLOAD)} bytes, batches of 500, {args.shards} shards")
    print(
        "load average (1/5/15 min) before "
        + "/".join(f"{x:.2f}" for x in load_before)
        + ", after "
        + "/".join(f"{x:.2f}" for x in load_after)
    )
    print(f"{'':22}{'records/s':>12}{'baseline/s':>14}{'ratio':>8}")
    for what, secs, base in (
        ("put_records", put_s, base_put_s),
        ("put_record_blobs", blobs_s, base_put_s),
        ("get_records", get_s, base_get_s),
    ):
        print(f"{what:22}{n / secs:>12,.0f}{n / base:>14,.0f}{base / secs:>8.2f}")


if __name__ == "__main__":
    main()
