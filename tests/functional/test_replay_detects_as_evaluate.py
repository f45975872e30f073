"""Replayed history behaves like live data: replay --speed 0, run --drain, alerts as evaluate.

The done-when of issue 12.1 on named files of the developers' set, through the
command line a user types: same instances detected, within a reading or two of
the same delays, and each instance's ``ts`` span equal to its ``source_ts`` span.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers_3w import cli_ok, named_3w_files, query_json

from petrostream.detect.base import PROCESS
from petrostream.detect.evaluation import evaluate, load_instances
from petrostream.detect.rules import load_rules
from petrostream.producer import ALIGN
from petrostream.record import parse_ts
from petrostream.settings import Settings

# One instance per well (a detector keeps one state per well, evaluate one per instance),
# several event classes, real, simulated and hand-drawn.
PICKS = (
    "4/WELL-00001_20170316120203.csv",  # flow instability, CRLF, an empty column
    "2/WELL-00010_20171218200131.csv",  # spurious DHSV closure, CRLF, unlabelled rows
    "2/WELL-00011_20140530100015.csv",  # spurious DHSV closure, LF
    "5/WELL-00016_20180426142005.csv",  # rapid productivity loss
    "3/SIMULATED_00045.csv",  # severe slugging, simulated
    "1/DRAWN_00005.csv",  # hand-drawn, not detected by evaluate
)
DELAY_TOLERANCE_MS = 2_000  # "within a reading or two" at 1 Hz


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def picks(shared_3w_dir: Path) -> list[Path]:
    return named_3w_files(shared_3w_dir, PICKS)


def test_replayed_history_alerts_on_the_instances_evaluate_detects(tmp_path: Path, picks):
    # given a fresh home and what evaluate finds in the files (ts = source_ts)
    home = tmp_path / "home"
    settings = Settings(home=home)
    expected, _, _ = evaluate(load_instances(picks), load_rules(settings.rules_file))
    scored = {r.instance_id: r for r in expected.instances}

    # when the files are replayed as fast as possible and the consumers drain the stream
    before = datetime.now(UTC)
    cli_ok(home, "replay", "--speed", "0", "--quiet", *map(str, picks))
    cli_ok(home, "run", "--drain")
    cli_ok(home, "crawl")
    alerts = json.loads(cli_ok(home, "alerts", "list", "--format", "json", "--limit", "100000"))
    spans = query_json(
        home,
        "SELECT instance_id, min(ts) AS ts0, max(ts) AS ts1, "
        "min(source_ts) AS s0, max(source_ts) AS s1 FROM sensors GROUP BY instance_id",
    )

    # then every instance keeps its span, lies in the past, ...
    shift = {}
    for row in spans:
        ts0, ts1 = parse_ts(row["ts0"]), parse_ts(row["ts1"])
        s0, s1 = parse_ts(row["s0"]), parse_ts(row["s1"])
        assert ts1 - ts0 == s1 - s0, row
        assert ts1 <= datetime.now(UTC)
        # at speed 0 every well's history ends when the replay starts (to the minute)
        assert ts1 >= before - ALIGN
        assert (ts0 - s0) % ALIGN == timedelta(0)
        shift[row["instance_id"]] = _ms(ts0) - _ms(s0)
    assert set(shift) == {p.stem for p in picks}

    # ... and the replay detects exactly what evaluate detects, at the same delays
    detected_replay: dict[str, int] = {}
    for alert in sorted(alerts, key=lambda a: a["ts"]):
        iid = alert["instance_id"]
        if alert["status"] != "open" or alert["category"] != PROCESS or iid in detected_replay:
            continue
        result = scored[iid]
        if result.onset_ms is None:
            continue
        at = _ms(parse_ts(alert["ts"])) - shift[iid]
        normal_end = _first_source_ms(spans, iid) + int(result.normal_s * 1000)
        if result.normal_s == 0 or at > normal_end:
            detected_replay[iid] = at - result.onset_ms
    detected_evaluate = {
        r.instance_id: int(r.delay_s * 1000) for r in expected.instances if r.detected
    }
    assert detected_evaluate, "the picks should hold detectable events"
    assert set(detected_replay) == set(detected_evaluate)
    for iid, delay in detected_evaluate.items():
        assert abs(detected_replay[iid] - delay) <= DELAY_TOLERANCE_MS, iid


def _first_source_ms(spans: list[dict], instance_id: str) -> int:
    row = next(r for r in spans if r["instance_id"] == instance_id)
    return _ms(parse_ts(row["s0"]))
