"""`replay(aggregate=True)`: readings bound for one shard travel as KPL aggregates, exactly once."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from producer_fakes import FakeReader, make_file

from petrostream.aggregate import deaggregate, is_aggregated
from petrostream.producer import RetryPolicy, replay
from petrostream.producer.ledger import Ledger
from petrostream.record import decode
from petrostream.stream.base import IteratorType
from petrostream.stream.local import LocalStream
from petrostream.testing.clock import FakeClock

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def _replay(files, stream, **kwargs):
    reader = FakeReader(files)
    return replay(
        [f.instance for f in files],
        stream,
        read=reader,
        spans=reader.span,
        speed=0,
        clock=FakeClock(NOW),
        rng=random.Random(7),
        **kwargs,
    )


def _stored(stream: LocalStream) -> tuple[list[bytes], dict[str, list[str]]]:
    """Every stream record, and per shard the wells of the readings it holds, in order."""
    records, wells = [], {}
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        page = stream.get_records(it, limit=10_000).records
        records.extend(r.data for r in page)
        wells[shard.shard_id] = [
            decode(d)["well_id"]
            for r in page
            for d in (deaggregate(r.data) if is_aggregated(r.data) else [r.data])
        ]
    return records, wells


def test_aggregated_replay_puts_every_reading_once_in_far_fewer_records(tmp_path: Path) -> None:
    # given 20 wells of 300 readings and a two-shard local stream
    files = [make_file(f"WELL-{w:05d}", 300) for w in range(1, 21)]
    stream = LocalStream(tmp_path / "s.db", shard_count=2)

    # when replayed with aggregation
    summary = _replay(files, stream, aggregate=True)

    # then all 6,000 readings are counted and stored, one aggregate per shard and put
    records, wells = _stored(stream)
    assert summary.records_put == 6000
    assert summary.aggregates == len(records)
    assert len(records) <= 2 * summary.put_calls
    assert len(records) < 6000 / 20
    assert sum(len(w) for w in wells.values()) == 6000
    # and each well's readings are on one shard (the one its key maps to), in file order
    for f in files:
        on = [s for s, ws in wells.items() if f.instance.well_id in ws]
        assert len(on) == 1
    stream.close()


def test_a_refused_aggregate_is_sent_again_whole_and_nothing_is_doubled(tmp_path: Path) -> None:
    # given a local stream refusing 30 % of the records of each put
    files = [make_file(f"WELL-{w:05d}", 400, step_ms=1000 + 10 * w) for w in range(1, 9)]
    stream = LocalStream(tmp_path / "s.db", shard_count=2, fault_rate=0.3, seed=5)

    # when replayed with aggregation
    summary = _replay(
        files, stream, aggregate=True, retry=RetryPolicy(max_attempts=60, base=1e-4, cap=1e-3)
    )

    # then every reading is stored exactly once, each well's in file order
    assert summary.retries > 0
    it_values: dict[str, list[float]] = {}
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        for r in stream.get_records(it, limit=10_000).records:
            for d in deaggregate(r.data) if is_aggregated(r.data) else [r.data]:
                reading = decode(d)
                it_values.setdefault(reading["well_id"], []).append(reading["p_pdg"])
    assert summary.records_put == 3200
    for f in files:
        assert it_values[f.instance.well_id] == [2e7 + i for i in range(400)]
    stream.close()


def test_resume_counts_the_readings_inside_aggregates(tmp_path: Path) -> None:
    # given an aggregated replay in the stream
    files = [make_file(f"WELL-{w:05d}", 250) for w in range(1, 5)]
    stream = LocalStream(tmp_path / "s.db", shard_count=2)
    _replay(files, stream, aggregate=True)

    # then the ledger's count (what --resume skips) is readings, not stream records
    counts = Ledger.put_counts(
        stream, datetime(2000, 1, 1, tzinfo=UTC), {f.instance.instance_id for f in files}
    )
    assert counts == {f.instance.instance_id: 250 for f in files}
    stream.close()
