"""Detection quality against 3W labels: what `petrostream evaluate` computes.

Each labelled instance runs through the columnar detector from a fresh state, with
``ts = source_ts``. Definitions (docs/detection.md repeats them):

- **onset** of an event instance: the first reading labelled with a transient
  (101-109); without one, the first reading labelled with the event (1-9).
- **normal operation**: a class-0 instance from its first to its last reading; the
  stretch of an event instance from its first reading to its onset.
- **detection**: the first *process* alert that opens at or after the onset; its
  **delay** is its time minus the onset. An alert opened before the onset is a
  **false alert** (even if the event follows), as is every process alert of a
  class-0 instance. Only openings count; an alert is one episode.
- **false alerts per 24 h**: false alerts / hours of normal operation * 24.
- **sensor-health alerts** (frozen, out of range, data gap) are counted apart and
  are neither detections nor false alerts.
- **median / p90 delay**: over the detected instances of a class (p90 by linear
  interpolation between ranks, as numpy's default percentile).

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
        alerts: every alert raised (open and closed).
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

    def to_dict(self) -> dict[str, Any]:
        """The per-instance JSON object of `evaluate --format json`."""
        return {
            "instance_id": self.instance_id,
            "event_class": self.event_class,
            "detected": self.detected,
            "delay_s": self.delay_s,
            "false_alerts": self.false_alerts,
            "normal_hours": round(self.normal_s / 3600, 6),
            "sensor_health_alerts": self.sensor_health_alerts,
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
        }


@dataclass
class Evaluation:
    """One detector's results: per class (plus an ``ALL`` row) and per instance."""

    name: str
    classes: list[ClassResult]
    instances: list[InstanceResult]

    def to_dict(self) -> dict[str, Any]:
        """``{"rules": ..., "classes": [...], "instances": [...]}``."""
        return {
            "rules": self.name,
            "classes": [c.to_dict() for c in self.classes],
            "instances": [i.to_dict() for i in self.instances],
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
    normal_end = end if onset_ms is None else onset_ms
    opens = [a for a in alerts if a.status == "open"]
    process = [_millis(a) for a in opens if a.category == PROCESS]
    false_alerts = sum(1 for t in process if onset_ms is None or t < onset_ms)
    delay_s: float | None = None
    if onset_ms is not None:
        after = [t for t in process if t >= onset_ms]
        delay_s = (after[0] - onset_ms) / 1000 if after else None
    return InstanceResult(
        instance_id=instance.instance_id,
        well_id=instance.well_id,
        event_class=event_class,
        onset_ms=onset_ms,
        normal_s=max(0, normal_end - start) / 1000,
        detected=None if onset_ms is None else delay_s is not None,
        delay_s=delay_s,
        false_alerts=false_alerts,
        sensor_health_alerts=sum(1 for a in opens if a.category == SENSOR_HEALTH),
        rows=len(ts),
        alerts=alerts,
    )


def _millis(alert: Alert) -> int:
    return int(alert.ts.timestamp() * 1000)


def summarize(name: str, results: Sequence[InstanceResult]) -> Evaluation:
    """Aggregate instance results per event class, plus an ``ALL`` row over everything."""
    classes: list[ClassResult] = []
    for event_class in sorted({r.event_class for r in results}):
        classes.append(
            _aggregate(event_class, [r for r in results if r.event_class == event_class])
        )
    if results:
        classes.append(_aggregate(None, list(results)))
    return Evaluation(name, classes, list(results))


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
    )


def load_instances(
    paths: Sequence[Path], progress: ProgressFn | None = None
) -> Iterable[LabelledInstance]:
    """Read labelled 3W instances under ``paths`` with `petrostream.dataset`.

    Raises:
        DatasetError: a path is missing or holds no 3W file.
    """
    import pyarrow as pa

    from petrostream.dataset import discover, read_instance

    instances = discover(list(paths))
    for done, instance in enumerate(instances, start=1):
        batches = [b.table for b in read_instance(instance)]
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
            instance.instance_id, instance.well_id, instance.class_folder, ts, labels, sensors
        )


def evaluate(
    instances: Iterable[LabelledInstance], rules: RuleSet
) -> tuple[Evaluation, Evaluation]:
    """Score the detector (``rules``) and the seed-rule baseline on every instance."""
    detector = VectorizedDetector(rules)
    baseline = VectorizedDetector(seed_rules())
    ours: list[InstanceResult] = []
    theirs: list[InstanceResult] = []
    for instance in instances:
        ours.append(score_instance(instance, detector))
        theirs.append(score_instance(instance, baseline))
    return summarize(rules.source, ours), summarize("seed rule: p_pdg > 300 bar", theirs)


def format_table(detector: Evaluation, baseline: Evaluation) -> str:
    """The human table: per class, the detector row then the baseline row."""
    header = (
        "class", "event", "detector", "detected", "median delay", "p90 delay",
        "false alerts/24h", "normal h", "sensor-health",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = [header]
    pairs = zip(detector.classes, baseline.classes, strict=True)
    for ours, theirs in pairs:
        for label, result in (("rules", ours), ("seed baseline", theirs)):
            rate = result.false_alerts_per_24h
            rows.append(
                (
                    "all" if result.event_class is None else str(result.event_class),
                    result.event_type,
                    label,
                    "-" if result.detected is None else f"{result.detected}/{result.events}",
                    _seconds(result.median_delay_s),
                    _seconds(result.p90_delay_s),
                    "-" if rate is None else f"{rate:.2f} ({result.false_alerts})",
                    f"{result.normal_hours:.2f}",
                    "-" if label != "rules" else str(result.sensor_health_alerts),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(
        f"rules: {detector.name}; delays from onset (first transient label, else first event "
        "label); false alerts = process alerts opened in normal operation (count)."
    )
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f} s"
    return f"{value / 60:.1f} min"
