"""Incidents: a well's open process alerts, one diagnosis for all of them, and its updates.

An *incident* starts with the first process alert that opens while the well has
none open and ends when its last open process alert closes. Its first alert's id
is the ``incident_id`` of every process alert in it. Its diagnosis
(`petrostream.detect.diagnosis`) is made when it opens, again at every new
history interval of the well for 10 minutes, then once a minute up to an hour;
each change worth telling (another event, or the confidence moving by 0.1) is one
``update`` alert under the first alert's id with the next ``revision``. So an
episode is still one ``open`` and one ``closed`` alert; receivers that only want
those drop ``update``.

Both detection paths call `follow` at the same readings (those with process
alerts, and interval starts while an incident is open) with the same histories,
so they raise the same updates. Pure Python; the Lambda zip imports it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from petrostream.detect.alert import OPEN, UPDATE, Alert, from_millis
from petrostream.detect.diagnosis import UNITS, Diagnosis, decide, evidence, score
from petrostream.detect.rules import PROCESS

HISTORY_COLUMNS = tuple(UNITS)
"""The sensors whose history samples the diagnosis reads."""

History = Mapping[str, Sequence[float]]

WINDOW_SAMPLES = 30
"""The diagnosis reads a sensor's last 30 history samples (10 minutes at the bundled 20 s
interval), even when a longer rule (a 30-minute trend) keeps more."""


def _recent(history: Callable[[], History]) -> dict[str, Sequence[float]]:
    return {c: v[-WINDOW_SAMPLES:] for c, v in history().items()}


class Incident:
    """What a well remembers of its open incident (serialized in `DetectionState`).

    Attributes:
        alert: the first alert: ``id``, ``rule``, ``sensor``, ``severity``, ``opened`` (ms),
            ``last`` (ms of the last diagnosis), ``rev`` (the last revision notified).
        reference: per sensor, its level when the incident opened (SI).
        open: process episodes open in it.
        lowest: per sensor, the lowest sample seen at a diagnosis (SI).
        totals: per event class, its signature's scores summed over the diagnoses.
        diagnosis: the last diagnosis notified (None before the first).
    """

    __slots__ = ("alert", "diagnosis", "lowest", "open", "reference", "totals")

    def __init__(
        self,
        alert: dict[str, Any],
        reference: dict[str, float],
        *,
        open_episodes: int = 0,
        lowest: dict[str, float] | None = None,
        totals: dict[int, float] | None = None,
        diagnosis: Diagnosis | None = None,
    ) -> None:
        self.alert = alert
        self.reference = reference
        self.open = open_episodes
        self.lowest: dict[str, float] = lowest or {}
        self.totals: dict[int, float] = totals or {}
        self.diagnosis = diagnosis

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> Incident:
        """Read what `dump` wrote."""
        return cls(
            dict(raw["a"]),
            dict(raw["ref"]),
            open_episodes=raw["n"],
            lowest=dict(raw["low"]),
            totals={int(c): v for c, v in raw["tot"].items()},
            diagnosis=Diagnosis(**raw["dx"]) if raw.get("dx") else None,
        )

    def dump(self) -> dict[str, Any]:
        """JSON-ready form.

        The diagnosis is written field by field, as ``dataclasses.asdict`` would (same
        keys, same order) without its deep copy: this runs for every well with an open
        incident at every batch (`DetectionState.to_bytes`).
        """
        dx = self.diagnosis
        return {
            "a": self.alert, "n": self.open, "ref": self.reference, "low": self.lowest,
            "tot": {str(c): v for c, v in sorted(self.totals.items())},
            "dx": None if dx is None else {
                "event_class": dx.event_class, "event_type": dx.event_type,
                "confidence": dx.confidence, "evidence": dx.evidence,
            },
        }  # fmt: skip


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _rediagnose(incident: Incident, history: History) -> Diagnosis:
    for column, samples in history.items():
        if samples:
            low = incident.lowest.get(column)
            incident.lowest[column] = samples[-1] if low is None else min(low, samples[-1])
    scores, moves = score(history, incident.reference, incident.lowest)
    for event, value in scores.items():
        incident.totals[event] = incident.totals.get(event, 0.0) + value
    diagnosis = decide(incident.totals)
    if diagnosis.differs(incident.diagnosis):  # put into words only what will be told
        diagnosis = dataclasses.replace(diagnosis, evidence=evidence(moves))
    return diagnosis


EVERY_INTERVAL_MS = 600_000
"""An incident is diagnosed at every history interval for its first 10 minutes..."""
LATER_MS = 60_000
"""...then once a minute: an event that lasts hours changes little between minutes."""


HORIZON_MS = 3600000
"""...for its first hour: past it the event is what it is, and the well's slow drift after
it (a closed DHSV cools the line for hours) would only blur the evidence. (Chosen on the
developers' 3W set: 30 minutes named 64 of its 68 real events right, an hour 67.)"""


def _due(incident: Incident, t: int) -> bool:
    first = incident.alert
    age = t - first["opened"]
    return age < EVERY_INTERVAL_MS or (age < HORIZON_MS and t - first["last"] >= LATER_MS)


def next_due(incident: Incident, t: int) -> int | None:
    """The earliest time at or after ``t`` at which an interval start is diagnosed.

    Holds while the incident does not change (no alert of the well in between); None:
    none is (past the horizon). The columnar path skips the interval starts before it,
    where `follow` would do nothing.
    """
    first = incident.alert
    opened = first["opened"]
    if t - opened < EVERY_INTERVAL_MS:
        return t
    due = max(t, first["last"] + LATER_MS)
    return due if due - opened < HORIZON_MS else None


def _with(alert: Alert, incident: Incident) -> Alert:
    dx = incident.diagnosis
    assert dx is not None  # noqa: S101 - diagnosed when it opened
    return dataclasses.replace(
        alert,
        incident_id=incident.alert["id"],
        diagnosis=dx.event_type,
        confidence=dx.confidence,
        revision=incident.alert["rev"],
    )


def follow(
    incident: Incident | None,
    well: str,
    instance: str | None,
    t: int,
    tick: bool,
    fresh: Sequence[Alert],
    history: Callable[[], History],
) -> tuple[Incident | None, list[Alert]]:
    """Advance a well's incident over one reading; return it and the reading's alerts.

    Args:
        incident: the well's open incident, or None.
        well: the well.
        instance: the reading's 3W instance, if known.
        t: the reading's time (epoch ms).
        tick: the reading starts a new history interval of the well.
        fresh: the alerts this reading raised, in order.
        history: per `HISTORY_COLUMNS` sensor, its history samples now.

    Returns:
        The incident (None once closed) and ``fresh`` with the diagnosis on its process
        alerts, followed by an ``update`` alert if the diagnosis changed.
    """
    process = [a for a in fresh if a.category == PROCESS]
    if incident is None and not any(a.status == OPEN for a in process):
        return None, list(fresh)
    if incident is not None and not process and not tick:
        return incident, list(fresh)
    out = list(fresh)
    opened = sum(1 for a in process if a.status == OPEN)
    closed = len(process) - opened
    extra: list[Alert] = []
    if incident is None:
        lead = next(a for a in process if a.status == OPEN)
        samples = _recent(history)
        first = {
            "id": lead.alert_id, "rule": lead.rule, "sensor": lead.sensor,
            "severity": lead.severity, "opened": t, "last": t, "rev": 0,
        }  # fmt: skip
        incident = Incident(first, {c: _median(v) for c, v in samples.items() if v})
        incident.diagnosis = _rediagnose(incident, samples)
    elif tick and _due(incident, t):
        incident.alert["last"] = t
        diagnosis = _rediagnose(incident, _recent(history))
        if diagnosis.differs(incident.diagnosis):
            incident.diagnosis = diagnosis
            incident.alert["rev"] += 1
            extra.append(_update(incident, well, instance, t))
    incident.open += opened - closed
    out = [_with(a, incident) if a.category == PROCESS else a for a in out] + extra
    return (incident if incident.open > 0 else None), out


def _update(incident: Incident, well: str, instance: str | None, t: int) -> Alert:
    first = incident.alert
    dx = incident.diagnosis
    assert dx is not None  # noqa: S101 - set just before
    return Alert(
        alert_id=first["id"],
        well_id=well,
        instance_id=instance,
        rule=first["rule"],
        category=PROCESS,
        severity=first["severity"],
        status=UPDATE,
        ts=from_millis(t),
        opened_at=from_millis(first["opened"]),
        sensor=first["sensor"],
        value=None,
        message=f"diagnosis {dx.event_type} ({dx.confidence:.2f}): {dx.evidence}",
        incident_id=first["id"],
        diagnosis=dx.event_type,
        confidence=dx.confidence,
        revision=first["rev"],
    )
