"""Real 3W event files -> replay -> local stream -> local event source -> handler -> alerts."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from petrostream.dataset import discover
from petrostream.detect.base import Alert
from petrostream.producer import replay
from petrostream.runtime.detector import realtime_status, run_detector
from petrostream.settings import Settings
from petrostream.stream.local import LocalStream
from petrostream.testing.clock import FakeClock
from petrostream.testing.notifier import RecordingNotifier

START = datetime(2024, 6, 1, 12, tzinfo=UTC)


def onset_of(path: Path) -> datetime:
    """The file's time of its first non-normal label (transient first), aware UTC."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["class"] and int(float(row["class"])) != 0:
            return datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC)
    raise AssertionError(f"{path} has no event label")


def test_real_events_raise_alerts_and_normal_stretches_stay_quiet(
    settings: Settings, bundled_3w_files: list[Path]
) -> None:
    # given the real 3W event instances replayed as a fleet, at real spacing (virtual clock),
    # stamped with the files' own time (so the onsets read straight from the files)
    event_files = [f for f in bundled_3w_files if f.parent.name != "0"]
    stream = LocalStream(settings.stream_path, shard_count=settings.stream_shards)
    summary = replay(
        discover(event_files), stream, speed=1.0, clock=FakeClock(START), clock_mode="source"
    )
    stream.close()
    assert summary.records_put > 3000 and not summary.undelivered
    rec = RecordingNotifier()

    # when the detector drains the stream through the Lambda handler
    result = run_detector(settings, drain=True, notifiers=[rec])

    # then every reading was processed, none dead-lettered
    assert (result.records_processed, result.dead_letters) == (summary.records_put, 0)
    assert result.failed_records == 0
    alerts = [a for a in rec.alerts if isinstance(a, Alert)]
    assert len(alerts) == len(rec.alerts)
    for path in event_files:
        instance = path.stem
        onset = onset_of(path)
        opened = [
            a
            for a in alerts
            if a.instance_id == instance and a.status == "open" and a.category == "process"
        ]
        # an alert for the event, at or after its onset
        assert any(a.ts >= onset for a in opened), f"{instance}: no process alert after onset"
        # and none during the normal stretch before it
        early = [a for a in opened if a.ts < onset]
        assert early == [], f"{instance}: false alerts in the normal stretch: {early}"
    # and the alerts are in the lake's alerts table and the status view
    files = list((settings.home / "lake" / "alerts").rglob("*.parquet"))
    assert sum(pq.read_metadata(f).num_rows for f in files) == len(alerts)
    assert realtime_status(settings).metrics.records_processed == result.records_processed
