"""How long `SELECT 1` waits while slow queries run: the session pool vs one shared connection.

Issue 14 measured `SELECT 1` waiting 102 s behind three slow cross joins, because
every query of the dashboard went through one DuckDB connection behind a lock.
This runs the same situation in one process:

- **ours**: `DuckDBEngine` with `QueryLimits(concurrent=4)` (what `petrostream serve`
  uses): three cross joins run, each on its own connection, then `SELECT 1`;
- **baseline, one connection**: the same engine with `concurrent=1`, i.e. one
  connection taken in turn, as before: `SELECT 1` queues behind the three.

Each slow query is interrupted by its own timeout (``--slow-timeout``), so the
baseline's wait is about three of them. Prints a Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from petrostream.catalog.crawler import Crawler
from petrostream.query.base import QueryError, QueryLimits
from petrostream.query.duckdb_engine import DuckDBEngine
from petrostream.testing.lakefiles import sensor_rows, write_lake_file

SLOW = "SELECT sum(a.p_pdg * b.p_tpt * c.t_tpt) FROM sensors a, sensors b, sensors c"


def slow_queries(engine: DuckDBEngine, count: int, timeout: float) -> list[threading.Thread]:
    def run() -> None:
        with contextlib.suppress(QueryError):  # interrupted by its timeout, as intended
            engine.execute(SLOW, timeout=timeout)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def select_one_wait(engine: DuckDBEngine, running: int, slow: int, timeout: float) -> float:
    """Seconds `SELECT 1` takes once ``running`` of ``slow`` slow queries hold a connection."""
    threads = slow_queries(engine, slow, timeout)
    assert engine.pool.wait_running(running, timeout=120), "the slow queries did not start"
    started = time.perf_counter()
    assert engine.execute("SELECT 1 AS one", timeout=None).rows == [(1,)]
    waited = time.perf_counter() - started
    for thread in threads:
        thread.join()
    return waited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=3000, help="readings in the lake")
    parser.add_argument("--slow", type=int, default=3, help="slow queries running at once")
    parser.add_argument("--slow-timeout", type=float, default=5.0, help="seconds each may run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    lake = Path(tempfile.mkdtemp(prefix="bench-concurrency-")) / "lake"
    start = datetime(2024, 5, 1, tzinfo=UTC)
    write_lake_file(
        lake, "sensors", {"dt": "2024-05-01", "well_id": "WELL-00001"},
        sensor_rows(args.readings, start=start),
    )  # fmt: skip
    catalog, _ = Crawler(str(lake)).crawl(None)
    load_before = os.getloadavg()
    ours_engine = DuckDBEngine(catalog, threads=1, limits=QueryLimits(concurrent=args.slow + 1))
    ours = [
        select_one_wait(ours_engine, args.slow, args.slow, args.slow_timeout)
        for _ in range(args.repeat)
    ]
    ours_engine.close()
    one_engine = DuckDBEngine(catalog, threads=1, limits=QueryLimits(concurrent=1))
    baseline = [
        select_one_wait(one_engine, 1, args.slow, args.slow_timeout)
        for _ in range(max(1, args.repeat // 2))
    ]
    one_engine.close()
    load_after = os.getloadavg()

    ours_s, base_s = statistics.median(ours), statistics.median(baseline)
    print(
        f"""
Machine: {platform.machine()} {platform.processor() or ""}, {os.cpu_count()} cores, Python \
{platform.python_version()}, DuckDB {duckdb.__version__}; load average {load_before[0]:.2f} \
before, {load_after[0]:.2f} after. Date {datetime.now(UTC):%Y-%m-%d}. Command: \
`.venv/bin/python benchmarks/bench_query_concurrency.py --slow {args.slow} --slow-timeout \
{args.slow_timeout:g} --repeat {args.repeat}`; lake of {args.readings:,} readings; each slow \
query is a 3-way cross join ({args.readings**3:.1e} rows) stopped by its timeout.

| engine | `SELECT 1` while {args.slow} cross joins run (median) | runs |
|---|---|---|
| ours: a session per query (`concurrent={args.slow + 1}`) | **{ours_s * 1000:.1f} ms** | \
{", ".join(f"{s * 1000:.1f}" for s in ours)} ms |
| baseline: one connection in turn (as before) | {base_s:.1f} s | \
{", ".join(f"{s:.1f}" for s in baseline)} s |

Ratio: `SELECT 1` answers {base_s / ours_s:,.0f}x sooner.
"""
    )


if __name__ == "__main__":
    main()
