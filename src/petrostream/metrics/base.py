"""Metric names and the sink contract. Pure: the Lambda zip carries it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, Protocol, runtime_checkable

NAMESPACE: Final = "PetroStream"

RECORDS_PROCESSED: Final = "RecordsProcessed"
ALERTS_RAISED: Final = "AlertsRaised"
ITERATOR_AGE: Final = "IteratorAgeMilliseconds"
DETECTION_LATENCY: Final = "DetectionLatencyMilliseconds"
DEAD_LETTER_RECORDS: Final = "DeadLetterRecords"

Unit = Literal["Count", "Milliseconds"]

UNITS: Final[Mapping[str, Unit]] = {
    RECORDS_PROCESSED: "Count",
    ALERTS_RAISED: "Count",
    ITERATOR_AGE: "Milliseconds",
    DETECTION_LATENCY: "Milliseconds",
    DEAD_LETTER_RECORDS: "Count",
}


@dataclass(frozen=True)
class MetricPoint:
    """Values measured at one moment (one handler invocation), with shared dimensions."""

    ts: datetime
    values: Mapping[str, float]
    dimensions: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class MetricsSink(Protocol):
    """Where the handler's metrics go.

    `emit` is called once per handler invocation, after detection and
    notification. It must not raise for a full disk or a closed stdout: metrics
    are best-effort and never fail a batch.
    """

    def emit(self, point: MetricPoint) -> None:
        """Record one point. Names come from this module; units from `UNITS`."""
        ...


class NullMetrics:
    """Discards metrics (tests that do not look at them)."""

    def emit(self, point: MetricPoint) -> None:
        """Do nothing."""
