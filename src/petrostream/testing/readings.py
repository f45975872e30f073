"""Reading factories for tests: one reading, a steady noisy series, a step change.

Readings are shaped like decoded stream records (`petrostream.record.decode`
output): ``well_id``, ``ts`` as ``YYYY-MM-DD HH:MM:SS.mmm`` UTC, sensor values in
SI units (Pa, °C), absent sensors left out. Deterministic: the noise comes from a
seeded `random.Random`, so a test that fails, fails the same way again.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from petrostream.record import format_ts, parse_ts

T0: Final = datetime(2024, 1, 1, tzinfo=UTC)
"""Default start of generated series."""

BAR: Final = 1.0e5
"""Pascals in one bar: ``p_pdg=300 * BAR``."""

TYPICAL: Final[dict[str, float]] = {"p_pdg": 250 * BAR, "p_tpt": 120 * BAR, "t_tpt": 80.0}
"""A plausible healthy well (levels used when a factory gets no sensors)."""

NOISE: Final[dict[str, float]] = {"Pa": 0.05 * BAR, "degC": 0.02}
"""Default noise standard deviation per unit: 0.05 bar, 0.02 °C."""


def _ts(value: datetime | str) -> str:
    return value if isinstance(value, str) else format_ts(value)


def _at(start: datetime | str) -> datetime:
    return parse_ts(start) if isinstance(start, str) else start


def make_reading(
    well_id: str = "WELL-00001",
    ts: datetime | str = T0,
    *,
    instance_id: str | None = None,
    **sensors: float | None,
) -> dict[str, Any]:
    """One reading: ``make_reading("WELL-00001", T0, p_pdg=3.1e7)``; None sensors are left out."""
    reading: dict[str, Any] = {"well_id": well_id, "ts": _ts(ts)}
    if instance_id is not None:
        reading["instance_id"] = instance_id
    reading.update({k: v for k, v in sensors.items() if v is not None})
    return reading


def _noise_of(column: str, noise: float | Mapping[str, float] | None) -> float:
    if isinstance(noise, int | float):
        return float(noise)
    if isinstance(noise, Mapping) and column in noise:
        return float(noise[column])
    unit = "degC" if column.startswith("t_") else "Pa"
    return NOISE[unit]


def steady(
    seconds: int,
    *,
    well_id: str = "WELL-00001",
    start: datetime | str = T0,
    every_s: float = 1.0,
    noise: float | Mapping[str, float] | None = None,
    seed: int = 0,
    instance_id: str | None = None,
    **levels: float,
) -> list[dict[str, Any]]:
    """A steady series: ``seconds / every_s`` readings around ``levels`` with Gaussian noise.

    Args:
        seconds: span of the series.
        well_id: the well.
        start: time of the first reading.
        every_s: seconds between readings.
        noise: standard deviation (SI) for every sensor, or per column; default `NOISE`.
        seed: seed of the noise.
        instance_id: set on every reading, if given.
        **levels: sensor column -> level in SI units; default `TYPICAL`.
    """
    rng = random.Random(seed)
    levels = levels or dict(TYPICAL)
    sigma = {c: _noise_of(c, noise) for c in levels}
    t0 = _at(start)
    count = int(seconds / every_s)
    return [
        make_reading(
            well_id,
            t0 + timedelta(seconds=i * every_s),
            instance_id=instance_id,
            **{c: v + rng.gauss(0.0, sigma[c]) for c, v in levels.items()},
        )
        for i in range(count)
    ]


def step(
    seconds: int,
    *,
    at_s: float,
    sensor: str,
    by: float,
    ramp_s: float = 0.0,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """A steady series (see `steady`) where ``sensor`` moves by ``by`` (SI) at ``at_s``.

    With ``ramp_s`` > 0 the change is linear over that many seconds instead of instant.
    """
    readings = steady(seconds, **kwargs)
    t0 = _at(kwargs.get("start", T0))
    for reading in readings:
        elapsed = (parse_ts(reading["ts"]) - t0).total_seconds() - at_s
        if elapsed < 0 or sensor not in reading:
            continue
        fraction = 1.0 if ramp_s <= 0 else min(1.0, elapsed / ramp_s)
        reading[sensor] += by * fraction
    return readings
