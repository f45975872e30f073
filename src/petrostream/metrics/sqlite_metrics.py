"""Local metrics: the same names as CloudWatch, in a SQLite file under the home."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from petrostream.metrics.base import (
    ALERTS_RAISED,
    DEAD_LETTER_RECORDS,
    DETECTION_LATENCY,
    ITERATOR_AGE,
    RECORDS_PROCESSED,
    MetricPoint,
)
from petrostream.sqlite import open_wal

_LOG = logging.getLogger(__name__)
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS metrics (
    ts REAL NOT NULL,           -- epoch seconds
    name TEXT NOT NULL,
    value REAL NOT NULL,
    dimensions TEXT NOT NULL    -- JSON object
);
CREATE INDEX IF NOT EXISTS metrics_name_ts ON metrics (name, ts);
"""
_SUMS: Final = (RECORDS_PROCESSED, ALERTS_RAISED, DEAD_LETTER_RECORDS)


class SqliteMetrics:
    """Appends each point's values as rows ``(ts, name, value, dimensions)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = open_wal(path, _SCHEMA)

    def emit(self, point: MetricPoint) -> None:
        """Store the point; a database error is logged, not raised."""
        dims = json.dumps(dict(point.dimensions), sort_keys=True)
        rows = [(point.ts.timestamp(), n, float(v), dims) for n, v in point.values.items()]
        try:
            with self._lock:
                self._db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            _LOG.warning("metrics not stored: %s", exc)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()


@dataclass(frozen=True)
class MetricsSummary:
    """The local metrics view (what `stream describe` and the dashboard show)."""

    records_processed: int
    alerts_raised: int
    dead_letter_records: int
    iterator_age_ms: float | None  # latest
    detection_latency_p50_ms: float | None
    detection_latency_p99_ms: float | None
    last_update: datetime | None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def read_metrics(path: Path, *, since: datetime | None = None) -> MetricsSummary:
    """Summarize the metrics file (sums of counts, latest iterator age, latency percentiles).

    A missing file reads as all zeros: the detector has not run yet.
    """
    empty = MetricsSummary(0, 0, 0, None, None, None, None)
    if not path.exists():
        return empty
    start = since.timestamp() if since else 0.0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        sums = dict(
            db.execute(
                "SELECT name, SUM(value) FROM metrics WHERE ts >= ? GROUP BY name", (start,)
            ).fetchall()
        )
        age = db.execute(
            "SELECT value FROM metrics WHERE name = ? AND ts >= ? ORDER BY ts DESC LIMIT 1",
            (ITERATOR_AGE, start),
        ).fetchone()
        latencies = [
            r[0]
            for r in db.execute(
                "SELECT value FROM metrics WHERE name = ? AND ts >= ? ORDER BY ts DESC LIMIT 10000",
                (DETECTION_LATENCY, start),
            )
        ]
        last = db.execute("SELECT MAX(ts) FROM metrics").fetchone()[0]
    except sqlite3.OperationalError:  # no table yet
        return empty
    finally:
        db.close()
    return MetricsSummary(
        records_processed=int(sums.get(RECORDS_PROCESSED, 0)),
        alerts_raised=int(sums.get(ALERTS_RAISED, 0)),
        dead_letter_records=int(sums.get(DEAD_LETTER_RECORDS, 0)),
        iterator_age_ms=None if age is None else float(age[0]),
        detection_latency_p50_ms=_percentile(latencies, 0.5),
        detection_latency_p99_ms=_percentile(latencies, 0.99),
        last_update=None if last is None else datetime.fromtimestamp(last, UTC),
    )
