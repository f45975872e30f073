"""The human table of `petrostream evaluate`: per class, the detectors side by side.

What the figures mean is `petrostream.detect.evaluation`'s (and docs/detection.md's).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from petrostream.detect.evaluation import Evaluation


def format_table(
    detector: Evaluation, baseline: Evaluation, compare: Sequence[Evaluation] = ()
) -> str:
    """The human table: per class, the detector row, each comparison, the seed baseline.

    Then the diagnosis figures, the confusion matrix and the rows that were not scored.
    """
    header = (
        "class", "event", "detector", "detected", "median delay", "p90 delay",
        "false alerts/24h", "normal h", "diagnosed", "sensor-health",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = [header]
    labels = ["rules", *(Path(c.name).name for c in compare), "seed baseline"]
    sides = [detector, *compare, baseline]
    for results in zip(*(side.classes for side in sides), strict=True):
        for label, result in zip(labels, results, strict=True):
            graded = label != "seed baseline"
            rate = result.false_alerts_per_24h
            detected = result.detected
            rows.append(
                (
                    "all" if result.event_class is None else str(result.event_class),
                    result.event_type,
                    label,
                    "-" if detected is None else f"{detected}/{result.events}",
                    _seconds(result.median_delay_s),
                    _seconds(result.p90_delay_s),
                    "-" if rate is None else f"{rate:.2f} ({result.false_alerts})",
                    f"{result.normal_hours:.2f}",
                    "-" if not graded or not detected else f"{result.diagnosed}/{detected}",
                    "-" if not graded else str(result.sensor_health_alerts),
                )
            )
    lines = _columns(rows)
    total = detector.classes[-1] if detector.classes else None
    lines.append("")
    lines.append(
        f"rules: {detector.name}; cv: {detector.cv or 'none'}; delays from onset (first "
        "transient label, else first event label); false alerts = process alerts opened "
        "in normal operation (count); diagnosed = detected instances whose diagnosis "
        "names their event."
    )
    if total is not None:
        lines.append(
            f"real instances: diagnosed {total.real_diagnosed}/{total.real_detected} detected; "
            f"rows unlabelled (evaluated, never normal): {total.unlabelled_rows}; "
            f"rows rejected by the reader (not evaluated): {total.rejected_rows}."
        )
    matrix = detector.confusion()
    if matrix:
        names = sorted({n for row in matrix.values() for n in row})
        grid: list[tuple[str, ...]] = [("true \\ diagnosed", *names)]
        for event_class, row in matrix.items():
            grid.append((str(event_class), *(str(row.get(n, 0)) for n in names)))
        lines.append("")
        lines.append("diagnosis of the detected instances (rows: true class):")
        lines.extend(_columns(grid))
    return "\n".join(lines)


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f} s"
    return f"{value / 60:.1f} min"
