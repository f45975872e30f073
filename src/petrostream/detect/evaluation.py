"""Detection quality against 3W labels: what `petrostream evaluate` computes.

Each labelled instance runs through the columnar detector from a fresh state, with
``ts = source_ts``. Definitions (docs/detection.md repeats them):

- **onset** of an event instance: the first reading labelled with a transient
  (101-109); without one, the first reading labelled with the event (1-9).
- **normal operation**: a class-0 instance from its first to its last reading; an
  event instance from its first reading to its last reading labelled normal (0)
  before the onset. The unlabelled readings 3W leaves between normal and transient
  (the experts could not tell) are neither normal nor event.
- **detection**: the first *process* alert that opens after normal operation ends;
  its **delay** is its time minus the onset (negative when it opens in the
  unlabelled readings just before the labelled onset). An alert opened during
  normal operation is a **false alert** (even if the event follows), as is every
  process alert of a class-0 instance. Only openings count; an alert is one episode.
- **diagnosis** of a detected instance: the last diagnosis its detecting incident
  notified (at or after the detection); **correct** when it names the instance's event.
- **false alerts per 24 h**: false alerts / hours of normal operation * 24.
- **sensor-health alerts** (frozen, out of range, data gap) are counted apart and
  are neither detections nor false alerts.
- **median / p90 delay**: over the detected instances of a class (p90 by linear
  interpolation between ranks, as numpy's default percentile).
- **cross-validation by well** (``cv="well"``): each well's instances are scored by a
  detector fitted on the other wells' instances only (simulated instances form the
  group ``SIMULATED``, hand-drawn ones ``DRAWN``). The rules and signatures learn
  nothing from data, so fitting returns them unchanged and the figures equal a plain
  run; the folds are reported so that a learned detector slots in honestly.

The baseline runs the seed's rule (``p_pdg > 300 bar``) the same way, as
episodes: far kinder than the seed, which alerted on every reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from petrostream.detect.base import PROCESS, SENSOR_HEALTH, Alert, DetectionState, RuleSet
from petrostream.detect.rules import seed_rules
from petrostream.detect.vectorized import VectorizedDetector
from petrostream.schema import TRANSIENT_LABELS, TRANSIENT_OFFSET, event_type

ProgressFn = Callable[[int, int, str], None]
"""progress(instances done, instances total, instance id)."""


@dataclass
class InstanceResult:
    """How one detector did on one labelled instance.

    Attributes:
        instance_id: the 3W file stem.
        well_id: the well.
        event_class: the instance's event (0 normal, 1-9), from its labels.
        onset_ms: epoch ms of the onset; None for a normal instance.
        normal_s: seconds of normal operation in the instance.
        detected: an event instance was detected; None for a normal instance.
        delay_s: detection delay in seconds; None when not detected.
        false_alerts: process alerts opened during normal operation.
        sensor_health_alerts: sensor-health alerts opened anywhere in the instance.
        rows: readings evaluated.
        alerts: every alert raised (open, update and closed).
        diagnosis: the event type the detecting incident was diagnosed as, if detected.
        source: ``real``, ``simulated`` or ``drawn``.
        unlabelled_rows: readings without a label (evaluated, never scored as normal).
        rejected_rows: rows the reader could not read (not evaluated).
    """

    instance_id: str
    well_id: str
    event_class: int
    onset_ms: int | None
    normal_s: float
    detected: bool | None
    delay_s: float | None
    false_alerts: int
    sensor_health_alerts: int
    rows: int
    alerts: list[Alert] = field(default_factory=list, repr=False)
    diagnosis: str | None = None
    source: str = "real"
    unlabelled_rows: int = 0
    rejected_rows: int = 0

    @property
    def diagnosis_correct(self) -> bool | None:
        """The diagnosis names the instance's event (None when not detected)."""
        if not self.detected:
            return None
        return self.diagnosis == event_type(self.event_class)

    def to_dict(self) -> dict[str, Any]:
        """The per-instance JSON object of `evaluate --format json`."""
        return {
            "instance_id": self.instance_id,
            "well_id": self.well_id,
            "source": self.source,
            "event_class": self.event_class,
            "detected": self.detected,
            "delay_s": self.delay_s,
            "false_alerts": self.false_alerts,
            "normal_hours": round(self.normal_s / 3600, 6),
            "sensor_health_alerts": self.sensor_health_alerts,
            "diagnosis": self.diagnosis,
            "diagnosis_correct": self.diagnosis_correct,
            "rows": self.rows,
            "unlabelled_rows": self.unlabelled_rows,
            "rejected_rows": self.rejected_rows,
        }


