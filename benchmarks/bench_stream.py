"""Local stream throughput: put_records and get_records, beside raw SQLite in the same run.

    .venv/bin/python benchmarks/bench_stream.py [--records 1000000] [--shards 2]
    .venv/bin/python benchmarks/bench_stream.py --aggregate [--wells 1000] [--seconds 60]

Records are ~250-byte JSON readings of 20 wells (partition key = well id), put in
batches of 500 (the PutRecords maximum) and read back in pages of 10,000. The
baseline is plain SQLite on the same machine: the same rows inserted with
executemany in one transaction per 500 rows into a bare table, and read back with
one SELECT per 10,000 rows, so the ratio is the stream's own overhead (hashing,
sequence numbers, results, record objects). ``put_record_blobs`` is the local
stream's list fast path (no PutRecord/PutResult per record), which replay uses.

``--aggregate``: a fleet of ``--wells`` wells at 1 Hz for ``--seconds`` s (readings
interleaved as a live fleet puts them), put one reading per record (the baseline) and
as KPL aggregates of every well bound for a shard (`petrostream.aggregate.pack`), in
the same run: records put, Kinesis PUT payload units (25 KB each), Firehose billed
bytes (each record rounded up to 5 KB), put time, and the lake decoder's time to turn
the stored records back into rows (`lake.decode.decode_data`).

Real form, same run, in both modes: the records ``replay --speed 0`` puts for the
developers' real 3W set (``--real DIR``, default ``$PETROSTREAM_3W_DIR``, else
``../shared/data/3w``; ``--real none`` skips it), captured in replay order from a
stream that only keeps them, then put and read (and packed) exactly as the synthetic
records, with the same baselines. ``--real-records N`` keeps the first N.
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

from real3w import real_3w_dir

from petrostream.stream.base import IteratorType, PutRecord
from petrostream.stream.local import LocalStream

PAYLOAD = (
    b'{"well_id":"WELL-00001","instance_id":"WELL-00001_20170316110041",'
    b'"ts":"2026-05-09 10:00:00.000","source_ts":"2017-03-16 11:00:41.000",'
    b'"p_pdg":0.0,"p_tpt":10092000.0,"t_tpt":119.0,"p_mon_ckp":9397000.0,'
    b'"t_jus_ckp":74.8,"p_jus_ckgl":null,"qgl":0.0,"event_class":0,"state":null}'
)


def synthetic_entries(n: int) -> list[tuple[str, bytes]]:
    """``n`` (rounded down to whole batches of 500) copies of `PAYLOAD`, 20 partition keys."""
    return [(f"WELL-{i % 20:05d}", PAYLOAD) for i in range(n // 500 * 500)]


def batches(entries: list[tuple[str, bytes]]) -> list[list[PutRecord]]:
    """The entries as PutRecords calls of 500 (the last one may be shorter)."""
    return [
        [PutRecord(key, data) for key, data in entries[i : i + 500]]
        for i in range(0, len(entries), 500)
    ]


def real_entries(folder: Path, limit: int = 0) -> list[tuple[str, bytes]]:
    """(partition key, record) of every reading `replay --speed 0` puts for ``folder``.

    The replay runs as the CLI runs it, into a stream that keeps what it is given
    (the local stream's list fast path, as replay uses): the records, their keys
    and their order are the replay's. ``limit`` > 0 keeps the first ``limit``.
    """
    from petrostream.dataset import discover
    from petrostream.producer import SystemClock, replay
    from petrostream.stream.local import PutBlobsResult

    kept: list[tuple[str, bytes]] = []

    class KeepingStream:
        name = "keep"

        def put_record_blobs(self, keys: list[str], data: list[bytes]) -> PutBlobsResult:
            kept.extend(zip(keys, (bytes(d) for d in data), strict=True))
            return PutBlobsResult(["shardId-000000000000"] * len(keys), [1] * len(keys), [])

        def close(self) -> None:
            pass

    replay(discover([folder]), KeepingStream(), speed=0, clock=SystemClock())  # type: ignore[arg-type]
    return kept[:limit] if limit > 0 else kept


Took = tuple[float, float]
"""Wall seconds, and CPU seconds of this process (every thread: the stream's checkpoints too)."""


def _now() -> Took:
    return time.perf_counter(), time.process_time()


def _since(start: Took) -> Took:
    wall, cpu = _now()
    return wall - start[0], cpu - start[1]


def bench_put_blobs(path: Path, work: list[list[PutRecord]], shards: int) -> Took:
    lists = [([r.partition_key for r in b], [r.data for r in b]) for b in work]
    stream = LocalStream(path, shard_count=shards)
    start = _now()
    for keys, data in lists:
        stream.put_record_blobs(keys, data)
    put_s = _since(start)
    stream.close()
    return put_s


def bench_stream(path: Path, work: list[list[PutRecord]], shards: int) -> tuple[Took, Took]:
    stream = LocalStream(path, shard_count=shards)
    start = _now()
    for batch in work:
        stream.put_records(batch)
    put_s = _since(start)
    start = _now()
    read = 0
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        while True:
            page = stream.get_records(it, limit=10_000)
            if not page.records:
                break
            read += len(page.records)
            it = page.next_iterator or it
    get_s = _since(start)
    assert read == sum(len(b) for b in work), read
    stream.close()
    return put_s, get_s


def bench_sqlite(path: Path, work: list[list[PutRecord]]) -> tuple[Took, Took]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE r (shard INTEGER, seq INTEGER, pkey TEXT, data BLOB, "
        "PRIMARY KEY (shard, seq)) WITHOUT ROWID"
    )
    seq = 0
    start = _now()
    for batch in work:
        rows = []
        for rec in batch:
            seq += 1
            rows.append((0, seq, rec.partition_key, rec.data))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO r VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    put_s = _since(start)
    start = _now()
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
    get_s = _since(start)
    conn.close()
    return put_s, get_s


def _fleet(wells: int, seconds: int) -> list[tuple[str, bytes]]:
    out = []
    for t in range(seconds):
        ts = f"2026-05-09 10:{t // 60:02d}:{t % 60:02d}.000".encode()
        for w in range(wells):
            well = f"WELL-{w:05d}"
            data = PAYLOAD.replace(b"WELL-00001", well.encode()).replace(
                b"2026-05-09 10:00:00.000", ts
            )
            out.append((well, data))
    return out


def _billing(datas: list[bytes]) -> tuple[int, int]:
    kinesis_units = sum(-(-len(d) // 25_000) for d in datas)
    firehose_bytes = sum(-(-len(d) // 5_120) * 5_120 for d in datas)
    return kinesis_units, firehose_bytes


def bench_aggregate(tmp: Path, entries: list[tuple[str, bytes]], title: str, shards: int) -> None:
    from petrostream.aggregate import pack, shard_router
    from petrostream.lake.decode import decode_data

    origin = lambda i: ("shardId-000000000000", str(i), datetime.now(UTC))  # noqa: E731
    rows = []
    for name in ("single", "aggregated"):
        stream = LocalStream(tmp / f"{name}.db", shard_count=shards)
        start = time.perf_counter()
        if name == "single":
            payloads = entries
        else:
            router = shard_router(
                (s.shard_id, s.starting_hash_key, s.ending_hash_key) for s in stream.list_shards()
            )
            payloads = pack(entries, router)
        batch: list[PutRecord] = []
        size = 0
        for k, d in payloads:  # PutRecords: at most 500 records and 5 MiB a call
            if len(batch) == 500 or size + len(d) + len(k) > 5 * 1024 * 1024:
                stream.put_records(batch)
                batch, size = [], 0
            batch.append(PutRecord(k, d))
            size += len(d) + len(k)
        if batch:
            stream.put_records(batch)
        put_s = time.perf_counter() - start
        stream.close()
        datas = [d for _, d in payloads]
        start = time.perf_counter()
        decoded = decode_data(datas, origin)
        decode_s = time.perf_counter() - start
        assert decoded.table is not None and decoded.table.num_rows == len(entries)
        rows.append((name, len(datas), *_billing(datas), put_s, decode_s))
    size = sum(len(d) for _, d in entries) / len(entries)
    print(f"{title}: {len(entries):,} readings of {size:.0f} bytes on average, {shards} shards")
    print(
        f"{'':12}{'records':>10}{'PUT units':>11}{'Firehose MB':>13}"
        f"{'put readings/s':>16}{'decode readings/s':>19}"
    )
    for name, records, units, fh, put_s, decode_s in rows:
        print(
            f"{name:12}{records:>10,}{units:>11,}{fh / 1e6:>13,.1f}"
            f"{len(entries) / put_s:>16,.0f}{len(entries) / decode_s:>19,.0f}"
        )
    single, agg = rows
    print(
        f"ratio aggregated/single: records {agg[1] / single[1]:.4f}, PUT units "
        f"{agg[2] / single[2]:.4f}, Firehose bytes {agg[3] / single[3]:.4f}, "
        f"put speed {single[4] / agg[4]:.2f}x, decode speed {single[5] / agg[5]:.2f}x"
    )


def put_get(
    tmp: Path, entries: list[tuple[str, bytes]], shards: int
) -> list[tuple[str, Took, Took]]:
    """put_records, put_record_blobs and get_records of ``entries`` beside raw SQLite."""
    work = batches(entries)
    put_s, get_s = bench_stream(tmp / "stream.db", work, shards)
    blobs_s = bench_put_blobs(tmp / "blobs.db", work, shards)
    base_put_s, base_get_s = bench_sqlite(tmp / "raw.db", work)
    return [
        ("put_records", put_s, base_put_s),
        ("put_record_blobs", blobs_s, base_put_s),
        ("get_records", get_s, base_get_s),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--aggregate", action="store_true", help="single vs KPL-aggregated")
    parser.add_argument("--wells", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--real", default=None, help="the real 3W set (default ../shared/data/3w), or 'none'"
    )
    parser.add_argument(
        "--real-records", type=int, default=0, help="keep the first N real records (0: all)"
    )
    args = parser.parse_args()
    folder = real_3w_dir(args.real)
    load_before = os.getloadavg()
    print(
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.platform()}, "
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}"
    )
    print("load average (1/5/15 min) before " + "/".join(f"{x:.2f}" for x in load_before))
    forms: list[tuple[str, list[tuple[str, bytes]]]] = []
    if args.aggregate:
        fleet = _fleet(args.wells, args.seconds)
        forms.append((f"synthetic: {args.wells:,} wells at 1 Hz for {args.seconds} s", fleet))
    else:
        forms.append(
            ("synthetic: copies of one 3W-like reading, 20 wells", synthetic_entries(args.records))
        )
    if folder is not None:
        began = time.perf_counter()
        real = real_entries(folder, args.real_records)
        took = time.perf_counter() - began
        print(
            f"real: {len(real):,} records replayed from {folder} in {took:.1f} s (not timed below)"
        )
        forms.append((f"real: `replay --speed 0` records of {folder}, in replay order", real))
    else:
        print("real: skipped (no real 3W set: --real DIR or PETROSTREAM_3W_DIR)")
    with tempfile.TemporaryDirectory() as tmp:
        for number, (title, entries) in enumerate(forms):
            where = Path(tmp) / str(number)
            where.mkdir()
            if args.aggregate:
                bench_aggregate(where, entries, title, args.shards)
                continue
            size = sum(len(d) for _, d in entries) / len(entries)
            keys = len({k for k, _ in entries})
            print(
                f"{title}: {len(entries):,} records of {size:.0f} bytes on average, "
                f"{keys:,} partition keys, batches of 500, {args.shards} shards"
            )
            print(
                f"{'':22}{'records/s':>12}{'baseline/s':>14}{'ratio':>8}"
                f"{'CPU us/rec':>12}{'baseline':>10}{'ratio':>8}"
            )
            n = len(entries)
            for what, ours, base in put_get(where, entries, args.shards):
                print(
                    f"{what:22}{n / ours[0]:>12,.0f}{n / base[0]:>14,.0f}{base[0] / ours[0]:>8.2f}"
                    f"{ours[1] / n * 1e6:>12.2f}{base[1] / n * 1e6:>10.2f}{base[1] / ours[1]:>8.2f}"
                )
    print("load average (1/5/15 min) after " + "/".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
