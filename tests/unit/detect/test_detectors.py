"""Each online detector, through the per-record path `Detector.detect`."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from petrostream.detect.base import Alert, DetectionState, Detector, format_ts, parse_rules
from petrostream.detect.incident import Incident
from petrostream.testing.readings import BAR, T0, make_reading, steady, step


def run(detector: Detector, readings: list[dict]) -> list[Alert]:
    _, alerts = detector.detect(DetectionState(), readings)
    return alerts


def opens(alerts: list[Alert], rule: str | None = None) -> list[Alert]:
    return [a for a in alerts if a.status == "open" and (rule is None or a.rule == rule)]


THRESHOLD = """
[[rule]]
name = "p_pdg_high"
kind = "threshold"
expr = "p_pdg > 300 bar"
hysteresis = "5 bar"
clear = "10 s"
cooldown = "5 min"
severity = "critical"
"""


def series(*bars: float, start_s: int = 0) -> list[dict]:
    return [
        make_reading(ts=T0 + timedelta(seconds=start_s + i), p_pdg=b * BAR)
        for i, b in enumerate(bars)
    ]


def test_a_threshold_opens_once_with_units_in_the_message_and_closes_after_hysteresis() -> None:
    # given a pressure above 300 bar for a minute, then back to 290 bar
    detector = Detector(parse_rules(THRESHOLD))
    readings = series(*([290] * 10 + [312.4] * 60 + [290] * 30))
    # when
    alerts = run(detector, readings)
    # then one alert opened at the first reading above, closed 10 s after it went back
    assert [(a.status, a.ts - T0) for a in alerts] == [
        ("open", timedelta(seconds=10)),
        ("closed", timedelta(seconds=80)),
    ]
    first, last = alerts
    assert first.message == "P-PDG 312.4 bar > 300 bar"
    assert (first.rule, first.category, first.severity, first.sensor) == (
        "p_pdg_high",
        "process",
        "critical",
        "p_pdg",
    )
    assert first.value == pytest.approx(312.4 * BAR)
    assert last.alert_id == first.alert_id
    assert last.opened_at == first.ts
    assert last.message == "P-PDG back to 290 bar (<= 295 bar)"


def test_hysteresis_keeps_one_alert_while_the_value_hovers_at_the_line() -> None:
    detector = Detector(parse_rules(THRESHOLD))
    readings = series(*([301, 299, 302, 297, 300.5, 298] * 20))  # never below 295 bar
    alerts = run(detector, readings)
    assert [a.status for a in alerts] == ["open"]


def test_the_release_must_hold_for_clear_seconds() -> None:
    detector = Detector(parse_rules(THRESHOLD))
    # dips below 295 bar for 5 s only (clear = 10 s), then above again
    readings = series(*([310] * 5 + [290] * 5 + [310] * 5 + [290] * 15))
    alerts = run(detector, readings)
    assert [(a.status, (a.ts - T0).seconds) for a in alerts] == [("open", 0), ("closed", 25)]


def test_cooldown_suppresses_a_reopening_then_lets_it_through() -> None:
    detector = Detector(parse_rules(THRESHOLD))
    # episode 1 closes at 30 s -> cooldown until 330 s; it exceeds again at 100 s and at 400 s
    readings = series(*([310] * 10 + [290] * 90 + [310] * 20 + [290] * 280 + [310] * 5))
    alerts = run(detector, readings)
    assert [(a.status, (a.ts - T0).seconds) for a in alerts] == [
        ("open", 0),
        ("closed", 20),
        ("open", 400),
    ]
    assert alerts[0].alert_id != alerts[2].alert_id


def test_normal_noise_for_six_hours_raises_no_alert() -> None:
    readings = steady(6 * 3600, every_s=2, seed=7)
    assert run(Detector(), readings) == []


def test_a_pressure_jump_fires_once_and_closes() -> None:
    # given a steady well whose P-TPT steps up 12 bar at 30 min
    readings = step(3600, at_s=1800, sensor="p_tpt", by=12 * BAR, seed=1)
    # when
    alerts = run(Detector(), readings)
    # then exactly one pressure jump, at the step, that later closes
    jumps = [a for a in alerts if a.rule == "pressure_jump" and a.status != "update"]
    assert [a.status for a in jumps] == ["open", "closed"]
    assert jumps[0].ts == T0 + timedelta(seconds=1800)
    assert jumps[0].sensor == "p_tpt"
    assert jumps[0].message.startswith("P-TPT rose 12")
    assert all(a.ts >= T0 + timedelta(seconds=1800) for a in alerts)
    assert {a.rule for a in opens(alerts)} == {
        "pressure_jump", "baseline_departure", "tpt_pressure_swing"
    }  # fmt: skip


def test_a_slow_drift_departs_from_the_baseline_without_a_jump() -> None:
    # T-TPT falls 4 °C over 10 minutes after 30 min of steady operation: no 3 °C/min jump,
    # nor the 1.5 °C in 2 minutes of a fast cooling
    readings = step(3600, at_s=1800, sensor="t_tpt", by=-4.0, ramp_s=600, seed=2)
    alerts = run(Detector(), readings)
    assert sorted(a.rule for a in opens(alerts)) == ["baseline_departure", "tpt_temperature_swing"]
    alert = next(a for a in opens(alerts) if a.rule == "baseline_departure")
    assert alert.sensor == "t_tpt"
    assert timedelta(0) < alert.ts - (T0 + timedelta(seconds=1800)) < timedelta(minutes=6)
    assert "below its 10 min baseline" in alert.message
    assert alert.severity == "warning"


def test_the_baseline_stays_silent_during_warm_up() -> None:
    # a 3 bar step 60 s after start: the baseline (2 min warm-up) is not ready yet
    readings = step(600, at_s=60, sensor="p_pdg", by=3 * BAR, seed=3)
    assert opens(run(Detector(), readings), "baseline_departure") == []


def test_a_frozen_gauge_is_a_sensor_health_alert() -> None:
    # T-TPT repeats exactly the same value for 30 minutes, then moves again
    readings = steady(3600, seed=4)
    for r in readings[600:2400]:
        r["t_tpt"] = 80.0
    alerts = run(Detector(), readings)
    assert [(a.rule, a.status, (a.ts - T0).seconds) for a in alerts] == [
        ("frozen_sensor", "open", 600 + 1200),
        ("frozen_sensor", "closed", 2400),
    ]
    assert alerts[0].category == "sensor_health"
    assert alerts[0].message == "T-TPT frozen at 80 °C for 20 min"


def test_a_value_out_of_physical_range_is_a_fault_not_a_process_event() -> None:
    # P-PDG reads 2000 bar (beyond 1500 bar, a dead gauge) for 5 minutes
    readings = steady(3600, seed=5)
    for r in readings[1200:1500]:
        r["p_pdg"] = 2.0e8
    alerts = run(Detector(), readings)
    assert [(a.rule, a.status, (a.ts - T0).seconds) for a in alerts] == [
        ("out_of_range", "open", 1200),
        ("out_of_range", "closed", 1560),  # back in range at 1500 s, clear = 60 s
    ]
    assert alerts[0].category == "sensor_health"
    assert "outside its physical range" in alerts[0].message


def test_a_data_gap_opens_and_closes_when_readings_resume() -> None:
    first = steady(600, seed=6)
    later = steady(600, seed=6, start=T0 + timedelta(minutes=30))
    alerts = run(Detector(), first + later)
    assert [(a.rule, a.status) for a in alerts] == [("data_gap", "open"), ("data_gap", "closed")]
    opened, closed = alerts
    assert opened.opened_at == T0 + timedelta(seconds=599)
    assert closed.ts == T0 + timedelta(minutes=30)
    assert (opened.category, opened.sensor, opened.alert_id) == (
        "sensor_health",
        None,
        closed.alert_id,
    )
    assert "no reading for 20 min 1 s" in opened.message


def test_duplicate_and_late_readings_are_ignored() -> None:
    detector = Detector(parse_rules(THRESHOLD))
    readings = series(*([290] * 10 + [310] * 5))
    replayed = readings + readings[:12]  # a retried slice arriving again
    assert run(detector, replayed) == run(detector, readings)


def test_wells_are_independent() -> None:
    detector = Detector(parse_rules(THRESHOLD))
    a = series(*([310] * 5))
    b = [dict(r, well_id="WELL-00002", p_pdg=290 * BAR) for r in a]
    alerts = run(detector, [r for pair in zip(a, b, strict=True) for r in pair])
    assert [a.well_id for a in alerts] == ["WELL-00001"]


def test_alert_ids_are_deterministic_across_runs_and_retries() -> None:
    readings = step(3600, at_s=1800, sensor="p_pdg", by=-10 * BAR, seed=8)
    detector = Detector()
    once = run(detector, readings)
    again = run(Detector(), readings)
    assert once and [a.alert_id for a in once] == [a.alert_id for a in again]
    # a batch processed, then retried from the stored state, yields the same alerts
    state, _ = detector.detect(DetectionState(), readings[:1790])
    stored = state.to_bytes()
    _, first_try = detector.detect(DetectionState.from_bytes(stored), readings[1790:])
    _, retry = detector.detect(DetectionState.from_bytes(stored), readings[1790:])
    assert first_try == retry
    assert [a.alert_id for a in first_try] == [a.alert_id for a in once]


def test_state_round_trips_through_bytes_mid_stream() -> None:
    readings = step(7200, at_s=3000, sensor="p_tpt", by=8 * BAR, seed=9)
    for r in readings[5000:6500]:
        r["t_tpt"] = 81.0  # frozen
    detector = Detector()
    _, one_pass = detector.detect(DetectionState(), readings)
    state, collected = DetectionState(), []
    for i in range(0, len(readings), 997):
        state = DetectionState.from_bytes(state.to_bytes())
        state, alerts = detector.detect(state, readings[i : i + 997])
        collected += alerts
    assert collected == one_pass
    assert len(one_pass) >= 4


def test_state_bytes_are_versioned_json() -> None:
    state, _ = Detector().detect(DetectionState(), steady(60))
    data = state.to_bytes()
    assert data.startswith(b'{"v":2,')
    assert DetectionState.from_bytes(data) == state
    assert DetectionState.from_bytes(b"") == DetectionState()
    with pytest.raises(ValueError, match="not a detection state"):
        DetectionState.from_bytes(b'{"v":99}')


def test_a_version_1_state_is_read_and_goes_on_detecting() -> None:
    # given a state stored by version 1 (one pending value per interval, not its range)
    readings = step(1800, at_s=1200, sensor="p_tpt", by=8 * BAR, seed=4)
    state, _ = Detector().detect(DetectionState(), readings[:600])
    doc = json.loads(state.to_bytes())
    doc["v"] = 1
    for sensor in doc["wells"]["WELL-00001"]["s"].values():
        sensor["p"] = sensor["p"][1] if sensor["p"] else None
    old = DetectionState.from_bytes(json.dumps(doc).encode())
    # when detection goes on from it, then the event is still caught and the state is v2
    old, alerts = Detector().detect(old, readings[600:])
    assert any(a.status == "open" and a.sensor == "p_tpt" for a in alerts)
    assert old.to_bytes().startswith(b'{"v":2,')


def test_alerts_serialize_to_json_ready_dicts() -> None:
    alerts = run(Detector(parse_rules(THRESHOLD)), series(310))
    doc = alerts[0].to_dict()
    assert doc["ts"] == "2024-01-01 00:00:00.000"
    assert doc["opened_at"] == doc["ts"]
    assert set(doc) == set(Alert.__dataclass_fields__)


def test_importing_detection_pulls_no_numpy_pyarrow_or_duckdb() -> None:
    code = (
        "import sys, petrostream.detect.base as b; b.Detector(); "
        "print(sorted(m for m in ('numpy', 'pyarrow', 'duckdb', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


SWING = """
[engine]
sample_interval = "20 s"
[[rule]]
name = "swing"
kind = "swing"
sensors = ["p_tpt"]
delta = "2 bar"
window = "8 min"
clear = "1 min"
cooldown = "15 min"
"""


def test_a_swing_ignores_noise_and_catches_an_oscillation_from_a_cold_start() -> None:
    # given a well seen from its first reading: 20 min of +-1.5 bar reading noise, then a
    # 6 bar peak-to-peak oscillation with a 30 min period (a slug cycle)
    rng = random.Random(5)
    readings = []
    for i in range(3600):
        swing = 0.0 if i < 1200 else 3.0 * math.sin(2 * math.pi * (i - 1200) / 1800)
        value = (150 + swing + rng.uniform(-1.5, 1.5)) * BAR
        readings.append({"well_id": "WELL-00001", "ts": format_ts(T0 + timedelta(seconds=i)),
                         "p_tpt": value})  # fmt: skip
    # when
    alerts = run(Detector(parse_rules(SWING)), readings)
    # then the noise never opens it; the oscillation does, within one window of its start
    first = opens(alerts)[0]
    assert T0 + timedelta(minutes=20) < first.ts < T0 + timedelta(minutes=30)
    assert first.message.startswith("P-TPT swung ")
    assert "within 8 min" in first.message


def test_an_incident_carries_one_diagnosis_and_notifies_its_revisions_as_updates() -> None:
    # given a DHSV-like closure: P-TPT spikes, then collapses, T-TPT cools, P-PDG builds up
    readings = steady(3600, seed=3)
    for i, r in enumerate(readings[1800:]):
        fall = min(1.0, i / 600)
        r["p_tpt"] += 8 * BAR if i < 60 else -40 * BAR * fall
        r["t_tpt"] -= 30.0 * fall
        r["p_pdg"] += 5 * BAR * fall
    # when
    alerts = run(Detector(), readings)
    process = [a for a in alerts if a.category == "process"]
    # then every process alert belongs to one incident named after its first alert
    first = process[0]
    assert first.status == "open" and first.revision == 0
    assert {a.incident_id for a in process} == {first.alert_id}
    assert all(a.diagnosis and 0 <= a.confidence <= 1 for a in process)
    # and revisions come as updates of that alert, numbered, ending on the DHSV closure
    updates = [a for a in process if a.status == "update"]
    assert updates and {a.alert_id for a in updates} == {first.alert_id}
    assert [a.revision for a in updates] == list(range(1, len(updates) + 1))
    assert updates[-1].diagnosis == "SPURIOUS_CLOSURE_OF_DHSV"
    assert updates[-1].message.startswith("diagnosis SPURIOUS_CLOSURE_OF_DHSV (")
    # and one episode is still one open and one closed alert
    for alert_id in {a.alert_id for a in process}:
        statuses = [a.status for a in process if a.alert_id == alert_id and a.status != "update"]
        assert statuses in (["open"], ["open", "closed"])


def test_an_open_incident_dumps_its_diagnosis_as_asdict_did_and_reads_back() -> None:
    # given a well mid-incident (the DHSV-like closure above, cut while it is open)
    readings = steady(2400, seed=3)
    for i, r in enumerate(readings[1800:]):
        r["p_tpt"] -= 40 * BAR * min(1.0, i / 600)
        r["t_tpt"] -= 30.0 * min(1.0, i / 600)
    state, _ = Detector().detect(DetectionState(), readings)
    incident = next(ws.incident for ws in state.wells.values() if ws.incident is not None)
    assert incident.diagnosis is not None
    # when
    raw = incident.dump()
    # then the diagnosis has the keys, order and values dataclasses.asdict gave (same bytes)
    assert list(raw["dx"].items()) == list(dataclasses.asdict(incident.diagnosis).items())
    # and what it wrote reads back to the same incident
    again = Incident.load(json.loads(json.dumps(raw)))
    assert again.diagnosis == incident.diagnosis
    assert json.dumps(again.dump()) == json.dumps(raw)


ONE_WAY = """
[engine]
sample_interval = "10 s"
[[rule]]
name = "cooling"
kind = "jump"
sensors = ["t_tpt"]
direction = "fall"
delta = "1.5 degC"
window = "2 min"
clear = "30 s"
"""


@pytest.mark.parametrize(("by", "fires"), [(-3.0, True), (3.0, False)])
def test_a_one_way_jump_sees_only_its_direction(by: float, fires: bool) -> None:
    readings = step(1800, at_s=900, sensor="t_tpt", by=by, ramp_s=60, seed=3, t_tpt=70.0)
    alerts = opens(run(Detector(parse_rules(ONE_WAY)), readings), "cooling")
    assert bool(alerts) is fires
    if fires:
        assert alerts[0].message.startswith("T-TPT fell 1.5")


TREND = """
[engine]
sample_interval = "20 s"
[[rule]]
name = "heavier"
kind = "trend"
sensors = ["p_pdg", "p_tpt"]
directions = ["rise", "fall"]
window = "30 min"
"""


@pytest.mark.parametrize(
    ("pdg", "tpt", "fires"),
    [
        (2.0, -4.0, True),  # the column gets heavier: P-PDG up, P-TPT down
        (2.0, 4.0, False),  # both up: a choke closing, not a heavier column
        (0.0, -4.0, False),  # P-TPT alone
        (0.0, 0.0, False),  # noise only
    ],
)
def test_a_trend_needs_every_sensor_going_its_way(pdg: float, tpt: float, fires: bool) -> None:
    readings = steady(
        3 * 3600, every_s=5, seed=4, noise=0.005 * BAR, p_pdg=250 * BAR, p_tpt=100 * BAR
    )  # quiet gauges (real P-PDG noise); a drift slower than the noise is no trend
    for i, r in enumerate(readings[len(readings) // 3 :]):  # ramps over the last two hours
        r["p_pdg"] += pdg * BAR * i / (len(readings) * 2 / 3)
        r["p_tpt"] += tpt * BAR * i / (len(readings) * 2 / 3)
    alerts = opens(run(Detector(parse_rules(TREND)), readings), "heavier")
    assert bool(alerts) is fires
    if fires:
        assert alerts[0].ts > T0 + timedelta(hours=1)
        assert alerts[0].message.startswith("P-PDG rising and P-TPT falling steadily over 30 min")


def test_one_coarse_step_is_not_a_trend() -> None:
    # a quantised gauge: P-PDG ticks up once, P-TPT ticks down once, nothing else moves
    readings = [
        make_reading(
            ts=T0 + timedelta(seconds=i * 5),
            p_pdg=(250 + (0.1 if i > 400 else 0)) * BAR,
            p_tpt=(100 - (0.1 if i > 420 else 0)) * BAR,
        )
        for i in range(1000)
    ]
    assert not opens(run(Detector(parse_rules(TREND)), readings), "heavier")


def test_a_state_without_trend_steps_loads_and_the_trend_warms_up_again() -> None:
    # a state stored before trends kept their steps ("st"): it loads, and the trend
    # speaks again once it holds a full window of steps
    detector = Detector(parse_rules(TREND))
    readings = steady(
        4 * 3600, every_s=5, seed=5, noise=0.005 * BAR, p_pdg=250 * BAR, p_tpt=100 * BAR
    )
    half = len(readings) // 2
    for i, r in enumerate(readings[half:]):  # the column gets heavier in the second half
        r["p_pdg"] += 4 * BAR * i / half
        r["p_tpt"] -= 6 * BAR * i / half
    state, _ = detector.detect(DetectionState(), readings[:half])
    stored = json.loads(state.to_bytes())
    sensors = stored["wells"]["WELL-00001"]["s"]
    assert all("st" in s for s in sensors.values())
    for s in sensors.values():
        del s["st"]
    old = DetectionState.from_bytes(json.dumps(stored).encode())
    _, alerts = detector.detect(old, readings[half:])
    t_half = datetime.fromisoformat(readings[half]["ts"]).replace(tzinfo=UTC)
    # 90 steps of 20 s after the reload (the first one may close the interval before it)
    assert [a.ts - t_half >= timedelta(minutes=29) for a in opens(alerts, "heavier")] == [True]


def test_readings_with_other_keys_none_values_or_another_order_detect_alike() -> None:
    # `Detector` remembers the plan's sensors per key set of a reading: a sensor that is
    # None, keys in another order, or a key set it has not seen must not change a thing.
    import random as _random

    from petrostream.detect.base import DetectionState, Detector
    from petrostream.testing.readings import BAR, step

    readings = step(3600, at_s=1800, sensor="p_pdg", by=9 * BAR, seed=11)
    rng = _random.Random(3)
    varied, dropped = [], []
    for r in readings:
        keys = list(r)
        rng.shuffle(keys)
        v = {k: r[k] for k in keys}
        d = dict(r)
        if rng.random() < 0.3:
            v["t_tpt"] = None  # None: skipped like an absent sensor
            d.pop("t_tpt", None)
        if rng.random() < 0.1:
            v["extra_field"] = 1  # not a sensor
        varied.append(v)
        dropped.append(d)
    _, expected = Detector().detect(DetectionState(), dropped)
    assert expected
    _, got = Detector().detect(DetectionState(), varied)
    assert got == expected