@dataclass
class ClassResult:
    """Aggregate over the instances of one event class (event_class None: all of them).

    ``total`` counts instances, ``events`` the event instances among them (for a class
    row, all or none); ``detected`` is None when there is no event instance.
    """

    event_class: int | None
    event_type: str
    detected: int | None
    total: int
    events: int
    median_delay_s: float | None
    p90_delay_s: float | None
    false_alerts: int
    normal_hours: float
    sensor_health_alerts: int
    diagnosed: int | None = None
    real_detected: int = 0
    real_diagnosed: int = 0
    unlabelled_rows: int = 0
    rejected_rows: int = 0

    @property
    def false_alerts_per_24h(self) -> float | None:
        """False alerts per 24 h of normal operation (None without normal operation)."""
        if self.normal_hours <= 0:
            return None
        return self.false_alerts / self.normal_hours * 24

    def to_dict(self) -> dict[str, Any]:
        """The per-class JSON object of `evaluate --format json`."""
        rate = self.false_alerts_per_24h
        return {
            "event_class": self.event_class,
            "event_type": self.event_type,
            "detected": self.detected,
            "total": self.total,
            "events": self.events,
            "median_delay_s": self.median_delay_s,
            "p90_delay_s": self.p90_delay_s,
            "false_alerts_per_24h": None if rate is None else round(rate, 3),
            "false_alerts": self.false_alerts,
            "normal_hours": round(self.normal_hours, 6),
            "sensor_health_alerts": self.sensor_health_alerts,
            "diagnosed": self.diagnosed,
            "real_detected": self.real_detected,
            "real_diagnosed": self.real_diagnosed,
            "unlabelled_rows": self.unlabelled_rows,
            "rejected_rows": self.rejected_rows,
        }


@dataclass
class Evaluation:
    """One detector's results: per class (plus an ``ALL`` row) and per instance."""

    name: str
    classes: list[ClassResult]
    instances: list[InstanceResult]
    cv: str | None = None

    def confusion(self) -> dict[int, dict[str, int]]:
        """Per true event class: how many detected instances were diagnosed as each type."""
        matrix: dict[int, dict[str, int]] = {}
        for r in self.instances:
            if r.detected:
                row = matrix.setdefault(r.event_class, {})
                name = r.diagnosis or "-"
                row[name] = row.get(name, 0) + 1
        return dict(sorted(matrix.items()))

    def folds(self) -> list[dict[str, Any]]:
        """Per cross-validation group (well): instances, detected, diagnosed correctly."""
        groups: dict[str, list[InstanceResult]] = {}
        for r in self.instances:
            groups.setdefault(r.well_id, []).append(r)
        return [
            {"well_id": well, "instances": len(rs),
             "detected": sum(1 for r in rs if r.detected),
             "diagnosed": sum(1 for r in rs if r.diagnosis_correct)}
            for well, rs in sorted(groups.items())
        ]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """``{"rules": ..., "cv": ..., "classes": [...], "instances": [...], ...}``."""
        return {
            "rules": self.name,
            "cv": self.cv,
            "classes": [c.to_dict() for c in self.classes],
            "instances": [i.to_dict() for i in self.instances],
            "confusion": {str(k): v for k, v in self.confusion().items()},
            "folds": self.folds() if self.cv else None,
        }


@dataclass
class LabelledInstance:
    """The columns of one labelled instance, ready for `detect_table`."""

    instance_id: str
    well_id: str
    class_folder: int | None
    ts: np.ndarray  # epoch ms, int64
    labels: np.ndarray  # float64, NaN where unlabelled
    sensors: dict[str, np.ndarray]
    source: str = "real"
    rejected_rows: int = 0


