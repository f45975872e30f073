"""Issue 16.2 in the local runtime: aggregated and single records land exactly once and are
detected on, by the lake writer and the detector running as `petrostream run` does."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from petrostream.aggregate import pack, shard_router
from petrostream.lake.tables import open_catalog
from petrostream.record import encode, format_ts
from petrostream.runtime.stack import run_stack
from petrostream.settings import Settings
from petrostream.stream.base import PutRecord
from petrostream.stream.local import LocalStream
from petrostream.testing.lake import read_table

T0 = datetime(2024, 5, 30, 10, tzinfo=UTC)


def test_aggregated_and_single_records_land_once_and_are_detected(settings: Settings) -> None:
    # given three wells put one reading per record and twenty put as KPL aggregates of
    # every well bound for a shard; each well leaves p_pdg's physical range after 300 s
    stream = LocalStream(settings.stream_path, shard_count=2)
    shard_of = shard_router(
        (s.shard_id, s.starting_hash_key, s.ending_hash_key) for s in stream.list_shards()
    )
    wells = [f"WELL-{w:05d}" for w in range(1, 24)]
    entries = [
        (
            well,
            encode(
                {
                    "well_id": well,
                    "ts": format_ts(T0 + timedelta(seconds=i)),
                    "p_pdg": 2.0e8 if i >= 300 else 2.0e7 + i,
                }
            ),
        )
        for i in range(600)
        for well in wells
    ]
    single = [(k, d) for k, d in entries if k in wells[:3]]
    packed = pack([(k, d) for k, d in entries if k not in wells[:3]], shard_of)
    payloads = single + packed
    for start in range(0, len(payloads), 200):
        stream.put_records([PutRecord(k, d) for k, d in payloads[start : start + 200]])
    stream.close()
    assert len(packed) < len(entries) // 20
    # when the lake writer and the detector drain the stream (twice: a rerun adds nothing)
    first = run_stack(settings, drain=True, stop=threading.Event())
    second = run_stack(settings, drain=True, stop=threading.Event())
    # then the lake holds each reading once, and each well raised its alert once
    table = read_table(open_catalog(settings.home, settings.lake_uri))
    keys = list(
        zip(table.column("well_id").to_pylist(), table.column("ts").to_pylist(), strict=True)
    )
    assert len(keys) == len(set(keys)) == 600 * 23
    assert first.detector is not None and second.detector is not None
    assert first.detector.records_processed == 600 * 23
    assert first.detector.alerts_by_rule == {"out_of_range": 23}
    assert (second.detector.records_processed, second.detector.alerts_raised) == (0, 0)
    assert first.lake is not None and first.lake.rejects == 0
