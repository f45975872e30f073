"""The columnar path raises exactly the alerts of the per-record path."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest

from petrostream.detect.base import DetectionState, Detector, parse_rules
from petrostream.detect.vectorized import VectorizedDetector, columns_of, detect_table
from petrostream.testing.readings import BAR, T0, step

SENSORS = ["p_pdg", "p_tpt", "t_tpt"]

RULES = parse_rules(
    """
[engine]
sample_interval = "5 s"
[[rule]]
name = "gap"
kind = "data_gap"
max_gap = "2 min"
[[rule]]
name = "hot"
kind = "threshold"
expr = "t_tpt >= 85 degC"
hysteresis = "1 degC"
clear = "20 s"
cooldown = "3 min"
[[rule]]
name = "range"
kind = "out_of_range"
clear = "10 s"
[[rule]]
name = "frozen"
kind = "frozen"
units = ["Pa", "degC"]
duration = "3 min"
[[rule]]
name = "jump"
kind = "jump"
units = ["Pa", "degC"]
delta = ["4 bar", "2 degC"]
window = "30 s"
clear = "15 s"
cooldown = "2 min"
[[rule]]
name = "swing"
kind = "swing"
units = ["Pa", "degC"]
delta = ["3 bar", "1.5 degC"]
window = "60 s"
clear = "15 s"
cooldown = "1 min"
[[rule]]
name = "base"
kind = "baseline"
units = ["Pa", "degC"]
window = "5 min"
warmup = "1 min"
z_open = 4
z_close = 2
min_scale = ["0.2 bar", "0.1 degC"]
clear = "30 s"
cooldown = "4 min"
[[rule]]
name = "cool"
kind = "jump"
sensors = ["t_tpt"]
direction = "fall"
delta = "1.5 degC"
window = "60 s"
clear = "15 s"
[[rule]]
name = "heavier"
kind = "trend"
sensors = ["p_pdg", "p_tpt"]
directions = ["rise", "fall"]
window = "2 min"
steadiness = 0.6
clear = "20 s"
cooldown = "3 min"
"""
)


def messy_stream(seed: int) -> list[dict]:
    """Two wells interleaved: steps, ramps, gaps, duplicates, missing values, faults, a freeze."""
    rng = random.Random(seed)
    wells = []
    for w, well in enumerate(("WELL-00001", "WELL-00002")):
        readings = step(
            5400, at_s=rng.uniform(600, 2500), sensor=rng.choice(["p_pdg", "p_tpt"]),
            by=rng.choice([-8, 6]) * BAR, ramp_s=rng.choice([0, 120]), well_id=well,
            seed=seed * 10 + w, instance_id=f"{well}_x", p_pdg=250 * BAR, p_tpt=120 * BAR,
            t_tpt=84.5,
        )  # fmt: skip
        at, by, ramp = rng.randrange(2600, 5000), rng.choice([-3.0, 2.5]), rng.choice([1, 90])
        for i, r in enumerate(readings[at:]):
            r["t_tpt"] += by * min(1.0, (i + 1) / ramp)
        drift = rng.randrange(0, 4000)  # P-PDG creeps up while P-TPT creeps down (a trend)
        for i, r in enumerate(readings[drift : drift + rng.randrange(800, 1500)]):
            for column, rate in (("p_pdg", 0.01 * BAR), ("p_tpt", -0.015 * BAR)):
                if column in r and r[column] > 0:
                    r[column] += rate * i
        gap = rng.randrange(1000, 4000)
        del readings[gap : gap + rng.randrange(150, 400)]  # a data gap
        for r in rng.sample(readings, 300):
            r.pop(rng.choice(SENSORS), None)  # missing values
        for r in rng.sample(readings, 20):
            r["p_tpt"] = -5.0e5  # out of physical range
        start = rng.randrange(0, len(readings) - 400)
        for r in readings[start : start + 300]:
            r["t_tpt"] = 84.0  # frozen
        readings[100:100] = readings[90:95]  # duplicates / late
        wells.append(readings)
    merged = []
    a, b = wells
    while a or b:
        source = a if (a and (not b or rng.random() < 0.5)) else b
        merged.extend(source[:7])
        del source[:7]
    return merged


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_one_pass_gives_the_same_alerts_and_state(seed: int) -> None:
    readings = messy_stream(seed)
    state_a, per_record = Detector(RULES).detect(DetectionState(), readings)
    state_b, columnar = VectorizedDetector(RULES).detect_table(
        DetectionState(), columns_of(readings, SENSORS)
    )
    assert len({a.rule for a in per_record}) >= 5  # the stream exercises most detectors
    assert any(a.rule == "heavier" for a in per_record)
    assert columnar == per_record
    assert state_b.to_bytes() == state_a.to_bytes()


@pytest.mark.parametrize("seed", [5, 6])
def test_batches_mixing_both_paths_through_stored_state(seed: int) -> None:
    readings = messy_stream(seed)
    _, one_pass = Detector(RULES).detect(DetectionState(), readings)
    rng = random.Random(seed)
    state, collected, i = DetectionState(), [], 0
    per_record, columnar = Detector(RULES), VectorizedDetector(RULES)
    while i < len(readings):
        size = rng.randrange(1, 900)
        batch = readings[i : i + size]
        state = DetectionState.from_bytes(state.to_bytes())
        if rng.random() < 0.5:
            state, alerts = per_record.detect(state, batch)
        else:
            state, alerts = columnar.detect_table(state, columns_of(batch, SENSORS))
        collected += alerts
        i += size
    assert collected == one_pass


def test_the_default_rules_agree_on_a_step() -> None:
    readings = step(3600, at_s=1800, sensor="p_pdg", by=9 * BAR, seed=11)
    _, expected = Detector().detect(DetectionState(), readings)
    assert expected
    _, got = detect_table(DetectionState(), columns_of(readings, SENSORS))
    assert got == expected


def test_columns_take_epoch_millis_datetime64_and_a_scalar_well() -> None:
    readings = step(1800, at_s=900, sensor="p_tpt", by=10 * BAR, seed=12)
    millis = np.array(
        [int((T0 + timedelta(seconds=i)).timestamp() * 1000) for i in range(len(readings))]
    )
    base = {c: np.array([r[c] for r in readings]) for c in SENSORS}
    _, a = detect_table(DetectionState(), {"well_id": "WELL-00001", "ts": millis, **base})
    _, b = detect_table(
        DetectionState(),
        {"well_id": "WELL-00001", "ts": millis.astype("datetime64[ms]"), **base},
    )
    _, c = Detector().detect(DetectionState(), readings)
    assert a == b == c
    assert a


@pytest.mark.parametrize(("sensor", "by"), [("t_tpt", -30.0), ("p_pdg", 30 * BAR)])
def test_an_incident_of_over_an_hour_is_diagnosed_at_the_same_readings(
    sensor: str, by: float
) -> None:
    # The incident lives through all three phases of `incident.follow`: diagnosed at every
    # interval for 10 minutes, then once a minute, then not past the hour. The columnar
    # path skips the interval starts that are not due; the incident's state (its last
    # diagnosis time and summed scores) must still match after every batch.
    readings = step(5 * 3600, at_s=1800, sensor=sensor, by=by, ramp_s=3600, seed=3)
    per_record, columnar = Detector(), VectorizedDetector()
    state_a, state_b = DetectionState(), DetectionState()
    sensors = ["p_pdg", "p_tpt", "t_tpt", "p_mon_ckp", "t_jus_ckp", "p_jus_ckgl"]
    sensors = [s for s in sensors if s in readings[0]]
    incident_seen, alerts_a, alerts_b = 0, [], []
    for i in range(0, len(readings), 997):
        batch = readings[i : i + 997]
        state_a, got_a = per_record.detect(state_a, batch)
        state_b, got_b = columnar.detect_table(state_b, columns_of(batch, sensors))
        alerts_a += got_a
        alerts_b += got_b
        assert state_b.to_bytes() == state_a.to_bytes()
        incident_seen += any(ws.incident is not None for ws in state_a.wells.values())
    assert incident_seen >= 3  # open across several batches
    opened = [a for a in alerts_a if a.incident_id and a.status == "open"]
    closed = [a for a in alerts_a if a.incident_id and a.status == "closed"]
    assert closed[-1].ts - opened[0].ts > timedelta(hours=1)
    assert alerts_b == alerts_a


@pytest.mark.parametrize("n", [1, 2, 3, 24, 30, 31])
def test_windows_and_medians_are_numpys(n: int) -> None:
    from petrostream.detect.vectorized import _middle, _windows

    rng = np.random.default_rng(n)
    samples = np.round(rng.normal(0.0, 3.0, 200), 1)  # rounded: ties, as gauges give
    every = np.arange(n, len(samples) + 1)
    some = every[rng.random(len(every)) < 0.5]  # not consecutive: a copy, not a view
    for ends in (every, some, every[:1]):
        expected = np.lib.stride_tricks.sliding_window_view(samples, n)[ends - n]
        windows = _windows(samples, ends, n)
        assert np.array_equal(windows, expected)
        assert np.array_equal(_middle(windows.copy()), np.median(expected, axis=1))