def score_instance(instance: LabelledInstance, detector: VectorizedDetector) -> InstanceResult:
    """Run ``detector`` over one instance from a fresh state and score it against its labels."""
    columns = {
        "well_id": instance.well_id,
        "instance_id": instance.instance_id,
        "ts": instance.ts,
        **instance.sensors,
    }
    _, alerts = detector.detect_table(DetectionState(), columns)
    labels = instance.labels
    known = labels[~np.isnan(labels)].astype(np.int64)
    events = known[known > 0] % TRANSIENT_OFFSET
    if len(events):
        event_class = int(events[0])
    elif len(known):
        event_class = 0  # labelled, and only normal
    else:
        event_class = instance.class_folder or 0  # no label at all: trust the class folder
    ts = instance.ts
    onset_ms: int | None = None
    if event_class:
        transient = np.flatnonzero(np.isin(labels, list(TRANSIENT_LABELS)))
        steady = np.flatnonzero(labels == event_class)
        first = transient if len(transient) else steady
        onset_ms = int(ts[first[0]]) if len(first) else int(ts[0])
    start, end = int(ts[0]), int(ts[-1])
    if onset_ms is None:
        normal_end: int | None = end
    else:
        normal = np.flatnonzero((labels == 0) & (ts < onset_ms))
        normal_end = int(ts[normal[-1]]) if len(normal) else None
    opens = [a for a in alerts if a.status == "open"]
    process = [(_millis(a), a) for a in opens if a.category == PROCESS]
    false_alerts = sum(1 for t, _ in process if normal_end is not None and t <= normal_end)
    delay_s: float | None = None
    diagnosis: str | None = None
    if onset_ms is not None:
        after = [(t, a) for t, a in process if normal_end is None or t > normal_end]
        if after:
            delay_s = (after[0][0] - onset_ms) / 1000
            diagnosis = _diagnosis_of(after[0][1], alerts)
    return InstanceResult(
        instance_id=instance.instance_id,
        well_id=instance.well_id,
        event_class=event_class,
        onset_ms=onset_ms,
        normal_s=0.0 if normal_end is None else max(0, normal_end - start) / 1000,
        detected=None if onset_ms is None else delay_s is not None,
        delay_s=delay_s,
        false_alerts=false_alerts,
        sensor_health_alerts=sum(1 for a in opens if a.category == SENSOR_HEALTH),
        rows=len(ts),
        alerts=alerts,
        diagnosis=diagnosis,
        source=instance.source,
        unlabelled_rows=int(np.isnan(labels).sum()),
        rejected_rows=instance.rejected_rows,
    )


def _diagnosis_of(detection: Alert, alerts: Sequence[Alert]) -> str | None:
    """The last diagnosis the detecting alert's incident notified."""
    incident = detection.incident_id or detection.alert_id
    named = [a.diagnosis for a in alerts if a.incident_id == incident and a.diagnosis]
    return named[-1] if named else None


def _millis(alert: Alert) -> int:
    return int(alert.ts.timestamp() * 1000)


def summarize(name: str, results: Sequence[InstanceResult], cv: str | None = None) -> Evaluation:
    """Aggregate instance results per event class, plus an ``ALL`` row over everything."""
    classes: list[ClassResult] = []
    for event_class in sorted({r.event_class for r in results}):
        classes.append(
            _aggregate(event_class, [r for r in results if r.event_class == event_class])
        )
    if results:
        classes.append(_aggregate(None, list(results)))
    return Evaluation(name, classes, list(results), cv)


