"""A synthetic 3W generator: plausible wells, deterministic from a seed.

It writes a 3W tree, ``OUT/<class>/WELL-xxxxx_<YYYYMMDDhhmmss>.<ext>``, one
instance per ``instance_hours`` of each well, rows at 1 Hz. CSV files use the
3W 1.x header; Parquet files are written by pandas exactly as 3W 2.x ships
them (timestamp index, brotli, ``Int64`` class and state). ``version`` picks the
variables: 1 -> the 8 of 3W 1.x, 2 -> the 27 of 3W 2.x plus ``state``.

Normal operation: per-well base levels in the ranges real wells show (P-PDG
2-3.5e7 Pa, P-TPT 1-2.5e7 Pa, T-TPT 60-120 degC...), a slow drift that runs on
across a well's consecutive instances, and sensor noise. An event instance has
a normal stretch (label 0), a transient (label 100+N) and a steady part (N),
like real 3W instances; classes 3 (severe slugging) and 4 (flow instability)
have no transient, as in 3W. The signature of each class follows the 3W
paper's description (Vargas et al., 2019); see ``_EFFECTS``.

These files feed scale tests and benchmarks; real instances, not these, are
the yardstick of detection quality.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from petrostream import schema
from petrostream.errors import ConfigError

DEFAULT_START: Final = datetime(2024, 1, 1, tzinfo=UTC)
ALL_CLASSES: Final[tuple[int, ...]] = tuple(int(c) for c in schema.EventClass)
NO_TRANSIENT: Final[frozenset[int]] = frozenset({0, 3, 4})

ProgressFn = Callable[[int, int, int], None]
"""progress(instances_written, instances_total, rows_written)."""

# Base level ranges of the eight 1.x variables (uniform per well).
_BASE_RANGES: Final[dict[str, tuple[float, float]]] = {
    "P-PDG": (2.0e7, 3.5e7),
    "P-TPT": (1.0e7, 2.5e7),
    "T-TPT": (60.0, 120.0),
    "P-MON-CKP": (0.8e6, 5.0e6),
    "T-JUS-CKP": (40.0, 80.0),
    "P-JUS-CKGL": (1.0e7, 2.0e7),
    "T-JUS-CKGL": (15.0, 40.0),
    "QGL": (0.2, 1.5),
}
_TEMPERATURES: Final = frozenset(t for t, v in schema.VARIABLES_BY_TAG.items() if v.unit == "degC")

# Event signatures: tag -> change at full development (relative for pressures and
# flows, degC for temperatures), scaled by the event's development curve.
_EFFECTS: Final[dict[int, dict[str, float]]] = {
    # Abrupt increase of BSW: a heavier liquid column, warmer (water holds heat).
    1: {"P-PDG": 0.03, "P-TPT": -0.08, "T-TPT": 2.0, "P-MON-CKP": -0.05, "T-JUS-CKP": 1.5},
    # Spurious DHSV closure: flow stops; below the valve pressure builds up, above it
    # bleeds off; the line cools down.
    2: {"P-PDG": 0.05, "P-TPT": -0.6, "T-TPT": -25.0, "P-MON-CKP": -0.55, "T-JUS-CKP": -15.0},
    # Severe slugging: large periodic oscillations (amplitudes of the cycle).
    3: {"P-PDG": 0.06, "P-TPT": 0.25, "T-TPT": 3.0, "P-MON-CKP": 0.4, "T-JUS-CKP": 4.0},
    # Flow instability: irregular oscillations (amplitudes).
    4: {"P-PDG": 0.02, "P-TPT": 0.08, "T-TPT": 1.5, "P-MON-CKP": 0.15, "T-JUS-CKP": 1.5},
    # Rapid productivity loss: less flow, so less drawdown at the bottom (P-PDG up a
    # little) while the pressures and temperatures up the line decline.
    5: {"P-PDG": 0.02, "P-TPT": -0.15, "T-TPT": -6.0, "P-MON-CKP": -0.2, "T-JUS-CKP": -5.0},
    # Quick restriction in the production choke: P-MON-CKP jumps up.
    6: {"P-MON-CKP": 0.35, "P-TPT": 0.06, "P-PDG": 0.01, "T-JUS-CKP": -3.0},
    # Scaling in the production choke: P-MON-CKP rises slowly.
    7: {"P-MON-CKP": 0.25, "P-TPT": 0.04, "P-PDG": 0.005, "T-JUS-CKP": -1.0},
    # Hydrate in the production line: upstream pressure up, flow and temperature down.
    8: {"P-MON-CKP": 0.5, "T-JUS-CKP": -12.0, "P-TPT": 0.05, "T-TPT": -2.0},
    # Hydrate in the service (gas-lift) line: gas-lift flow drops, pressure before the
    # plug rises, the column gets heavier.
    9: {"QGL": -0.85, "P-JUS-CKGL": 0.15, "P-TPT": 0.03, "P-PDG": 0.02, "T-JUS-CKGL": -3.0},
}
# Fraction of the instance before the event starts, and the transient's fraction.
_ONSET: Final = (0.2, 0.4)
_TRANSIENT: Final[dict[int, tuple[float, float]]] = {
    2: (0.1, 0.2),  # spurious closure: fast
    6: (0.05, 0.15),  # quick restriction: fast
    7: (0.35, 0.5),  # scaling: slow
}
_DEFAULT_TRANSIENT: Final = (0.2, 0.35)

_V2_OPEN_VALVES: Final = ("ESTADO-DHSV", "ESTADO-M1", "ESTADO-SDV-GL", "ESTADO-SDV-P", "ESTADO-W1")
_STAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S.000000"  # as in 3W 1.x files
_CSV_WRITE: Final = pacsv.WriteOptions(include_header=False, quoting_style="none")


@dataclass(frozen=True)
class _Well:
    well_id: str
    index: int
    start: datetime
    base: dict[str, float]
    drift_periods: tuple[float, float]
    drift_phases: tuple[float, float]


def synthesize(
    out: Path,
    *,
    wells: int,
    hours: float,
    seed: int,
    fmt: str = "csv",
    version: int = 1,
    events: Sequence[int] | None = None,
    instance_hours: float = 1.0,
    start: datetime = DEFAULT_START,
    first_well: int = 1,
    progress: ProgressFn | None = None,
) -> list[Path]:
    """Write a synthetic 3W tree under ``out`` and return the files, in write order.

    Args:
        out: the tree's root (created if missing).
        wells: number of wells, ``WELL-<first_well>`` onwards.
        hours: hours of 1 Hz readings per well.
        seed: same seed and arguments -> byte-identical files.
        fmt: ``csv`` or ``parquet``.
        version: 1 (the 8 variables of 3W 1.x) or 2 (the 27 of 3W 2.x, plus ``state``).
        events: event classes (0-9) to cycle through, instance by instance; default all.
        instance_hours: length of one instance (one file); a well's instances follow
            each other in time.
        start: earliest start of a well (aware UTC); each well starts a few minutes later.
        first_well: number of the first well.
        progress: called after each file with (files done, files total, rows done).

    Raises:
        ConfigError: an argument is out of range.
    """
    classes = _check(wells, hours, fmt, version, events, instance_hours, first_well)
    tags = schema.V1_TAGS if version == 1 else schema.V2_TAGS
    rows_per_well = round(hours * 3600)
    rows_per_instance = max(1, round(instance_hours * 3600))
    cuts = list(range(0, rows_per_well, rows_per_instance))
    total = wells * len(cuts)
    written: list[Path] = []
    rows_done = 0
    for w in range(wells):
        well = _make_well(seed, first_well + w, start)
        for j, offset in enumerate(cuts):
            n = min(rows_per_instance, rows_per_well - offset)
            event = classes[(w + j) % len(classes)]
            rng = np.random.default_rng([seed, well.index, j])
            values, labels = _instance(well, rng, event, offset, n, tags)
            begin = well.start + timedelta(seconds=offset)
            path = out / str(event) / f"{well.well_id}_{begin:%Y%m%d%H%M%S}.{_SUFFIX[fmt]}"
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(path, fmt, version, begin, tags, values, labels)
            written.append(path)
            rows_done += n
            if progress is not None:
                progress(len(written), total, rows_done)
    return written


_SUFFIX: Final = {"csv": "csv", "parquet": "parquet"}


def _check(
    wells: int,
    hours: float,
    fmt: str,
    version: int,
    events: Sequence[int] | None,
    instance_hours: float,
    first_well: int,
) -> tuple[int, ...]:
    if wells < 1:
        raise ConfigError(f"wells must be at least 1, got {wells}")
    if first_well < 0 or first_well + wells - 1 > 99_999:
        raise ConfigError("well numbers must fit WELL-00000..WELL-99999; lower --wells")
    if not hours * 3600 >= 1:
        raise ConfigError(f"hours must be at least 1 second (1/3600), got {hours}")
    if not instance_hours * 3600 >= 1:
        raise ConfigError(f"instance hours must be at least 1/3600, got {instance_hours}")
    if fmt not in _SUFFIX:
        raise ConfigError(f"format must be csv or parquet, got {fmt!r}")
    if version not in (1, 2):
        raise ConfigError(f"3W version must be 1 or 2, got {version}")
    classes = tuple(dict.fromkeys(events)) if events else ALL_CLASSES
    unknown = [c for c in classes if c not in ALL_CLASSES]
    if unknown:
        raise ConfigError(f"unknown event classes {unknown}: use 0-9 (0 = normal)")
    return classes


def _make_well(seed: int, number: int, start: datetime) -> _Well:
    rng = np.random.default_rng([seed, number, 0xBA5E])
    base = {tag: float(rng.uniform(low, high)) for tag, (low, high) in _BASE_RANGES.items()}
    # Pressure falls along the flow path.
    base["P-TPT"] = min(base["P-TPT"], 0.8 * base["P-PDG"])
    base["P-MON-CKP"] = min(base["P-MON-CKP"], 0.5 * base["P-TPT"])
    base["T-JUS-CKP"] = min(base["T-JUS-CKP"], base["T-TPT"] - 5.0)
    base["ABER-CKP"] = float(rng.uniform(30.0, 90.0))
    base["ABER-CKGL"] = float(rng.uniform(20.0, 70.0))
    base["P-JUS-BS"] = float(rng.uniform(0.5e6, 2.0e6))
    return _Well(
        well_id=f"WELL-{number:05d}",
        index=number,
        start=start + timedelta(seconds=int(rng.integers(0, 900))),
        base=base,
        drift_periods=(float(rng.uniform(2, 6)) * 3600, float(rng.uniform(8, 30)) * 3600),
        drift_phases=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
    )


def _instance(
    well: _Well,
    rng: np.random.Generator,
    event: int,
    offset: int,
    n: int,
    tags: Sequence[str],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Values per tag and labels of one instance of ``n`` rows."""
    t = np.arange(offset, offset + n, dtype=np.float64)  # seconds since the well's start
    (p1, p2), (f1, f2) = well.drift_periods, well.drift_phases
    drift = 0.006 * np.sin(2 * np.pi * t / p1 + f1) + 0.004 * np.sin(2 * np.pi * t / p2 + f2)

    labels = np.zeros(n, dtype=np.int64)
    curve = np.zeros(n)
    if event:
        onset = int(n * rng.uniform(*_ONSET))
        if event in NO_TRANSIENT:
            steady = onset
            curve[onset:] = np.clip((np.arange(n - onset) + 1) / 60.0, 0.0, 1.0)  # 1 min onset
        else:
            low, high = _TRANSIENT.get(event, _DEFAULT_TRANSIENT)
            steady = min(n, onset + max(1, int(n * rng.uniform(low, high))))
            ramp = np.linspace(0.0, 1.0, steady - onset + 1)[1:]
            curve[onset:steady] = ramp * ramp * (3 - 2 * ramp)  # smoothstep
            curve[steady:] = 1.0
            labels[onset:steady] = schema.TRANSIENT_OFFSET + event
        labels[steady:] = event
        shape = _shape(rng, event, n, onset, curve)
    base = well.base
    core: dict[str, np.ndarray] = {}
    for tag in schema.V1_TAGS:
        level = base[tag]
        if tag in _TEMPERATURES:
            value = level + 100.0 * drift + rng.normal(0.0, 0.02, n)
        else:
            value = level * (1.0 + drift + rng.normal(0.0, 2e-4, n))
        if event and tag in _EFFECTS[event]:
            change = _EFFECTS[event][tag] * shape
            value = value + change if tag in _TEMPERATURES else value * (1.0 + change)
        core[tag] = value
    if event == 2:  # no flow, no heat: the cooling follows Newton's law, not the ramp
        cool = 1.0 - np.exp(-np.maximum(np.arange(n) - onset, 0) / (0.3 * n))
        core["T-TPT"] = core["T-TPT"] - 25.0 * (cool - shape)
    values = core if len(tags) == len(schema.V1_TAGS) else _v2(core, base, rng, n, event, labels)
    return {tag: _round(tag, values[tag]) for tag in tags}, labels


