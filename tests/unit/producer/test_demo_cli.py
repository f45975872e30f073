"""`petrostream demo`, stage one: the bundled sample and a small fleet into the local stream."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from petrostream.cli import main
from petrostream.cli.demo import STAGES
from petrostream.stream.local import LocalStream


def test_demo_on_a_fresh_home_replays_sample_and_fleet(tmp_path: Path):
    # given no home yet
    home = tmp_path / "fresh"

    # when the demo runs
    result = CliRunner().invoke(main, ["--home", str(home), "demo"])

    # then it exits 0 having put the 2 real instances and 8 synthetic wells x 3600 readings
    assert result.exit_code == 0, result.output
    expected = 1980 + 1440 + 8 * 3600
    assert f"{expected:,} readings" in result.output
    assert "WELL-00011" in result.output and "WELL-00008" in result.output
    with LocalStream(home / "stream.db", create=False) as stream:
        assert sum(s["records"] for s in stream.describe()["shards"]) == expected
    assert len(list((home / "sample" / "synth").rglob("*.csv"))) == 8


def test_demo_reuses_its_synthetic_fleet(tmp_path: Path):
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(main, ["--home", str(home), "demo"]).exit_code == 0

    again = runner.invoke(main, ["--home", str(home), "demo"])

    assert again.exit_code == 0, again.output
    assert "8 synthetic instances already in" in again.output


def test_demo_is_a_list_of_named_stages():
    titles = [title for title, _ in STAGES]
    assert titles[0] == "prepare the home"
    assert "replay into the local stream" in titles
