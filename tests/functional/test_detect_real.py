"""Detection on the real 3W event instances, and `petrostream evaluate` end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from petrostream.cli import main
from petrostream.dataset import synthesize
from petrostream.detect.base import DetectionState, Detector, format_ts, from_millis
from petrostream.detect.evaluation import load_instances
from petrostream.detect.vectorized import VectorizedDetector
from petrostream.schema import event_type
from petrostream.settings import Settings


def records_of(instance) -> list[dict]:
    """The instance as decoded stream records, ts = source_ts (as the replay would carry)."""
    readings = []
    for i, ts in enumerate(instance.ts.tolist()):
        reading = {"well_id": instance.well_id, "instance_id": instance.instance_id}
        reading["ts"] = format_ts(from_millis(ts))
        for column, values in instance.sensors.items():
            if not np.isnan(values[i]):
                reading[column] = float(values[i])
        readings.append(reading)
    return readings


@pytest.fixture(scope="module")
def real_instances(bundled_3w_dir: Path) -> list:
    return list(load_instances([bundled_3w_dir]))


def onset_of(instance) -> int:
    """The first transient label's ts; without one, the first event label's (docs/detection.md)."""
    labels = instance.labels
    transient = np.flatnonzero(labels > 100)
    event = transient if transient.size else np.flatnonzero(labels > 0)
    return int(instance.ts[event[0]])


SWING_WARM_UP_S = 8 * 60
"""A swing needs 8 minutes of a well before it speaks (docs/detection.md)."""


def delay_limit_s(event_class: int) -> float:
    """How late a detection may come: 5 minutes after the onset, plus the swings' warm-up
    for classes 3 and 4, which 3W labels from a file's first reading (scored from there)."""
    return 300.0 + (SWING_WARM_UP_S if event_class in (3, 4) else 0.0)


def test_every_real_event_is_detected_early_and_the_normal_stretch_stays_quiet(
    real_instances: list,
) -> None:
    assert {i.class_folder for i in real_instances} >= {2, 5}
    for instance in real_instances:
        # given the instance replayed as stream records through the handler's detector
        _, alerts = Detector().detect(DetectionState(), records_of(instance))
        onset = onset_of(instance)
        opened = [a for a in alerts if a.status == "open" and a.category == "process"]
        before = [a for a in opened if a.ts < from_millis(onset)]
        after = [a for a in opened if a.ts >= from_millis(onset)]
        # then no process alert before the onset, and one soon after it
        assert before == [], f"{instance.instance_id}: false alert {before[0].message}"
        assert after, f"{instance.instance_id}: event not detected"
        delay = (after[0].ts - from_millis(onset)).total_seconds()
        limit = delay_limit_s(instance.class_folder)
        assert 0 <= delay <= limit, f"{instance.instance_id}: detected after {delay} s"
        assert after[0].well_id == instance.well_id
        assert after[0].instance_id == instance.instance_id
        # and the columnar path raises the very same alerts
        columns = {"well_id": instance.well_id, "instance_id": instance.instance_id,
                   "ts": instance.ts, **instance.sensors}  # fmt: skip
        _, columnar = VectorizedDetector().detect_table(DetectionState(), columns)
        assert columnar == alerts


def test_evaluate_json_reports_detector_and_baseline(bundled_3w_dir: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(bundled_3w_dir), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"detector", "baseline"}
    class_keys = {"event_class", "event_type", "detected", "total", "median_delay_s",
                  "p90_delay_s", "false_alerts_per_24h"}  # fmt: skip
    instance_keys = {"instance_id", "event_class", "detected", "delay_s", "false_alerts"}
    for side in doc.values():
        assert side["classes"] and side["instances"]
        assert all(class_keys <= set(c) for c in side["classes"])
        assert all(instance_keys <= set(i) for i in side["instances"])
    ours = {c["event_class"]: c for c in doc["detector"]["classes"]}
    bundled = {int(f.parent.name) for f in bundled_3w_dir.rglob("*.csv")}
    assert {2, 5} <= bundled <= set(ours)
    for event_class in bundled:
        row = ours[event_class]
        assert row["event_type"] == event_type(event_class)
        assert row["detected"] == row["total"] >= 1
        assert row["median_delay_s"] <= delay_limit_s(event_class)
        # classes 3 and 4 have no normal stretch to raise a false alert in: null
        assert row["false_alerts_per_24h"] == (None if event_class in (3, 4) else 0)
    # the seed rule (p_pdg > 300 bar) fires in WELL-00011's normal stretch (380 bar at the PDG)
    seed = {i["instance_id"]: i for i in doc["baseline"]["instances"]}
    assert seed["WELL-00011_20140530100015"]["false_alerts"] == 1
    assert seed["WELL-00011_20140530100015"]["detected"] is False