def _shape(
    rng: np.random.Generator, event: int, n: int, onset: int, curve: np.ndarray
) -> np.ndarray:
    """How far the event has developed at each row (oscillating for classes 3 and 4)."""
    if event == 3:
        period = float(rng.uniform(600, 1800))
        phase = (np.arange(n) % period) / period
        # Slow build-up of liquid, fast blow-down: a sawtooth around zero.
        saw = np.where(phase < 0.8, phase / 0.8, (1.0 - phase) / 0.2) - 0.5
        return 2.0 * saw * curve
    if event == 4:
        k = np.arange(n, dtype=np.float64)
        periods = rng.uniform(120, 900, 3)
        phases = rng.uniform(0, 2 * np.pi, 3)
        waves = sum(np.sin(2 * np.pi * k / p + f) for p, f in zip(periods, phases, strict=True))
        kernel = np.exp(-np.arange(120) / 30.0)
        wobble = np.convolve(rng.normal(0.0, 1.0, n), kernel / kernel.sum(), mode="same") * 4.0
        return (waves / 3.0 + wobble) * curve
    return curve


def _v2(
    core: dict[str, np.ndarray],
    base: dict[str, float],
    rng: np.random.Generator,
    n: int,
    event: int,
    labels: np.ndarray,
) -> dict[str, np.ndarray]:
    """The 3W 2.x variables, derived from the 1.x ones along the flow path."""
    ones, zeros = np.ones(n), np.zeros(n)
    values = dict(core)
    values["P-JUS-CKP"] = core["P-MON-CKP"] * 0.6
    values["PT-P"] = core["P-MON-CKP"] * 1.02
    values["P-MON-SDV-P"] = values["P-JUS-CKP"] * 0.98
    values["T-MON-CKP"] = core["T-JUS-CKP"] + 2.0
    values["T-PDG"] = core["T-TPT"] + 15.0
    values["P-MON-CKGL"] = core["P-JUS-CKGL"] * 1.1
    values["P-ANULAR"] = core["P-JUS-CKGL"] * 0.95
    values["P-JUS-BS"] = base["P-JUS-BS"] * (1.0 + rng.normal(0.0, 1e-3, n))
    values["QBS"] = zeros
    values["ABER-CKP"] = base["ABER-CKP"] * ones
    values["ABER-CKGL"] = base["ABER-CKGL"] * ones
    for tag in schema.V2_TAGS:
        if tag.startswith("ESTADO-"):
            values[tag] = ones if tag in _V2_OPEN_VALVES else zeros
    if event == 2:  # the DHSV closed by itself: its state reads closed once it is shut
        values["ESTADO-DHSV"] = np.where(labels == 2, 0.0, 1.0)
    return values


