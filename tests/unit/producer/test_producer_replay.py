"""The replay producer: timing, interleaving, batching, retries, rejects, interruption."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from producer_fakes import FakeReader, RecordingStream, make_file

from petrostream.dataset.base import Reject
from petrostream.errors import ConfigError, DatasetError
from petrostream.producer import (
    ALIGN,
    INSTANCE_GAP,
    DeliveryError,
    Progress,
    ReplayInterrupted,
    RetryPolicy,
    replay,
)
from petrostream.record import decode, parse_ts
from petrostream.stream.base import IteratorType
from petrostream.stream.local import LocalStream
from petrostream.testing.clock import FakeClock

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
BOTH = pytest.mark.parametrize("pipeline", [False, True], ids=["one-process", "forked-reader"])


def decoded(stream: RecordingStream) -> list[dict]:
    return [decode(r.data) for r in stream.stored]


def run(files, stream, **kwargs):
    kwargs.setdefault("speed", 0)
    kwargs.setdefault("clock", FakeClock(NOW))
    kwargs.setdefault("rng", random.Random(7))
    reader = kwargs.pop("read", None) or FakeReader(files)
    kwargs.setdefault("spans", reader.span)
    return replay([f.instance for f in files], stream, read=reader, **kwargs)


# -- time --------------------------------------------------------------------------


def test_speed_one_replays_an_hour_instantly_keeping_real_spacing():
    # given an hour of 1 Hz readings and a fake clock
    files = [make_file("WELL-00001", 3600)]
    clock = FakeClock(NOW)
    stream = RecordingStream()

    # when it replays in real time
    summary = run(files, stream, speed=1, clock=clock)

    # then every reading is stamped at now + its original offset, and the clock slept that long
    records = decoded(stream)
    assert len(records) == 3600
    assert [parse_ts(r["ts"]) for r in records] == [NOW + timedelta(seconds=i) for i in range(3600)]
    assert clock.slept == pytest.approx(3599)
    assert summary.elapsed == pytest.approx(3599)
    # and records are put as they fall due: one per second for one well
    assert len(stream.calls) == 3600


def test_speed_n_paces_the_wall_clock_and_keeps_event_spacing():
    # given readings 1 s apart
    files = [make_file("WELL-00001", 50)]
    clock = FakeClock(NOW)
    stream = RecordingStream(clock=clock)

    # when replayed 10 times faster
    run(files, stream, speed=10, clock=clock)

    # then they keep their 1 s spacing in ts, the wall clock waited a tenth of the span,
    # the last reading is stamped about when it was put (ts - source_ts is whole minutes)
    # and none is stamped after its put
    records = decoded(stream)
    stamps = [parse_ts(r["ts"]) for r in records]
    assert [b - a for a, b in zip(stamps, stamps[1:], strict=False)] == [timedelta(seconds=1)] * 49
    assert clock.slept == pytest.approx(4.9)
    assert timedelta(0) <= stream.put_at[-1] - stamps[-1] < ALIGN
    assert all(
        (parse_ts(r["ts"]) - parse_ts(r["source_ts"])) % ALIGN == timedelta(0) for r in records
    )
    assert all(ts <= put for ts, put in zip(stamps, stream.put_at, strict=True))
    assert records[1]["source_ts"] == "2014-05-30 10:00:01.000"


def test_speed_zero_never_sleeps_and_history_ends_when_the_replay_starts():
    # given two wells of different lengths and a clock that moves on every reading of it
    files = [make_file("WELL-00001", 1200), make_file("WELL-00002", 300, step_ms=2000)]
    clock = FakeClock(NOW, tick=0.001)
    stream = RecordingStream(clock=clock)

    # when replayed as fast as possible
    run(files, stream, speed=0, clock=clock)

    # then nothing waited; each instance keeps its span and spacing, ends at the start
    # of the replay, and no reading is stamped after its put
    assert clock.slept == 0
    records = decoded(stream)
    assert len(records) == 1500
    for f in files:
        mine = [r for r in records if r["instance_id"] == f.instance.instance_id]
        ts = [parse_ts(r["ts"]) for r in mine]
        src = [parse_ts(r["source_ts"]) for r in mine]
        assert [t - ts[0] for t in ts] == [s - src[0] for s in src]
        assert NOW - ALIGN < ts[-1] <= NOW
    stamps = [parse_ts(r["ts"]) for r in records]
    assert stamps == sorted(stamps)
    assert all(ts <= put for ts, put in zip(stamps, stream.put_at, strict=True))


def test_instances_of_one_well_follow_each_other_and_never_overlap():
    # given two instances of one well, recorded months apart, given newest first
    late = make_file("WELL-00001", 100, start=datetime(2014, 9, 1, tzinfo=UTC))
    early = make_file("WELL-00001", 200, start=datetime(2014, 5, 1, tzinfo=UTC))
    stream = RecordingStream()

    # when replayed at speed 0
    run([late, early], stream, speed=0)

    # then the earlier one comes first and the later one starts INSTANCE_GAP after it
    # (less up to a minute: whole-minute shifts)
    records = decoded(stream)
    ids = [r["instance_id"] for r in records]
    assert ids == [early.instance.instance_id] * 200 + [late.instance.instance_id] * 100
    ts = [parse_ts(r["ts"]) for r in records]
    assert INSTANCE_GAP - ALIGN < ts[200] - ts[199] <= INSTANCE_GAP
    assert NOW - ALIGN < ts[-1] <= NOW


def test_clock_source_keeps_the_files_own_timestamps():
    files = [make_file("WELL-00001", 30), make_file("WELL-00002", 30, step_ms=500)]
    stream = RecordingStream()

    run(files, stream, speed=0, clock_mode="source")

    records = decoded(stream)
    assert len(records) == 60
    assert all(r["ts"] == r["source_ts"] for r in records)


@pytest.mark.parametrize("speed", [float("nan"), -1.0, 1e-15, float("inf")])
def test_a_speed_replay_cannot_keep_is_refused_with_a_sentence(speed):
    with pytest.raises(ConfigError, match="--speed"):
        run([make_file("WELL-00001", 3)], RecordingStream(), speed=speed)


def test_a_timestamp_going_back_in_a_file_keeps_file_order():
    # given a file whose timestamps step back once
    base = 1_000_000_000_000
    files = [
        make_file(
            "WELL-00001", 5, source_ms=[base, base + 2000, base + 1000, base + 3000, base + 4000]
        )
    ]
    stream = RecordingStream()

    # when replayed at speed 1
    run(files, stream, speed=1)

    # then rows go out in file order, the stepped-back row no earlier than the one before
    records = decoded(stream)
    assert [r["p_pdg"] for r in records] == [2e7, 2e7 + 1, 2e7 + 2, 2e7 + 3, 2e7 + 4]
    stamps = [parse_ts(r["ts"]) for r in records]
    assert stamps == sorted(stamps)


# -- interleaving ------------------------------------------------------------------


@BOTH
def test_wells_are_interleaved_by_schedule_as_a_fleet(pipeline):
    # given wells from different years with different sampling periods
    a = make_file("WELL-00001", 30, start=datetime(2014, 1, 1, tzinfo=UTC), step_ms=1000)
    b = make_file("WELL-00002", 10, start=datetime(2019, 6, 1, tzinfo=UTC), step_ms=3000)
    c = make_file("WELL-00003", 60, start=datetime(2017, 3, 3, tzinfo=UTC), step_ms=500)
    stream = RecordingStream()

    # when replayed (speed 0: same order as real time, no waiting), read in small batches
    replay(
        [a.instance, b.instance, c.instance],
        stream,
        speed=0,
        clock=FakeClock(NOW),
        read=FakeReader([a, b, c], batch_rows=7),
        pipeline=pipeline,
    )

    # then all start together and the emission order follows offsets from each start
    records = decoded(stream)
    assert len(records) == 100
    starts = {"WELL-00001": a, "WELL-00002": b, "WELL-00003": c}
    offsets = [parse_ts(r["source_ts"]) - starts[r["well_id"]].instance.start for r in records]
    assert offsets == sorted(offsets)
    assert {r["well_id"] for r in records[:3]} == set(starts)
    # and each well keeps its file order
    for well in starts:
        values = [r["p_pdg"] for r in records if r["well_id"] == well]
        assert values == sorted(values)


@BOTH
def test_limit_rows_stops_after_that_many_readings(pipeline):
    files = [make_file("WELL-00001", 100), make_file("WELL-00002", 100)]
    stream = RecordingStream()

    summary = run(files, stream, pipeline=pipeline, limit_rows=33)

    assert len(stream.stored) == 33
    assert summary.records_put == 33
    assert sum(summary.per_instance.values()) == 33


# -- batches and retries -----------------------------------------------------------


def test_puts_hold_at_most_500_records():
    files = [make_file("WELL-00001", 1234), make_file("WELL-00002", 567)]
    stream = RecordingStream()

    summary = run(files, stream)

    assert max(len(c) for c in stream.calls) == 500
    assert sum(len(c) for c in stream.calls) == 1801
    assert summary.put_calls == len(stream.calls)


def test_puts_stay_under_the_byte_limit():
    files = [make_file("WELL-00001", 300)]
    stream = RecordingStream()

    run(files, stream, max_batch_bytes=4096)

    sizes = [sum(len(r.data) + len(r.partition_key) for r in c) for c in stream.calls]
    assert max(sizes) <= 4096
    assert len(stream.stored) == 300


def test_only_refused_records_are_sent_again():
    # given a stream that refuses records 3 and 7 of the first put
    files = [make_file("WELL-00001", 10), make_file("WELL-00002", 10)]
    stream = RecordingStream(refuse=lambda call, i, rec: call == 0 and i in (3, 7))

    # when replayed
    summary = run(files, stream)

    # then the second put carries exactly those two records, in order
    first, second = stream.calls
    assert second == [first[3], first[7]]
    assert summary.retries == 2
    assert summary.records_put == 20
    assert sorted(r.data for r in stream.stored) == sorted(r.data for r in first)


def test_backoff_is_exponential_with_full_jitter():
    # given a stream that refuses one record four times
    files = [make_file("WELL-00001", 3)]
    stream = RecordingStream(refuse=lambda call, i, rec: call < 4 and i == 0)
    clock = FakeClock(NOW)

    # when replayed with a 1 s base and 3 s cap
    run(files, stream, clock=clock, retry=RetryPolicy(max_attempts=10, base=1.0, cap=3.0))

    # then each wait is within [0, min(cap, base * 2**n)]
    assert len(clock.sleeps) == 4
    for n, slept in enumerate(clock.sleeps):
        assert 0 <= slept <= min(3.0, 2**n)


@BOTH
def test_giving_up_is_a_clear_error_saying_what_was_not_delivered(pipeline):
    # given a stream that always refuses WELL-00002's records
    files = [make_file("WELL-00001", 5), make_file("WELL-00002", 5)]
    stream = RecordingStream(refuse=lambda call, i, rec: rec.partition_key == "WELL-00002")

    # when replayed with three attempts
    with pytest.raises(DeliveryError, match="refused 5 records 3 times") as failure:
        run(files, stream, pipeline=pipeline, retry=RetryPolicy(max_attempts=3, base=0.01))

    # then the summary says what got out and what did not
    summary = failure.value.summary
    assert summary.undelivered == {files[1].instance.instance_id: 5}
    assert summary.per_instance[files[0].instance.instance_id] == 5
    assert summary.per_instance[files[1].instance.instance_id] == 0
    assert "NOT DELIVERED 5" in "\n".join(summary.lines())


@BOTH
def test_per_well_order_holds_under_local_stream_faults(tmp_path: Path, pipeline):
    # given a local stream refusing 30% of each put, and four interleaved wells
    files = [make_file(f"WELL-0000{w}", 700, step_ms=1000 + 100 * w) for w in range(1, 5)]
    stream = LocalStream(tmp_path / "s.db", shard_count=2, fault_rate=0.3, seed=3)

    # when replayed
    summary = run(
        files, stream, pipeline=pipeline, retry=RetryPolicy(max_attempts=50, base=0.0001, cap=0.001)
    )

    # then every reading is stored exactly once, each well's in file order
    assert summary.retries > 100
    stored = []
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        stored.extend(decode(r.data) for r in stream.get_records(it, limit=10_000).records)
    stream.close()
    assert len(stored) == 2800
    for f in files:
        values = [r["p_pdg"] for r in stored if r["well_id"] == f.instance.well_id]
        assert values == [2e7 + i for i in range(700)]
    assert summary.reordered == 0


class _OnePutPerCall:
    """A local stream seen without its bulk form: one put per call, in timeline order."""

    def __init__(self, stream: LocalStream) -> None:
        self.stream = stream
        self.name = stream.name

    def put_records(self, records):
        return self.stream.put_records(records)

    def put_record_blobs(self, keys, data):
        return self.stream.put_record_blobs(keys, data)

    def list_shards(self):
        return self.stream.list_shards()


def _per_shard(stream: LocalStream) -> dict[str, list[bytes]]:
    out = {}
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        out[shard.shard_id] = [r.data for r in stream.get_records(it, limit=10_000).records]
    return out


@BOTH
@pytest.mark.parametrize("fault_rate", [0.0, 0.2])
def test_speed_zero_into_the_local_stream_stores_each_shard_as_one_put_at_a_time(
    tmp_path: Path, pipeline, fault_rate
):
    # given eight interleaved wells (both shards) and two streams with the same faults
    files = [make_file(f"WELL-0000{w}", 900, step_ms=1000 + 7 * w) for w in range(1, 9)]
    kwargs = {"shard_count": 2, "fault_rate": fault_rate, "seed": 11}
    bulk = LocalStream(tmp_path / "bulk.db", **kwargs)
    plain = LocalStream(tmp_path / "plain.db", **kwargs)
    retry = RetryPolicy(max_attempts=50, base=0.0001, cap=0.001)

    # when one replay puts a chunk's requests in one call, grouped by shard, and the
    # other one put per call in timeline order
    fast = run(files, bulk, pipeline=pipeline, retry=retry)
    slow = run(files, _OnePutPerCall(plain), pipeline=pipeline, retry=retry)

    # then every reading is stored once, each shard holding the same records in the
    # same order, with the same counts
    stored, expected = _per_shard(bulk), _per_shard(plain)
    assert sum(map(len, stored.values())) == 7200
    assert all(len(records) > 0 for records in stored.values())
    if not fault_rate:
        assert stored == expected
        assert fast.put_calls == slow.put_calls
    for records in stored.values():
        for f in files:
            values = [decode(r)["p_pdg"] for r in records if f.instance.well_id.encode() in r]
            assert values in ([], [2e7 + i for i in range(900)])
    assert fast.records_put == slow.records_put == 7200
    assert fast.per_instance == slow.per_instance
    assert (fast.ts_first, fast.ts_last) == (slow.ts_first, slow.ts_last)
    assert (fast.retries > 0) == (fault_rate > 0)
    # and grouped by shard, the bulk replay's puts mostly hold one shard: fewer rows
    if not fault_rate:
        rows = [s.conn.execute("SELECT count(*) FROM batches").fetchone()[0] for s in (bulk, plain)]
        assert rows[0] < rows[1]
    bulk.close()
    plain.close()


def test_a_record_stored_ahead_of_a_refused_one_of_its_well_is_counted():
    # given a stream (as Kinesis may) refusing record 0 but storing record 1 of the same well
    files = [make_file("WELL-00001", 2)]
    stream = RecordingStream(refuse=lambda call, i, rec: call == 0 and i == 0)

    summary = run(files, stream)

    assert summary.reordered == 1
    assert [decode(r.data)["p_pdg"] for r in stream.stored] == [2e7 + 1, 2e7]


def test_a_refused_record_is_resent_before_any_later_put():
    # given one well whose record 499 (last of the first put) is refused once
    files = [make_file("WELL-00001", 1000)]
    stream = RecordingStream(refuse=lambda call, i, rec: call == 0 and i == 499)

    run(files, stream)

    # then it is stored before the next batch starts
    values = [decode(r.data)["p_pdg"] for r in stream.stored]
    assert values == [2e7 + i for i in range(1000)]


# -- rejects, progress, interruption -------------------------------------------------


@BOTH
def test_rejects_are_counted_by_reason_and_written_as_json_lines(tmp_path: Path, pipeline):
    rejects = [
        Reject("/fake/a.csv", 7, "bad_number: P-PDG='x'", "2014-05-30 10:00:05,x,1,2"),
        Reject("/fake/a.csv", 9, "bad_number: T-TPT='?'", "2014-05-30 10:00:07,1,?,2"),
        Reject("/fake/a.csv", 12, "wrong_column_count: 3 of 10", "a,b,c"),
    ]
    files = [make_file("WELL-00001", 10, rejects=rejects)]
    target = tmp_path / "rejects" / "replay-x.jsonl"

    summary = run(files, RecordingStream(), pipeline=pipeline, rejects_path=target)

    assert summary.rejects == {"bad_number": 2, "wrong_column_count": 1}
    assert summary.rejects_path == target
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert lines[2] == {
        "file": "/fake/a.csv",
        "line": 12,
        "reason": "wrong_column_count: 3 of 10",
        "raw": "a,b,c",
    }


def test_no_rejects_file_when_nothing_was_rejected(tmp_path: Path):
    target = tmp_path / "rejects" / "replay-x.jsonl"
    summary = run([make_file("WELL-00001", 10)], RecordingStream(), rejects_path=target)
    assert summary.rejects == {}
    assert not target.exists()


def test_progress_is_reported_about_every_second():
    files = [make_file("WELL-00001", 20)]
    seen: list[Progress] = []

    run(files, RecordingStream(), speed=1, progress=seen.append)

    assert 15 <= len(seen) <= 20
    assert [p.records_put for p in seen] == sorted(p.records_put for p in seen)
    assert seen[-1].files == 1


@BOTH
def test_ctrl_c_stops_cleanly_saying_how_far_it_got(pipeline):
    # given a replay whose third put is interrupted
    files = [make_file("WELL-00001", 800), make_file("WELL-00002", 800)]
    stream = RecordingStream(interrupt_on_call=2)

    # when Ctrl-C arrives
    with pytest.raises(ReplayInterrupted) as stop:
        run(files, stream, pipeline=pipeline)

    # then the summary counts what the two finished puts stored, per instance
    summary = stop.value.summary
    assert summary.interrupted
    assert summary.records_put == 1000 == len(stream.stored)
    assert sum(summary.per_instance.values()) == 1000
    assert set(summary.per_instance) == {f.instance.instance_id for f in files}
    assert isinstance(stop.value, KeyboardInterrupt)


@BOTH
def test_summary_counts_files_rows_and_wells(pipeline):
    files = [
        make_file("WELL-00001", 10),
        make_file("WELL-00001", 5, start=datetime(2015, 1, 1, tzinfo=UTC)),
        make_file("WELL-00002", 7),
    ]
    summary = run(files, RecordingStream(), pipeline=pipeline)
    assert summary.files == summary.files_done == 3
    assert summary.rows_read == summary.records_put == 22
    assert summary.per_well == {"WELL-00001": 15, "WELL-00002": 7}


@BOTH
def test_ctrl_c_while_reading_stops_cleanly(pipeline):
    # given a reader interrupted on its 30th batch (Ctrl-C lands in the main thread)
    files = [make_file("WELL-00001", 40_000)]
    reader = FakeReader(files, batch_rows=1000)

    def interrupted(instance, *, batch_rows):
        for n, batch in enumerate(reader(instance, batch_rows=batch_rows)):
            if n == 30 and not pipeline:
                raise KeyboardInterrupt
            yield batch

    stream = RecordingStream(interrupt_on_call=3 if pipeline else None)
    with pytest.raises(ReplayInterrupted) as stop:
        replay([files[0].instance], stream, speed=0, read=interrupted, pipeline=pipeline)

    # then what was stored is what the summary says was put
    assert stop.value.summary.records_put == len(stream.stored) > 0
    assert stop.value.summary.per_instance[files[0].instance.instance_id] == len(stream.stored)


@BOTH
def test_a_file_that_cannot_be_read_is_reported_and_the_others_go_on(pipeline):
    good, bad = make_file("WELL-00001", 10), make_file("WELL-00002", 10)
    reader = FakeReader([good, bad])

    def partly_broken(instance, *, batch_rows):
        if instance.well_id == "WELL-00002":
            raise DatasetError(f"{instance.path}: line 1 is not a 3W CSV header")
        yield from reader(instance, batch_rows=batch_rows)

    stream = RecordingStream()
    summary = replay(
        [good.instance, bad.instance], stream, speed=0, read=partly_broken, pipeline=pipeline
    )

    assert len(stream.stored) == summary.records_put == 10
    assert summary.files_done == 1
    assert list(summary.failed_files) == [str(bad.instance.path)]
    assert "not a 3W CSV header" in summary.failed_files[str(bad.instance.path)]
    assert any("SKIPPED FILE" in line for line in summary.lines())


def test_a_file_whose_well_id_the_lake_refuses_is_not_replayed():
    good = make_file("WELL-00001", 5)
    weird = make_file("WELL-00013 weird name!", 5, instance_id="WELL-00013 weird name!")
    stream = RecordingStream()

    summary = run([good, weird], stream)

    assert len(stream.stored) == 5
    assert "cannot name a lake partition" in summary.failed_files[str(weird.instance.path)]


def test_repeated_and_backward_timestamps_are_counted():
    base = 1_000_000_000_000
    ms = [base, base + 1000, base + 1000, base + 500, base + 2000]
    files = [make_file("WELL-00001", 5, source_ms=ms)]

    summary = run(files, RecordingStream())

    assert summary.odd_timestamps == {files[0].instance.instance_id: (1, 1)}
    assert any("1 repeated, 1 going back" in line for line in summary.lines())


@BOTH
def test_a_full_disk_says_how_many_records_were_already_put(pipeline):
    import sqlite3

    class FullDisk(RecordingStream):
        def put_records(self, records):
            if len(self.calls) == 2:
                raise sqlite3.OperationalError("database or disk is full")
            return super().put_records(records)

    files = [make_file("WELL-00001", 800), make_file("WELL-00002", 800)]
    stream = FullDisk()

    with pytest.raises(DeliveryError, match="after 1,000 records were put") as failure:
        run(files, stream, pipeline=pipeline)

    assert failure.value.summary.records_put == 1000 == len(stream.stored)
    assert "disk is full" in str(failure.value)
