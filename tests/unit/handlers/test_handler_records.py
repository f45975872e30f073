"""The handler on real-shape Kinesis events: one poison record is one dead letter (issue 14.1),
the column rules and caps (14.6), the columnar engine behind the same handler (12.2)."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from handler_fakes import MemoryMetrics

from petrostream import record
from petrostream.handlers.base import ColumnarDetectionEngine, PureDetectionEngine
from petrostream.handlers.config import HandlerConfig
from petrostream.handlers.local_backends import SqliteDeadLetters, SqliteStateStore
from petrostream.handlers.process_stream import (
    BULK_MIN_RECORDS,
    Backends,
    build_backends,
    bulk_decoder,
    make_handler,
)
from petrostream.stream.base import RecordPage, StreamRecord
from petrostream.testing.notifier import RecordingNotifier

EVENTS = Path(__file__).resolve().parents[2] / "events"
T0 = datetime(2024, 5, 30, 10, tzinfo=UTC)
POISONS = [
    "2024-02-30 00:00:00.000",
    "0000-01-01 00:00:00.000",
    "9999-12-31 23:59:59.999",
]


def kinesis_event(payloads: list[bytes]) -> dict[str, Any]:
    """A real-shape Kinesis event (tests/events/kinesis_batch.json) carrying ``payloads``."""
    template = json.loads((EVENTS / "kinesis_batch.json").read_text())["Records"][0]
    items = []
    for i, data in enumerate(payloads):
        item = copy.deepcopy(template)
        seq = str(49590338271490256608559692538361571095921575989136590000 + i)
        item["kinesis"]["sequenceNumber"] = seq
        item["kinesis"]["data"] = base64.b64encode(data).decode()
        item["eventID"] = f"shardId-000000000000:{seq}"
        items.append(item)
    return {"Records": items}


def readings(n: int, step_at: int) -> list[bytes]:
    return [
        record.encode(
            {
                "well_id": "WELL-00011",
                "instance_id": "WELL-00011_x",
                "ts": record.format_ts(T0 + timedelta(seconds=i)),
                "p_pdg": 2.0e7 + (i % 3) * 1000 + (2.0e6 if i >= step_at else 0),
            }
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("poison_ts", POISONS)
def test_a_poison_timestamp_is_one_dead_letter_and_the_other_99_are_detected(
    tmp_path: Path, poison_ts: str
) -> None:
    # given 99 readings of a well that steps, with one impossible timestamp in the middle
    payloads = readings(99, step_at=80)
    poison = json.dumps({"well_id": "WELL-00011", "ts": poison_ts}).encode()
    payloads.insert(50, poison)
    backends = Backends(
        state=SqliteStateStore(tmp_path / "realtime.db"),
        notifier=RecordingNotifier(),
        dead_letters=SqliteDeadLetters(tmp_path / "realtime.db"),
        metrics=MemoryMetrics(),
        engine=PureDetectionEngine(),
    )
    reports: list[Any] = []
    event = kinesis_event(payloads)
    # when the handler gets the batch as Lambda would
    response = make_handler(backends, on_report=reports.append)(event, None)
    # then nothing is retried, the poison is one dead letter with its reason
    assert response == {"batchItemFailures": []}
    [report] = reports
    assert [(d.reason, d.data) for d in report.dead_letters] == [("bad_timestamp", poison)]
    assert report.errors == []
    # and every other reading was detected on: the step raised its alert
    assert report.processed == 99
    assert {a.rule for a in report.alerts} >= {"pressure_jump"}
    stored = backends.state.load("WELL-00011")
    last = event["Records"][-1]["kinesis"]["sequenceNumber"]
    assert stored.positions == {"shardId-000000000000": last}


def test_the_handler_applies_the_column_rules_and_the_configured_caps(tmp_path: Path) -> None:
    # given a handler configured (as in Lambda, by environment) for 2 new fields, 3 new columns
    config = HandlerConfig.from_environ(
        {
            "PETROSTREAM_HOME": str(tmp_path),
            "PETROSTREAM_METRICS": "none",
            "PETROSTREAM_MAX_NEW_FIELDS_PER_RECORD": "2",
            "PETROSTREAM_MAX_NEW_COLUMNS": "3",
        }
    )
    backends = build_backends(config, notifier=RecordingNotifier())
    base = {"well_id": "WELL-00011", "ts": "2024-05-30 10:00:00.000"}
    wide = {**base, **{f"g{i}": 1.0 for i in range(20_000)}}
    payloads = [
        json.dumps({**base, "a1": 1.0, "a2": 1.0}).encode(),  # two new columns: kept
        json.dumps({**base, "foo\n": 1.0}).encode(),  # no SQL can name it
        json.dumps(wide).encode(),  # 20,000 new fields
        json.dumps({**base, "ts": "2024-05-30 10:00:01.000", "a3": 1.0}).encode(),  # third
        json.dumps({**base, "ts": "2024-05-30 10:00:02.000", "a4": 1.0}).encode(),  # fourth
        json.dumps({**base, "ts": "2024-05-30 10:00:03.000", "a1": 2.0}).encode(),  # known
    ]
    reports: list[Any] = []
    # when
    response = make_handler(backends, on_report=reports.append)(kinesis_event(payloads), None)
    # then each is refused with its reason, the others are processed
    assert response == {"batchItemFailures": []}
    [report] = reports
    assert [d.reason for d in report.dead_letters] == [
        "bad_column",
        "too_many_fields",
        "too_many_columns",
    ]
    assert report.processed == 3


def _run(
    tmp_path: Path,
    engine: Any,
    batches: list[list[bytes]],
    *,
    bulk: bool = False,
    offsets: list[int] | None = None,
) -> tuple[list[str], bytes]:
    backends = Backends(
        state=SqliteStateStore(tmp_path / "realtime.db"),
        notifier=RecordingNotifier(),
        dead_letters=SqliteDeadLetters(tmp_path / "realtime.db"),
        metrics=MemoryMetrics(),
        engine=engine,
        bulk=bulk_decoder() if bulk else None,
    )
    handler = make_handler(backends)
    offset = 0
    for n, batch in enumerate(batches):
        offset = offsets[n] if offsets else offset
        event = kinesis_event(batch)
        for i, item in enumerate(event["Records"]):  # sequence numbers keep rising
            seq = str(49590338271490256608559692538361571095921575989136600000 + offset + i)
            item["kinesis"]["sequenceNumber"] = seq
            item["eventID"] = f"shardId-000000000000:{seq}"
        offset += len(batch)
        assert handler(event, None) == {"batchItemFailures": []}
    keys = [f"{a.alert_id}:{a.status}" for a in backends.notifier.alerts]  # type: ignore[attr-defined]
    return keys, backends.state.load("WELL-00011").data or b""


@pytest.mark.parametrize("sizes", [[1200], [700, 20, 480], [300, 300, 300, 300]])
def test_the_columnar_engine_behind_the_handler_raises_what_the_per_record_one_does(
    tmp_path: Path, sizes: list[int]
) -> None:
    # given one well that steps, delivered in batches large and small
    payloads = readings(1200, step_at=600)
    batches, start = [], 0
    for n in sizes:
        batches.append(payloads[start : start + n])
        start += n
    # when the same batches go through the per-record and the columnar engines
    pure = _run(tmp_path / "pure", PureDetectionEngine(), batches)
    columnar = _run(tmp_path / "columnar", ColumnarDetectionEngine(min_rows=256), batches)
    # then the same alerts are notified and the same state is stored
    assert pure[0] and columnar == pure
    # and so with the batch decoded in bulk (columns straight to the columnar detector)
    bulk = _run(tmp_path / "bulk", ColumnarDetectionEngine(min_rows=256), batches, bulk=True)
    assert bulk == pure


def test_a_retried_bulk_decoded_batch_detects_only_the_records_not_yet_covered(
    tmp_path: Path,
) -> None:
    # given 900 readings of a stepping well: 600 delivered, then a retry from reading 300
    payloads = readings(900, step_at=700)
    batches, offsets = [payloads[:600], payloads[300:]], [0, 300]
    # when the per-record engine and the bulk-decoded columnar one get the same deliveries
    pure = _run(tmp_path / "pure", PureDetectionEngine(), batches, offsets=offsets)
    engine = ColumnarDetectionEngine(min_rows=256)
    bulk = _run(tmp_path / "bulk", engine, batches, bulk=True, offsets=offsets)
    # then the 300 duplicates are skipped alike: same alerts, same state
    assert pure[0] and bulk == pure


def test_a_poison_record_in_a_bulk_sized_batch_is_the_same_dead_letter(tmp_path: Path) -> None:
    # given a batch large enough for the bulk decoder, with one poison timestamp in it
    payloads = readings(2 * BULK_MIN_RECORDS, step_at=BULK_MIN_RECORDS)
    poison = json.dumps({"well_id": "WELL-00011", "ts": POISONS[0]}).encode()
    payloads.insert(10, poison)
    config = HandlerConfig.from_environ(
        {"PETROSTREAM_HOME": str(tmp_path), "PETROSTREAM_METRICS": "none"}
    )
    backends = build_backends(config, notifier=RecordingNotifier())
    assert backends.bulk is not None
    reports: list[Any] = []
    # when
    make_handler(backends, on_report=reports.append)(kinesis_event(payloads), None)
    # then the record validator found it, with its reason; the others were detected on
    [report] = reports
    assert [(d.reason, d.data) for d in report.dead_letters] == [("bad_timestamp", poison)]
    assert report.processed == 2 * BULK_MIN_RECORDS
    assert {a.rule for a in report.alerts} >= {"pressure_jump"}


def test_the_local_entry_point_answers_as_the_lambda_event_does(tmp_path: Path) -> None:
    # given the same batch (one poison) as a Kinesis event, as the stream's records and as
    # a page of them
    payloads = readings(300, step_at=200)
    payloads.insert(5, b"not json")
    event = kinesis_event(payloads)
    records = [
        StreamRecord(
            shard_id="shardId-000000000000",
            sequence_number=item["kinesis"]["sequenceNumber"],
            partition_key=item["kinesis"]["partitionKey"],
            data=data,
            arrival=datetime.fromtimestamp(item["kinesis"]["approximateArrivalTimestamp"], UTC),
        )
        for item, data in zip(event["Records"], payloads, strict=True)
    ]
    outcomes = []
    for name in ("event", "records", "page"):
        config = HandlerConfig.from_environ(
            {"PETROSTREAM_HOME": str(tmp_path / name), "PETROSTREAM_METRICS": "none"}
        )
        reports: list[Any] = []
        handler = make_handler(
            build_backends(config, notifier=RecordingNotifier()), on_report=reports.append
        )
        arn = event["Records"][0]["eventSourceARN"]
        if name == "event":
            answer = handler(event, None)
        elif name == "records":
            answer = handler.handle_records(records, arn)
        else:  # the local stream's page: the same records as columns
            answer = handler.handle_records(RecordPage.of_records(records), arn)
        [r] = reports
        letters = [
            (d.reason, d.sequence_number, d.data, d.event_source_arn) for d in r.dead_letters
        ]
        outcomes.append((answer, r.processed, letters, [a.alert_id for a in r.alerts]))
    # then all answer the same, with the same dead letter and alerts
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert outcomes[0][2][0][0] == "bad_json"


def test_the_handler_runs_the_columnar_engine_where_numpy_imports(tmp_path: Path) -> None:
    config = HandlerConfig.from_environ({"PETROSTREAM_HOME": str(tmp_path)})
    assert isinstance(build_backends(config).engine, ColumnarDetectionEngine)


@pytest.mark.parametrize("data", ["QQ=", "Q!==", "QQ==QQ==", "=QQ=", "é", "eyJ3 ZWxs"])
def test_data_that_is_not_strict_base64_is_a_bad_base64_dead_letter(
    tmp_path: Path, data: str
) -> None:
    event = kinesis_event([b"{}"])
    event["Records"][0]["kinesis"]["data"] = data
    config = HandlerConfig.from_environ(
        {"PETROSTREAM_HOME": str(tmp_path), "PETROSTREAM_METRICS": "none"}
    )
    reports: list[Any] = []
    make_handler(build_backends(config), on_report=reports.append)(event, None)
    assert [d.reason for d in reports[0].dead_letters] == ["bad_base64"]


def test_a_bulk_batch_groups_interleaved_wells_in_first_seen_order_with_their_instances() -> None:
    # given a batch of three interleaved wells: one changes instance, one has none
    from petrostream.handlers.columnar import decode_batch

    wells = ["WELL-00003", "WELL-00001", "WELL-00002"]
    rows = []
    for i in range(BULK_MIN_RECORDS * 2):
        well = wells[i % 3]
        reading: dict[str, Any] = {
            "well_id": well,
            "ts": record.format_ts(T0 + timedelta(seconds=i)),
            "p_pdg": 2.0e7 + i,
        }
        if well == "WELL-00001":
            reading["instance_id"] = "A" if i < BULK_MIN_RECORDS else "B"
        elif well == "WELL-00003":
            reading["instance_id"] = "C"
        rows.append(reading)
    payloads = [record.encode(r) for r in rows]
    # when it is bulk-decoded
    decoded = decode_batch(payloads, record.ColumnBudget())
    # then each well's rows are its records in stream order, wells as first seen
    assert decoded is not None
    assert list(decoded) == wells
    for well, got in decoded.items():
        mine = [i for i, r in enumerate(rows) if r["well_id"] == well]
        assert got.rows == mine
        columns = got.columns(["p_pdg"])
        instances = columns["instance_id"]
        expected = [rows[i].get("instance_id") for i in mine]
        # one instance for all rows is given once; several, one per row
        if len(set(expected)) == 1:
            assert instances == expected[0]
        else:
            assert list(instances) == expected
        assert columns["p_pdg"].tolist() == [rows[i]["p_pdg"] for i in mine]
        assert columns["ts"].tolist() == [
            int((T0 + timedelta(seconds=i)).timestamp() * 1000) for i in mine
        ]
