"""`petrostream replay`: flags, summary, errors and Ctrl-C, as a user sees them."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_3w import bundled_3w_table

from petrostream.cli import main
from petrostream.stream.local import LocalStream


def test_replay_puts_every_row_and_prints_a_summary(home: Path, bundled_3w_files: list[Path]):
    # when the real files are replayed as fast as possible, with refused records
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "replay", *map(str, bundled_3w_files), "--speed", "0",
         "--fault-rate", "0.1", "--stream-name", "bench"],
    )  # fmt: skip

    # then it exits 0 with a summary, and the stream holds one record per row
    assert result.exit_code == 0, result.output
    rows = bundled_3w_table()  # what the bundled README lists, not a hard-coded count
    assert f"records    {sum(rows.values()):,} put" in result.output
    for stem, count in rows.items():
        assert f"{stem}  {count:,}" in result.output
    with LocalStream(home / "stream.db") as stream:
        assert stream.describe()["name"] == "bench"
        assert sum(s["records"] for s in stream.describe()["shards"]) == sum(rows.values())


def test_a_bad_path_is_one_clear_line(home: Path, tmp_path: Path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    result = CliRunner().invoke(main, ["--home", str(home), "replay", str(notes)])
    assert result.exit_code == 2
    assert "notes.txt: not a 3W file" in result.output
    assert "Traceback" not in result.output


def test_fault_rate_is_refused_for_kinesis(home: Path, bundled_3w_files: list[Path]):
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "replay", str(bundled_3w_files[0]), "--target", "kinesis",
         "--fault-rate", "0.5"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--fault-rate applies to the local stream only" in result.output


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_a_signal_stops_cleanly_with_a_summary(
    home: Path, bundled_3w_files: list[Path], sig: int, code: int, word: str
):
    # given a real-time replay running in its own process
    proc = subprocess.Popen(
        [sys.executable, "-c", "from petrostream.cli import main; main()", "--home", str(home),
         "replay", *map(str, bundled_3w_files), "--speed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    # when Ctrl-C arrives after the first progress line
    first = proc.stderr.readline()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)

    # then it says how far it got, per instance, how to go on, and exits 128 + signal
    assert "replay:" in first
    assert proc.returncode == code, err
    assert "records put per instance:" in out
    assert "WELL-00016_20180426142005" in out
    assert f"{word}: stopped cleanly after" in err
    assert "--resume" in err
    assert "Traceback" not in err