@pytest.mark.slow
def test_evaluate_scores_every_instance_of_the_shared_set(shared_3w_dir: Path) -> None:
    # given whatever the developers' 3W set holds, instances counted per class folder
    folders = [p.parent.name for p in shared_3w_dir.rglob("*.csv")]
    want = {int(name): folders.count(name) for name in set(folders)}
    # when evaluated
    result = CliRunner().invoke(main, ["evaluate", str(shared_3w_dir), "--format", "json"])
    # then every instance is scored once, under its class, by both detectors
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    for side in doc.values():
        got = {
            c["event_class"]: c["total"] for c in side["classes"] if c["event_class"] is not None
        }
        assert got == want
        assert len(side["instances"]) == len(folders)


def test_evaluate_table_has_a_baseline_row_per_class(bundled_3w_dir: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(bundled_3w_dir)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    dhsv = len(list((bundled_3w_dir / "2").glob("*.csv")))
    assert dhsv >= 1
    assert any(line.startswith("2 ") and "rules" in line and f"{dhsv}/{dhsv}" in line
               for line in lines)  # fmt: skip
    assert any(line.startswith("2 ") and "seed baseline" in line for line in lines)


def test_synthetic_normal_operation_raises_no_process_alert(tmp_path: Path) -> None:
    synthesize(tmp_path / "3w", wells=2, hours=6, seed=3, events=[0])
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "3w"), "--format", "json"])
    assert result.exit_code == 0, result.output
    (normal, _all) = json.loads(result.stdout)["detector"]["classes"]
    assert (normal["event_class"], normal["total"]) == (0, 12)
    assert normal["false_alerts_per_24h"] == 0
    assert normal["detected"] is None


def test_evaluate_reports_a_bad_rules_file_in_one_line(
    bundled_3w_dir: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "x"\nkind = "threshold"\nexpr = "p_pdg > 3 bars"\n')
    result = CliRunner().invoke(main, ["evaluate", str(bundled_3w_dir), "--rules", str(rules)])
    assert result.exit_code == 2
    assert f"{rules}:1: rule 'x': unknown unit 'bars'" in result.stderr
    assert "Traceback" not in result.output


def test_evaluate_cv_by_well_reports_diagnosis_folds_and_unscored_rows(
    bundled_3w_dir: Path,
) -> None:
    # when the bundled sample is evaluated with cross-validation by well
    result = CliRunner().invoke(
        main, ["evaluate", str(bundled_3w_dir), "--cv", "well", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)["detector"]
    # then each instance says what it was diagnosed as, and whether that is its event
    instances = doc["instances"]
    for item in instances:
        assert {"diagnosis", "diagnosis_correct", "unlabelled_rows", "rejected_rows"} <= set(item)
        if item["detected"]:
            assert item["diagnosis"]
            named = item["diagnosis"] == event_type(item["event_class"])
            assert item["diagnosis_correct"] == named
    # and each class counts its correct diagnoses; folds are the wells
    for row in doc["classes"]:
        assert "diagnosed" in row
    assert doc["cv"] == "well"
    assert {f["well_id"] for f in doc["folds"]} == {i["well_id"] for i in instances}
    # and the unlabelled rows 3W leaves around a transient are counted, not scored
    assert sum(i["unlabelled_rows"] for i in instances) == doc["classes"][-1]["unlabelled_rows"] > 0


def test_evaluate_table_shows_the_confusion_matrix(bundled_3w_dir: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(bundled_3w_dir), "--cv", "well"])
    assert result.exit_code == 0, result.output
    assert "diagnosis of the detected instances (rows: true class):" in result.stdout
    assert "rows unlabelled (evaluated, never normal):" in result.stdout


def test_evaluate_scores_another_rules_file_beside_the_bundled_rules(
    bundled_3w_dir: Path, tmp_path: Path
) -> None:
    # given a rules file with only the seed's threshold, renamed
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\nname = "mine"\nkind = "threshold"\nexpr = "p_pdg > 300 bar"\n')
    # when compared
    args = ["evaluate", str(bundled_3w_dir), "--compare", str(rules)]
    table = CliRunner().invoke(main, args)
    doc = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout)
    # then it gets its own rows and JSON side, scored like the seed rule it copies
    assert table.exit_code == 0, table.output
    assert any(" mine.toml " in line for line in table.stdout.splitlines())
    (other,) = doc["compare"]
    assert other["rules"] == str(rules)
    assert [i["false_alerts"] for i in other["instances"]] == [
        i["false_alerts"] for i in doc["baseline"]["instances"]
    ]


