"""run_detector: drain the local stream through the handler; outbox; alerts lake table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from petrostream import record
from petrostream.cli import main
from petrostream.errors import ConfigError
from petrostream.handlers.base import DeadLetter
from petrostream.handlers.process_stream import BatchReport
from petrostream.lake.locks import ActorLock
from petrostream.runtime.detector import (
    DETECTOR_LOCK,
    DetectorSummary,
    realtime_status,
    run_detector,
)
from petrostream.settings import Settings
from petrostream.stream.base import PutRecord
from petrostream.stream.local import LocalStream
from petrostream.testing.notifier import FailingNotifier, RecordingNotifier

T0 = datetime(2024, 5, 30, 23, 58, tzinfo=UTC)  # the readings cross midnight


def put_well(stream: LocalStream, well: str, n: int, step_at: int | None) -> None:
    rows = [
        {
            "well_id": well,
            "instance_id": f"{well}_x",
            "ts": record.format_ts(T0 + timedelta(seconds=i)),
            "p_pdg": 2.0e7
            + (i % 3) * 1000
            + (2.0e6 if step_at is not None and i >= step_at else 0),
        }
        for i in range(n)
    ]
    recs = [PutRecord(well, record.encode(r)) for r in rows]
    recs.append(PutRecord(well, b"not json"))
    for start in range(0, len(recs), 500):
        stream.put_records(recs[start : start + 500])


def test_drain_processes_everything_and_exports_alerts_once(settings: Settings) -> None:
    # given a stepping well, a quiet well, and one bad record each
    stream = LocalStream(settings.stream_path, shard_count=2)
    put_well(stream, "WELL-00001", 300, step_at=200)
    put_well(stream, "WELL-00002", 300, step_at=None)
    stream.close()
    rec = RecordingNotifier()
    seen: list[int] = []
    # when the detector drains the stream
    summary = run_detector(
        settings, drain=True, notifiers=[rec], progress=lambda s: seen.append(s.records_processed)
    )
    # then every record was processed, alerts raised for the stepping well only
    assert summary.records_processed == 600
    assert summary.dead_letters == 2 and summary.dead_letters_by_reason == {"bad_json": 2}
    assert summary.alerts_by_rule.get("pressure_jump") == 1
    assert {a.well_id for a in rec.alerts} == {"WELL-00001"}
    assert seen and seen[-1] == 600
    # and the alerts table holds each notification once, with typed columns
    files = sorted((settings.home / "lake" / "alerts").rglob("*.parquet"))
    assert files and all(f.name.startswith("part-") for f in files)
    table = pa.concat_tables([pq.read_table(f) for f in files])
    assert table.num_rows == len(rec.alerts) == summary.alerts_exported
    assert table.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert sorted(table.column("alert_id").to_pylist()) == sorted(a.alert_id for a in rec.alerts)
    # when it runs again on the drained stream
    again = run_detector(settings, drain=True, notifiers=[rec])
    # then nothing new is processed, notified or exported
    assert (again.records_processed, again.alerts_exported, again.notifications) == (0, 0, 0)
    assert sorted((settings.home / "lake" / "alerts").rglob("*.parquet")) == files
    # and the status view shows it all
    status = realtime_status(settings)
    assert status.metrics.records_processed == 600
    assert status.metrics.dead_letter_records == 2
    assert status.alerts_by_rule.get("pressure_jump") == 1
    assert status.dead_letters_by_reason == {"bad_json": 2}


def test_a_failing_notifier_keeps_alerts_pending_and_visible(settings: Settings) -> None:
    stream = LocalStream(settings.stream_path, shard_count=1)
    put_well(stream, "WELL-00001", 300, step_at=200)
    stream.close()
    down = FailingNotifier(name="pager", fail_always=True)
    summary = run_detector(settings, drain=True, notifiers=[down])
    assert summary.alerts_raised >= 1
    assert summary.pending_deliveries >= 1
    assert realtime_status(settings).pending_deliveries == summary.pending_deliveries
    # the alert log still has them
    assert (settings.home / "alerts.jsonl").read_text().count('"status":"open"') >= 1


def test_a_stop_event_ends_a_running_detector(settings: Settings) -> None:
    import threading

    LocalStream(settings.stream_path, shard_count=1).close()
    stop = threading.Event()
    stop.set()
    summary: Any = run_detector(settings, drain=False, stop=stop)
    assert summary.records_processed == 0


def test_summary_line_names_rules_and_problems() -> None:
    from petrostream.runtime.detector import DetectorSummary

    s = DetectorSummary(records_processed=1200, alerts_by_rule={"pressure_jump": 2}, dead_letters=1)
    s.pending_deliveries = 3
    assert s.line() == (
        "1,200 records, 2 alerts (pressure_jump 2), 1 dead letters, 3 deliveries pending"
    )


def test_a_poison_timestamp_on_the_stream_is_one_dead_letter_not_a_lost_batch(
    settings: Settings,
) -> None:
    # given 99 readings of a stepping well and one record with 30 February, in one batch
    stream = LocalStream(settings.stream_path, shard_count=1)
    rows = [
        record.encode(
            {
                "well_id": "WELL-00011",
                "ts": record.format_ts(T0 + timedelta(seconds=i)),
                "p_pdg": 2.0e7 + (i % 3) * 1000 + (2.0e6 if i >= 80 else 0),
            }
        )
        for i in range(99)
    ]
    rows.insert(50, b'{"well_id":"WELL-00011","ts":"2024-02-30 00:00:00.000"}')
    stream.put_records([PutRecord("WELL-00011", r) for r in rows])
    stream.close()
    # when the detector drains it
    summary = run_detector(settings, drain=True, export_lake=False)
    # then the poison is one dead letter, the 99 others are detected on, nothing abandoned
    assert summary.dead_letters_by_reason == {"bad_timestamp": 1}
    assert (summary.records_processed, summary.failed_records) == (99, 0)
    assert summary.batch_item_failures == 0
    assert summary.alerts_by_rule.get("pressure_jump") == 1
    assert realtime_status(settings).dead_letters_by_reason == {"bad_timestamp": 1}


def test_the_summary_counts_a_retried_batchs_dead_letters_once() -> None:
    # given the same dead letter in three deliveries of one batch (retries)
    summary = DetectorSummary()
    letter = DeadLetter("bad_json", "x", "shardId-0", "1", "k", b"not json", 0.0, "")
    other = DeadLetter("bad_json", "x", "shardId-0", "2", "k", b"not json", 0.0, "")
    for _ in range(3):
        summary.add(BatchReport(records=2, dead_letters=[letter, other]))
    # then it is counted once, as the dead-letter store keeps it once
    assert summary.dead_letters == 2 and summary.dead_letters_by_reason == {"bad_json": 2}
    assert "_letters" not in summary.to_dict()


def test_a_second_detector_on_one_home_is_refused_with_a_sentence(settings: Settings) -> None:
    # given a detector running on the home (holding its lock), and records on the stream
    stream = LocalStream(settings.stream_path, shard_count=1)
    put_well(stream, "WELL-00001", 10, step_at=None)
    stream.close()
    with ActorLock(settings.home, DETECTOR_LOCK):
        # when a second one starts, in the API and from the CLI
        with pytest.raises(ConfigError, match="another detector is running on this home"):
            run_detector(settings, drain=True, export_lake=False)
        result = CliRunner().invoke(
            main, ["--home", str(settings.home), "run", "--only", "detector", "--drain"]
        )
    # then it is refused: one sentence naming the lock, no traceback, nothing processed
    assert result.exit_code == 2, result.output
    assert "another detector is running on this home" in result.output
    assert "Traceback" not in result.output
    # and once the first has stopped, a detector runs
    assert run_detector(settings, drain=True, export_lake=False).records_processed == 10
