"""Done-when: a lake of real 3W readings, crawled then queried with the seed's question."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from petrostream.cli import main
from petrostream.schema import event_type
from petrostream.testing.lakefiles import read_3w_csv, write_by_partition

WHOLE_SAMPLE = ("--param", "hours=2")
"""The seed question's window, widened to hold every reading: a bundled instance spans up
to an hour and ends up to a minute before now (here by construction; the replay shifts
spans by whole minutes, up to one earlier)."""


def expected_from_sources(files: list[Path]) -> dict[str, dict[str, float]]:
    """Average P-PDG and P-TPT per event type, straight from the CSV files."""
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for path in files:
        with path.open(newline="") as handle:
            for rec in csv.DictReader(handle):
                if rec["class"] == "":
                    continue  # unlabelled: no event type
                name = event_type(int(float(rec["class"])))
                sums[name]["readings"].append(1.0)
                for tag in ("P-PDG", "P-TPT"):
                    if rec[tag] != "":
                        sums[name][tag].append(float(rec[tag]))
    return {
        name: {
            "readings": len(v["readings"]),
            "avg_p_pdg": sum(v["P-PDG"]) / len(v["P-PDG"]),
            "avg_p_tpt": sum(v["P-TPT"]) / len(v["P-TPT"]),
        }
        for name, v in sums.items()
    }


def assert_matches_sources(answer: Result, files: list[Path], *, rel: float) -> None:
    """The seed question's JSON answer: one row per event type, the sources' averages."""
    assert answer.exit_code == 0, answer.output
    rows = json.loads(answer.stdout)
    expected = expected_from_sources(files)
    assert [r["event_type"] for r in rows] == sorted(expected)
    for r in rows:
        want = expected[r["event_type"]]
        assert r["readings"] == want["readings"]
        assert r["avg_p_pdg"] == pytest.approx(want["avg_p_pdg"], rel=rel)
        assert r["avg_p_tpt"] == pytest.approx(want["avg_p_tpt"], rel=rel)


def seed_question(runner: CliRunner, home: Path) -> Result:
    """The seed's question (average pressures per event type) over the whole sample, as JSON."""
    args = ["--home", str(home), "query", "--named", "avg_pressure_last_hour", *WHOLE_SAMPLE]
    return runner.invoke(main, [*args, "--format", "json"])


def test_crawl_then_seed_question_matches_the_source_files(bundled_3w_files, tmp_path):
    # given a lake holding every real 3W instance, replayed so it ends a minute ago
    home = tmp_path / "home"
    lake = home / "lake"
    end = datetime.now(UTC) - timedelta(minutes=1)
    for path in bundled_3w_files:
        well_id, table = read_3w_csv(path, end=end)
        write_by_partition(lake, well_id, table)
    runner = CliRunner()

    # when crawling, then asking the seed's question
    crawled = runner.invoke(main, ["--home", str(home), "crawl"])
    answer = seed_question(runner, home)

    # then one row per event type, with the sources' averages
    assert crawled.exit_code == 0, crawled.output
    assert "new table sensors" in crawled.output
    assert_matches_sources(answer, bundled_3w_files, rel=1e-12)


def test_replay_run_crawl_query_matches_the_source_files(
    bundled_3w_dir, bundled_3w_files, tmp_path
):
    # given the real 3W files replayed into the local stream and landed by the lake writer
    home = tmp_path / "home"
    runner = CliRunner()
    replayed = runner.invoke(
        main, ["--home", str(home), "replay", "--speed", "0", "--quiet", str(bundled_3w_dir)]
    )
    landed = runner.invoke(main, ["--home", str(home), "run", "--drain", "--only", "lake"])
    assert replayed.exit_code == 0, replayed.output
    assert landed.exit_code == 0, landed.output

    # when crawling and asking the seed's question
    crawled = runner.invoke(main, ["--home", str(home), "crawl"])
    answer = seed_question(runner, home)

    # then one row per event type, averages as computed from the CSV files
    assert crawled.exit_code == 0, crawled.output
    assert_matches_sources(answer, bundled_3w_files, rel=1e-9)


def test_pressure_series_and_latest_reading_on_real_data(bundled_3w_files, tmp_path):
    home = tmp_path / "home"
    end = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    path = bundled_3w_files[0]
    well_id, table = read_3w_csv(path, end=end)
    write_by_partition(home / "lake", well_id, table)
    runner = CliRunner()
    assert runner.invoke(main, ["--home", str(home), "crawl"]).exit_code == 0

    series = runner.invoke(
        main,
        ["--home", str(home), "query", "--named", "pressure_series", "--param",
         f"well_id={well_id}", "--param", "bucket_seconds=300", "--format", "json"],
    )  # fmt: skip
    latest = runner.invoke(
        main, ["--home", str(home), "query", "--named", "latest_reading_per_well", "--format",
               "json"],
    )  # fmt: skip

    assert series.exit_code == 0, series.output
    buckets = json.loads(series.stdout)
    assert sum(b["readings"] for b in buckets) == table.num_rows
    assert all(b["bucket"].endswith(("0:00.000", "5:00.000")) for b in buckets)
    last = json.loads(latest.stdout)[0]
    assert last["well_id"] == well_id
    assert last["ts"] == "2024-05-01 12:00:00.000"  # as Athena prints a timestamp
    assert last["p_pdg"] == table["p_pdg"][-1].as_py()