def test_evaluate_counts_the_rows_the_reader_rejected(
    bundled_3w_files: list[Path], tmp_path
) -> None:
    # given a real instance with one row broken
    source = next(f for f in bundled_3w_files if f.parent.name == "2")
    lines = source.read_bytes().splitlines(keepends=True)
    lines[100] = b"not,a,row\n"
    target = tmp_path / "2" / source.name
    target.parent.mkdir()
    target.write_bytes(b"".join(lines))
    # when evaluated
    result = CliRunner().invoke(main, ["evaluate", str(target), "--format", "json"])
    # then the report says one row was not evaluated
    assert result.exit_code == 0, result.output
    (instance,) = json.loads(result.stdout)["detector"]["instances"]
    assert instance["rejected_rows"] == 1
    assert (
        "rows rejected by the reader (not evaluated): 1"
        in CliRunner().invoke(main, ["evaluate", str(target)]).stdout
    )


def test_the_diagnosis_travels_from_the_handler_to_the_store_and_the_lake(
    settings: Settings, bundled_3w_files: list[Path]
) -> None:
    import pyarrow.parquet as pq

    from petrostream.alerts.store import AlertStore
    from petrostream.dataset import discover
    from petrostream.producer import replay
    from petrostream.runtime.detector import ALERTS_DB, run_detector
    from petrostream.stream.local import LocalStream
    from petrostream.testing.clock import FakeClock
    from petrostream.testing.notifier import RecordingNotifier

    # given the bundled real DHSV closure replayed into the local stream
    dhsv = [f for f in bundled_3w_files if f.parent.name == "2"]
    stream = LocalStream(settings.stream_path, shard_count=settings.stream_shards)
    replay(discover(dhsv), stream, speed=1.0, clock=FakeClock(datetime(2024, 6, 1, tzinfo=UTC)))
    stream.close()
    # when the detector drains it through the Lambda handler
    notifier = RecordingNotifier()
    run_detector(settings, drain=True, notifiers=[notifier])
    # then the notifier got every process alert with the incident's diagnosis
    process = [a for a in notifier.alerts if a.to_dict()["category"] == "process"]
    assert process and all(a.diagnosis and a.to_dict()["incident_id"] for a in process)
    assert process[-1].diagnosis == "SPURIOUS_CLOSURE_OF_DHSV"
    # and the alert store and the lake's alerts table keep it, updates included
    store = AlertStore(settings.home / ALERTS_DB)
    stored = store.list_alerts(limit=1000)
    store.close()
    assert {a.diagnosis for a in stored if a.rule != "data_gap"} >= {"SPURIOUS_CLOSURE_OF_DHSV"}
    files = list((settings.home / "lake" / "alerts").rglob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    assert len(rows) == len(notifier.alerts)
    updates = [r for r in rows if r["status"] == "update"]
    assert all(r["revision"] >= 1 and r["diagnosis"] for r in updates)
    assert {r["diagnosis"] for r in rows if r["category"] == "process"} >= {
        "SPURIOUS_CLOSURE_OF_DHSV"
    }
