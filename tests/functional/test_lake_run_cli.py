"""`petrostream run` (lake side) and `petrostream maintain` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from petrostream.cli import main
from petrostream.lake.tables import open_catalog
from petrostream.record import encode
from petrostream.stream.local import LocalStream
from petrostream.testing.lake import duckdb_count, put_all, put_readings, reading, table_files

CLI = "from petrostream.cli import main; main()"
QUERY = "count(*), count(DISTINCT (instance_id, source_ts)), sum(p_pdg), max(ts)"


def fill(home: Path, start: int, n: int, **kwargs) -> None:
    with LocalStream(home / "stream.db", name="petrostream", shard_count=2) as stream:
        put_readings(stream, [reading(i, **kwargs) for i in range(start, start + n)])


def test_run_drain_commits_everything_and_prints_a_summary(home):
    # given: good readings of two wells and two malformed records
    fill(home, 0, 300)
    fill(home, 300, 200, well_id="WELL-00002", instance_id="WELL-00002_x")
    with LocalStream(home / "stream.db", name="petrostream", shard_count=2) as stream:
        put_all(stream, [("WELL-00001", b"{broken"), ("WELL-00002", encode({"ts": "x"}))])
    # when
    result = CliRunner().invoke(main, ["--home", str(home), "run", "--only", "lake", "--drain"])
    # then
    assert result.exit_code == 0, result.output
    assert "500 readings and 2 rejects committed" in result.stdout
    catalog = open_catalog(home, str(home / "lake"))
    assert duckdb_count(table_files(catalog, "sensors")) == 500
    assert duckdb_count(table_files(catalog, "rejects"), "list(reason ORDER BY reason)") == [
        "bad_json",
        "missing_field",
    ]


def test_a_second_writer_on_the_same_home_is_refused(home):
    # given: a writer holding the lock
    from petrostream.lake.locks import ActorLock

    with ActorLock(home, "lake-writer"):
        # when
        result = CliRunner().invoke(main, ["--home", str(home), "run", "--only", "lake", "--drain"])
    # then: one clear line, exit 2, no traceback
    assert result.exit_code == 2
    assert "another lake-writer is running" in result.output
    assert "Traceback" not in result.output


def test_ctrl_c_flushes_commits_and_exits_0(home, tmp_path):
    # given: a running writer with a long buffer, and data in the stream
    env = dict(os.environ, PETROSTREAM_HOME=str(home), PETROSTREAM_BUFFER_SECONDS="3600")
    fill(home, 0, 250)
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "run", "--only", "lake"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # started and buffering: its progress line (every 2 s) shows all 250 read, none committed
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "lake: 250 records" in line:
            break
    assert "0 commits" in seen[-1] and "250 buffered" in seen[-1], "".join(seen)
    # when
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=30)
    err = "".join(seen) + rest
    # then
    assert proc.returncode == 0, err
    assert "250 readings" in out
    assert "stopping" in err
    assert duckdb_count(table_files(open_catalog(home, str(home / "lake")))) == 250


def test_maintain_while_the_writer_runs_keeps_results_and_reduces_files(home):
    # given: a writer running with tiny buffers while data keeps arriving
    env = dict(
        os.environ,
        PETROSTREAM_HOME=str(home),
        PETROSTREAM_BUFFER_SECONDS="0.05",
        PETROSTREAM_BUFFER_BYTES="20000",
        PETROSTREAM_LOG_LEVEL="WARNING",
    )
    fill(home, 0, 200)
    writer = subprocess.Popen(
        [sys.executable, "-c", CLI, "run", "--only", "lake"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    catalog = open_catalog(home, str(home / "lake"))
    runner = CliRunner()
    reports = []
    maintain = ["--home", str(home), "maintain", "--target-size", "64MB", "--table", "sensors"]
    # when: each new batch of data is committed by the writer, then maintained, 15 times
    try:
        for k in range(1, 16):
            fill(home, k * 200, 200)
            while (
                not (files := table_files(catalog)) or duckdb_count(files, QUERY)[0] < (k + 1) * 200
            ):
                assert writer.poll() is None, "the writer stopped"
                time.sleep(0.02)  # the writer commits every 50 ms
            result = runner.invoke(main, maintain)
            assert result.exit_code == 0, result.output
            reports.append(result.stdout)
            counts = duckdb_count(table_files(catalog), QUERY)
            assert counts[0] == counts[1]  # never a reading twice, mid-flight
    finally:
        writer.send_signal(signal.SIGINT)
        assert writer.wait(timeout=30) == 0
    drained = runner.invoke(main, ["--home", str(home), "run", "--only", "lake", "--drain"])
    assert drained.exit_code == 0, drained.output
    files_before = len(table_files(catalog))
    before = duckdb_count(table_files(catalog), QUERY)
    result = runner.invoke(main, [*maintain, "--orphan-hours", "0", "--expire-hours", "0"])
    # then
    assert result.exit_code == 0, result.output
    assert "sensors:" in result.stdout and "files" in result.stdout
    after_files = table_files(catalog)
    assert before[0] == 3200 and before[1] == 3200
    assert duckdb_count(after_files, QUERY) == before
    assert len(after_files) < files_before or files_before == 1
    assert len(after_files) == 1  # one partition, far below the target
    rewritten = [int(m) for r in reports for m in re.findall(r"(\d+) small files", r)]
    assert max(rewritten) >= 2  # maintain did replace files while the writer ran
    # no orphan left: every data file on disk is one of the current snapshot's
    on_disk = {p.as_posix() for p in (home / "lake").rglob("sensors/data/**/*.parquet")}
    assert on_disk == set(after_files)


def test_lake_describe_gives_the_props_a_plain_pyiceberg_opens_the_same_tables_with(home):
    # given: a drained lake, crawled
    fill(home, 0, 120)
    runner = CliRunner()
    assert (
        runner.invoke(main, ["--home", str(home), "run", "--only", "lake", "--drain"]).exit_code
        == 0
    )
    assert runner.invoke(main, ["--home", str(home), "crawl"]).exit_code == 0
    # when: another tool takes the properties `lake describe` prints
    described = runner.invoke(main, ["--home", str(home), "lake", "describe", "--format", "json"])
    assert described.exit_code == 0, described.output
    props = json.loads(described.stdout)["catalog"]
    from pyiceberg.catalog import load_catalog

    plain = load_catalog(**props).load_table("petrostream_db.sensors").scan().to_arrow()
    queried = runner.invoke(
        main,
        ["--home", str(home), "query", "SELECT count(*) AS n FROM sensors", "--format", "json"],
    )
    # then: it counts what `petrostream query` counts
    assert queried.exit_code == 0, queried.output
    assert plain.num_rows == 120
    assert str(plain.num_rows) in queried.stdout