def _aggregate(event_class: int | None, results: list[InstanceResult]) -> ClassResult:
    events = [r for r in results if r.detected is not None]
    delays = [r.delay_s for r in events if r.delay_s is not None]
    return ClassResult(
        event_class=event_class,
        event_type="ALL" if event_class is None else str(event_type(event_class)),
        detected=sum(1 for r in events if r.detected) if events else None,
        total=len(results),
        events=len(events),
        median_delay_s=float(np.median(delays)) if delays else None,
        p90_delay_s=float(np.percentile(delays, 90)) if delays else None,
        false_alerts=sum(r.false_alerts for r in results),
        normal_hours=sum(r.normal_s for r in results) / 3600,
        sensor_health_alerts=sum(r.sensor_health_alerts for r in results),
        diagnosed=sum(1 for r in events if r.diagnosis_correct) if events else None,
        real_detected=sum(1 for r in events if r.detected and r.source == "real"),
        real_diagnosed=sum(1 for r in events if r.diagnosis_correct and r.source == "real"),
        unlabelled_rows=sum(r.unlabelled_rows for r in results),
        rejected_rows=sum(r.rejected_rows for r in results),
    )


def load_instances(
    paths: Sequence[Path],
    progress: ProgressFn | None = None,
    on_unreadable: Callable[[str, str], None] | None = None,
) -> Iterable[LabelledInstance]:
    """Read labelled 3W instances under ``paths`` with `petrostream.dataset`.

    ``on_unreadable(path, why)`` hears of a file that cannot be read at all, which is
    then skipped (the folder goes on); without it that file's `DatasetError` is raised.

    Raises:
        DatasetError: a path is missing or holds no 3W file.
    """
    import pyarrow as pa

    from petrostream.dataset import discover, read_instance
    from petrostream.errors import DatasetError

    instances = discover(list(paths))
    for done, instance in enumerate(instances, start=1):
        try:
            read = list(read_instance(instance))
        except DatasetError as exc:
            if on_unreadable is None:
                raise
            on_unreadable(str(instance.path), str(exc).removeprefix(f"{instance.path}: "))
            continue
        rejected = sum(len(b.rejects) for b in read)
        batches = [b.table for b in read]
        if progress is not None:
            progress(done, len(instances), instance.instance_id)
        batches = [b for b in batches if b.num_rows]
        if not batches:
            continue
        table = pa.concat_tables(batches, promote_options="default")
        ts = table.column("source_ts").to_numpy().astype("datetime64[ms]").astype(np.int64)
        labels = table.column("event_class").to_numpy(zero_copy_only=False).astype(np.float64)
        sensors = {
            name: table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
            for name in table.column_names
            if name not in ("source_ts", "event_class", "state")
        }
        yield LabelledInstance(
            instance.instance_id, instance.well_id, instance.class_folder, ts, labels, sensors,
            instance.source, rejected,
        )  # fmt: skip


CV_CHOICES = ("none", "well")


def fit(training: Sequence[LabelledInstance], rules: RuleSet) -> VectorizedDetector:
    """The detector for one fold, fitted on ``training``.

    The rules and the diagnosis signatures learn nothing from data: the fitted
    detector is the same for every fold. A learned detector would train here.
    """
    return VectorizedDetector(rules)


def evaluate(
    instances: Iterable[LabelledInstance],
    rules: RuleSet,
    *,
    cv: str = "none",
    compare: Sequence[RuleSet] = (),
) -> tuple[Evaluation, Evaluation, list[Evaluation]]:
    """Score the detector (``rules``), the seed-rule baseline and each ``compare`` rule set.

    ``cv="well"``: each instance is scored by the detector fitted on the instances of
    the other wells (`fit`); instances are read once, one at a time, since fitting
    needs none of them. Returns (detector, seed baseline, comparisons).
    """
    if cv not in CV_CHOICES:
        raise ValueError(f"cv must be one of {CV_CHOICES}")
    detectors = [fit((), r) for r in (rules, seed_rules(), *compare)]
    results: list[list[InstanceResult]] = [[] for _ in detectors]
    for instance in instances:
        for detector, scored in zip(detectors, results, strict=True):
            scored.append(score_instance(instance, detector))
    mode = None if cv == "none" else cv
    names = [rules.source, "seed rule: p_pdg > 300 bar", *(r.source for r in compare)]
    ours, seed, *others = (
        summarize(name, scored, mode) for name, scored in zip(names, results, strict=True)
    )
    return ours, seed, others
