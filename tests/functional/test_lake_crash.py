"""Done-when of issues 4 and 15: SIGKILL the lake writer >= 20 times during one replay; every
reading once, read through pyiceberg and DuckDB.

The writer runs as `petrostream run --only lake` in a subprocess with tiny buffers
(flushes several times a second), is killed with SIGKILL at random moments while
a replay puts readings into the local stream, and is restarted each time. A final
`run --drain` then finishes; the lake must hold every replayed reading exactly once,
through pyiceberg and through DuckDB over the files of the current snapshot (a killed
flush's files are in no snapshot; `maintain` deletes them).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from petrostream.dataset import discover
from petrostream.dataset.synth import synthesize
from petrostream.lake import tables
from petrostream.lake.writer import CONSUMER
from petrostream.producer import replay
from petrostream.stream.local import LocalStream
from petrostream.testing.clock import FakeClock
from petrostream.testing.lake import duckdb_count, read_table, table_files

KILLS = 20
STEPS_PER_KILL = 90  # replay waits let through per writer life: ~40 lives of data, 20 killed
CLI = "from petrostream.cli import main; main()"


def writer_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PETROSTREAM_HOME=str(home),
        PETROSTREAM_BUFFER_SECONDS="0.05",
        PETROSTREAM_BUFFER_BYTES="40000",
        PETROSTREAM_LOG_LEVEL="WARNING",
    )
    return env


def start_writer(home: Path, log, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, "run", "--only", "lake", *args],
        env=writer_env(home),
        stdout=log,
        stderr=log,
    )


def commits(home: Path) -> int:
    """Snapshots of the writer in ``sensors`` (0 before the table exists)."""
    catalog = tables.open_catalog(home, str(home / "lake"))
    if not catalog.table_exists(tables.SENSORS_DEF.identifier):
        return 0
    table = catalog.load_table(tables.SENSORS_DEF.identifier)
    return sum(1 for _ in tables.writer_snapshots(table, CONSUMER))


def wait_first_commit(home: Path, before: int, proc: subprocess.Popen) -> None:
    """Wait until this writer life has committed once: start-up is not where kills matter."""
    while proc.poll() is None and commits(home) <= before:
        time.sleep(0.01)
    assert proc.poll() is None, "the writer stopped by itself"


class GatedClock(FakeClock):
    """Virtual time whose every wait needs a permit: the replay advances only when let."""

    def __init__(self) -> None:
        super().__init__()
        self.permits = threading.Semaphore(0)
        self.open = threading.Event()

    def let(self, steps: int) -> None:
        for _ in range(steps):
            self.permits.release()

    def sleep(self, seconds: float) -> None:
        while not self.open.is_set() and not self.permits.acquire(timeout=0.05):
            pass
        super().sleep(seconds)


@pytest.mark.slow
def test_sigkill_at_random_moments_during_a_replay_keeps_every_reading_once(tmp_path, home):
    # given: three synthetic wells, one hour each at 1 Hz, replayed in real spacing on a
    # clock the test steps: each writer life sees new data arrive, whatever the load
    data = tmp_path / "3w"
    files = synthesize(data, wells=3, hours=1, seed=7, fmt="csv", version=1)
    input_rows = sum(pacsv.read_csv(f).num_rows for f in files)
    stream = LocalStream(home / "stream.db", name="petrostream", shard_count=2)
    clock = GatedClock()
    summary = {}

    def produce() -> None:
        summary["replay"] = replay(discover([data]), stream, speed=100, clock=clock)

    producer = threading.Thread(target=produce)
    rng = random.Random()
    kills = kills_during_replay = 0
    log_path = tmp_path / "writer.log"
    # when: the writer is killed at random moments, then restarted, while data flows
    with log_path.open("ab") as log:
        producer.start()
        while kills < KILLS:
            clock.let(STEPS_PER_KILL)
            before = commits(home)
            proc = start_writer(home, log)
            wait_first_commit(home, before, proc)
            time.sleep(rng.uniform(0.0, 0.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            kills_during_replay += producer.is_alive()
        clock.open.set()
        producer.join()
        final = start_writer(home, log, "--drain")
        assert final.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    stream.close()
    # then
    assert summary["replay"].records_put == input_rows
    assert kills_during_replay == KILLS, (kills, kills_during_replay)
    assert commits(home) > kills  # flushes did happen between kills
    catalog = tables.open_catalog(home, str(home / "lake"))
    committed = table_files(catalog)
    assert read_table(catalog).num_rows == input_rows  # through pyiceberg
    assert duckdb_count(committed) == input_rows  # through DuckDB, over the planned files
    assert duckdb_count(committed, "count(DISTINCT (instance_id, source_ts))") == input_rows
    on_disk = {p.as_posix() for p in (home / "lake").rglob("*.parquet")}
    print(
        f"{kills} kills ({kills_during_replay} during the replay); "
        f"{len(on_disk - set(committed))} files of killed flushes in no snapshot"
    )
