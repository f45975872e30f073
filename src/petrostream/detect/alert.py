"""`Alert`: one change of an alert, as detection raises it and notifiers deliver it.

Pure (stdlib + `petrostream.record`): the Lambda zip imports it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from petrostream.record import format_ts

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

OPEN: Final = "open"
CLOSED: Final = "closed"
UPDATE: Final = "update"
"""Statuses: an episode opens, its diagnosis is revised (updates), it closes."""


@dataclass(frozen=True)
class Alert:
    """One alert state change: an episode opening, a new diagnosis of it, or its closing.

    Attributes:
        alert_id: sha1 of well, rule, sensor and the opening time: the same episode always
            gets the same id, so a retried batch never yields a new one.
        well_id: the well.
        instance_id: the 3W instance of the reading that changed the state, if known.
        rule: the rule name (``baseline_departure``, ``pressure_jump``...).
        category: ``process`` or ``sensor_health``.
        severity: ``info``, ``warning`` or ``critical``.
        status: ``open``, ``update`` (a revised diagnosis of an open incident, under the
            alert id of the incident's first alert) or ``closed``.
        ts: event time of this state change (a reading's ``ts``), aware UTC.
        opened_at: event time the episode opened.
        sensor: the canonical column, or None for well-level rules (data gap).
        value: the sensor value (SI, as on the stream) at this state change.
        message: a sentence for humans, with units.
        incident_id: process alerts: the alert id of the first alert of the well's
            incident (the process alerts open together); None for sensor-health alerts.
        diagnosis: process alerts: the most likely 3W event type
            (``SPURIOUS_CLOSURE_OF_DHSV``) at this change; None for sensor-health alerts.
        confidence: the diagnosis' confidence, 0-1.
        revision: 0 for the incident's first diagnosis, then one more per ``update``.
    """

    alert_id: str
    well_id: str
    instance_id: str | None
    rule: str
    category: str
    severity: str
    status: str
    ts: datetime
    opened_at: datetime
    sensor: str | None
    value: float | None
    message: str
    incident_id: str | None = None
    diagnosis: str | None = None
    confidence: float | None = None
    revision: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The alert as a JSON-ready dict (timestamps as ``YYYY-MM-DD HH:MM:SS.mmm`` UTC)."""
        return {
            "alert_id": self.alert_id,
            "well_id": self.well_id,
            "instance_id": self.instance_id,
            "rule": self.rule,
            "category": self.category,
            "severity": self.severity,
            "status": self.status,
            "ts": format_ts(self.ts),
            "opened_at": format_ts(self.opened_at),
            "sensor": self.sensor,
            "value": self.value,
            "message": self.message,
            "incident_id": self.incident_id,
            "diagnosis": self.diagnosis,
            "confidence": self.confidence,
            "revision": self.revision,
        }


def alert_id(well_id: str, rule: str, sensor: str | None, opened_ms: int) -> str:
    """The deterministic id of one episode."""
    key = f"{well_id}|{rule}|{sensor or ''}|{opened_ms}"
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()


def from_millis(ms: int) -> datetime:
    """Epoch milliseconds -> aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=ms)