def _round(tag: str, values: np.ndarray) -> np.ndarray:
    unit = schema.VARIABLES_BY_TAG[tag].unit
    decimals = {"Pa": 1, "degC": 4, "m3/s": 6, "%": 3}.get(unit, 0)
    return np.round(values, decimals)


def _write(
    path: Path,
    fmt: str,
    version: int,
    begin: datetime,
    tags: Sequence[str],
    values: dict[str, np.ndarray],
    labels: np.ndarray,
) -> None:
    n = len(labels)
    seconds = int(begin.timestamp()) + np.arange(n, dtype=np.int64)
    temporary = path.with_name(path.name + ".tmp")
    if fmt == "csv":
        stamps = pc.strftime(pa.array(seconds, pa.timestamp("s")), format=_STAMP_FORMAT)
        columns = {"timestamp": stamps, **{tag: values[tag] for tag in tags}, "class": labels}
        if version == 2:
            columns["state"] = np.zeros(n, dtype=np.int64)
        buffer = io.BytesIO()
        buffer.write((",".join(columns) + "\n").encode())
        pacsv.write_csv(pa.table(columns), buffer, write_options=_CSV_WRITE)
        temporary.write_bytes(buffer.getvalue())
    else:
        from petrostream.extras import require

        require("synth", "writing synthetic 3W Parquet files")
        import pandas as pd

        index = pd.DatetimeIndex(seconds.astype("datetime64[s]").astype("datetime64[ns]"))
        frame = pd.DataFrame({tag: values[tag] for tag in tags}, index=index.rename("timestamp"))
        frame["class"] = pd.array(labels, dtype="Int64")
        if version == 2:
            frame["state"] = pd.array(np.zeros(n, dtype=np.int64), dtype="Int64")
        # Brotli as 3W ships it; level 3 writes 4x faster than the default for ~5% more bytes.
        frame.to_parquet(temporary, engine="pyarrow", compression="brotli", compression_level=3)
    temporary.replace(path)
