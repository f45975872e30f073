"""`petrostream stream describe` shows the detector's local metrics beside the stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from petrostream.cli import main
from petrostream.metrics.base import ALERTS_RAISED, RECORDS_PROCESSED, MetricPoint
from petrostream.metrics.sqlite_metrics import SqliteMetrics
from petrostream.stream.local import LocalStream


def test_describe_before_the_detector_ran_says_so(home: Path) -> None:
    LocalStream(home / "stream.db").close()
    result = CliRunner().invoke(main, ["--home", str(home), "stream", "describe"])
    assert result.exit_code == 0, result.output
    assert "detector metrics: none yet" in result.output


def test_describe_json_carries_the_detector_metrics(home: Path) -> None:
    # given a stream and metrics the detector emitted
    LocalStream(home / "stream.db").close()
    sink = SqliteMetrics(home / "metrics.db")
    sink.emit(MetricPoint(datetime.now(UTC), {RECORDS_PROCESSED: 100.0, ALERTS_RAISED: 2.0}))
    sink.emit(MetricPoint(datetime.now(UTC), {RECORDS_PROCESSED: 50.0}))
    # when
    result = CliRunner().invoke(
        main, ["--home", str(home), "stream", "describe", "--format", "json"]
    )
    # then the counts are summed under their CloudWatch names
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)["metrics"]
    assert metrics["RecordsProcessed"] == 150
    assert metrics["AlertsRaised"] == 2
    assert metrics["last_update"] is not None
