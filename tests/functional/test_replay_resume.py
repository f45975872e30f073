"""A replay killed with -9 and resumed lands every reading exactly once; its reader dies with it."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_3w import cli_ok, named_3w_files, query_json

from petrostream.cli import main

pytestmark = pytest.mark.slow

PICKS = ("2/WELL-00011_20140530100015.csv", "2/WELL-00010_20171218200131.csv")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the child")
def test_kill_9_then_resume_puts_every_reading_exactly_once(tmp_path: Path, shared_3w_dir: Path):
    files = named_3w_files(shared_3w_dir, PICKS)
    home = tmp_path / "home"
    rows = {f.stem: len(f.read_bytes().splitlines()) - 1 for f in files}

    # given a replay at 400x with its forked reader, killed -9 once it has put records
    replay = subprocess.Popen(
        [str(Path(sys.executable).parent / "petrostream"), "--home", str(home), "replay",
         "--speed", "400", *map(str, files)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert replay.stderr is not None
    for line in replay.stderr:  # event-driven: the first progress line with records put
        if line.startswith("replay:") and not line.startswith("replay: 0 records"):
            break
    else:
        pytest.fail(f"the replay ended before putting anything (exit {replay.wait()})")
    readers = [os.pidfd_open(pid) for pid in _children(replay.pid)]
    assert readers, "the CLI replay reads in a forked process"
    replay.send_signal(signal.SIGKILL)
    replay.wait()

    # then its reader dies with it: a pidfd turns readable when its process exits
    for fd in readers:
        ready, _, _ = select.select([fd], [], [], 30)
        os.close(fd)
        assert ready, "the forked reader outlived its killed parent"

    # when the same replay is run again it refuses to duplicate; --resume continues it
    again = CliRunner().invoke(main, ["--home", str(home), "replay", *map(str, files)])
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = cli_ok(home, "replay", "--resume", "--quiet", *map(str, files))
    assert "resumed" in resumed
    cli_ok(home, "run", "--drain")
    cli_ok(home, "crawl")

    # then the lake holds every reading exactly once
    counts = query_json(
        home,
        "SELECT instance_id, count(*) AS n, count(DISTINCT source_ts) AS d "
        "FROM sensors GROUP BY instance_id",
    )
    assert {r["instance_id"]: (int(r["n"]), int(r["d"])) for r in counts} == {
        stem: (n, n) for stem, n in rows.items()
    }
