"""KPL aggregated records: decoded alike by the handler, the local runtime and the lake."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from petrostream.aggregate import MAGIC, aggregate, deaggregate, is_aggregated, pack, shard_router
from petrostream.errors import InvalidRecord, TransientError
from petrostream.handlers.base import PureDetectionEngine
from petrostream.handlers.local_backends import SqliteDeadLetters, SqliteStateStore
from petrostream.handlers.process_stream import Backends, handle_event
from petrostream.lake.decode import decode_records
from petrostream.metrics.base import NullMetrics
from petrostream.record import encode
from petrostream.runtime.event_source import kinesis_event, local_stream_arn
from petrostream.stream.base import StreamRecord, even_shard_ranges
from petrostream.testing.notifier import RecordingNotifier
from petrostream.testing.readings import steady

ARRIVAL = datetime(2024, 5, 30, 10, 2, tzinfo=UTC)
WELLS = ("WELL-00011", "WELL-00012", "WELL-00013")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(WELLS), st.binary(min_size=0, max_size=300)),
        min_size=1,
        max_size=40,
    )
)
def test_an_aggregate_gives_back_its_records_in_order(entries: list[tuple[str, bytes]]):
    data = aggregate(entries)
    assert is_aggregated(data)
    assert deaggregate(data) == [d for _, d in entries]


def test_the_wire_format_is_kpl():
    # magic; protobuf: key table (field 1), records (field 3: key index, data); md5(body)
    data = aggregate([("A", b"{}"), ("B", b"[]"), ("A", b"1")])
    body = data[4:-16]
    assert data[:4] == MAGIC
    assert body == (
        b"\x0a\x01A\x0a\x01B"
        + b"\x1a\x06\x08\x00\x1a\x02{}"
        + b"\x1a\x06\x08\x01\x1a\x02[]"
        + b"\x1a\x05\x08\x00\x1a\x011"
    )
    assert data[-16:] == hashlib.md5(body, usedforsecurity=False).digest()


def test_a_single_record_stays_a_single_record():
    assert deaggregate(b'{"well_id":"W"}') == [b'{"well_id":"W"}']


@pytest.mark.parametrize(
    "data",
    [
        MAGIC + b"\x00" * 5,
        aggregate([("W", b"{}")])[:-1] + b"\x00",  # md5 mismatch
        MAGIC + b"\x1a\x05\x08" + hashlib.md5(b"\x1a\x05\x08", usedforsecurity=False).digest(),
    ],
)
def test_a_broken_aggregate_is_one_reject(data: bytes):
    with pytest.raises(InvalidRecord, match="bad_aggregate"):
        deaggregate(data)


def test_pack_aggregates_many_wells_per_shard_and_keeps_each_on_its_shard():
    # given 1,000 wells at 1 Hz for 10 s (one reading per well per second, interleaved);
    # each reading's bytes start with its well, padded to 400 bytes
    ranges = [(f"shard-{i}", a, b) for i, (a, b) in enumerate(even_shard_ranges(2))]
    shard_of = shard_router(ranges)
    entries = [
        (f"WELL-{w:05d}", f"WELL-{w:05d}".ljust(400).encode())
        for _ in range(10)
        for w in range(1000)
    ]
    # when packed
    records = pack(entries, shard_of)
    # then 10,000 readings take a few hundred records of at most one payload unit,
    assert len(records) < 200 and all(len(d) <= 25_000 for _, d in records)
    # every reading of a record maps to the shard the record's key sends it to,
    by_shard: dict[Any, list[bytes]] = {}
    for key, data in records:
        inner = deaggregate(data)
        assert {shard_of(d.decode().strip()) for d in inner} == {shard_of(key)}
        by_shard.setdefault(shard_of(key), []).extend(inner)
    # and per shard, the readings come back exactly once, in put order
    for shard, datas in by_shard.items():
        assert datas == [d for k, d in entries if shard_of(k) == shard]
    assert {shard_of(k) for k, _ in entries} == {"shard-0", "shard-1"}


class WellDown(RecordingNotifier):
    """Fails (transiently) every alert of ``down`` wells; records the others."""

    def __init__(self, down: set[str]) -> None:
        super().__init__()
        self.down = down

    def notify(self, alert: Any) -> None:
        if alert.well_id in self.down:
            raise TransientError(f"{alert.well_id}: notifier down")
        super().notify(alert)


def _payloads() -> list[tuple[str, bytes]]:
    """Three wells, 120 s each, p_pdg out of range from 60 s; one bad reading inside."""
    per_well = {}
    for well in WELLS:
        readings = steady(120, well_id=well, start="2024-05-30 10:00:00.000")
        for reading in readings[60:]:
            reading["p_pdg"] = 2.0e8
        per_well[well] = [encode(r) for r in readings]
    # interleaved as a live fleet puts them, one reading per well per second
    entries = [(w, per_well[w][i]) for i in range(120) for w in WELLS]
    entries.insert(200, (WELLS[0], b'{"well_id":"WELL-00011","ts":"2024-02-30 00:00:00.000"}'))
    # the first 30 readings one per record, the rest aggregated (one shard: a stream of one)
    return entries[:30] + pack(entries[30:], max_bytes=6_000)


def _records() -> list[StreamRecord]:
    return [
        StreamRecord("shardId-000000000000", str(1000 + i), key, data, ARRIVAL)
        for i, (key, data) in enumerate(_payloads())
    ]


def _backends(tmp_path: Path, notifier: Any) -> Backends:
    return Backends(
        state=SqliteStateStore(tmp_path / "realtime.db"),
        notifier=notifier,
        dead_letters=SqliteDeadLetters(tmp_path / "realtime.db"),
        metrics=NullMetrics(),
        engine=PureDetectionEngine(),
    )


def test_the_handler_detects_on_aggregated_and_single_records_exactly_once(tmp_path: Path):
    # given a Kinesis event of single and multi-well aggregated records (one bad reading)
    backends = _backends(tmp_path, RecordingNotifier())
    event = kinesis_event(_records(), stream_arn=local_stream_arn("petrostream"))
    # when it is handled, then redelivered
    first = handle_event(event, backends)
    again = handle_event(event, backends)
    # then every good reading is processed once, the bad one is one dead letter
    assert (first.processed, first.failures) == (360, [])
    [letter] = first.dead_letters
    assert letter.reason == "bad_timestamp" and "aggregated readings rejected" in letter.detail
    assert again.processed == 0
    notifier = backends.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert sorted((a.well_id, a.rule, a.status) for a in notifier.alerts) == [
        (w, "out_of_range", "open") for w in WELLS
    ]


def test_a_failing_well_inside_an_aggregate_is_retried_without_repeating_the_others(
    tmp_path: Path,
):
    # given a notifier that cannot deliver WELL-00012's alert yet
    failing = WellDown({"WELL-00012"})
    backends = _backends(tmp_path, failing)
    records = _records()
    event = kinesis_event(records, stream_arn=local_stream_arn("petrostream"))
    # when the batch is handled: WELL-00012's records fail from its first one on
    first = handle_event(event, backends)
    assert first.failures
    retry_from = [r.sequence_number for r in records].index(first.failures[0])
    # and Lambda retries from the lowest failed sequence number once delivery works
    failing.down = set()
    retry = kinesis_event(records[retry_from:], stream_arn=local_stream_arn("petrostream"))
    second = handle_event(retry, backends)
    # then every well alerted exactly once and every reading was detected on once
    assert second.failures == []
    assert first.processed + second.processed == 360
    assert sorted(a.well_id for a in failing.alerts) == list(WELLS)


def test_the_lake_decoder_expands_aggregates_with_their_stream_position():
    records = _records()
    batch = decode_records(records)
    assert batch.table is not None and batch.table.num_rows == 360
    [reject] = batch.rejects
    assert reject.reason == "bad_timestamp"
    assert reject.sequence_number in {r.sequence_number for r in records}
    rows = list(
        zip(
            batch.table.column("well_id").to_pylist(),
            batch.table.column("ts").to_pylist(),
            strict=True,
        )
    )
    assert len(set(rows)) == 360
