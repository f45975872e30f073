"""Benchmark: Athena SQL on the local lake (DuckDB) vs pandas on Parquet and DuckDB on CSV.

Builds (once, cached) a lake of N readings in the real layout
``sensors/dt=YYYY-MM-DD/well_id=WELL-0000k/part-0.parquet`` (zstd, as the lake
writer writes), crawls it, then times through `DuckDBEngine.execute` (guard +
transpile + run, as `petrostream query` does):

* the seed's aggregate: average pressures per event type over the whole lake;
* a one-well, one-day query that must touch only its partition.

Baselines in the same run: pandas reading the same Parquet files and grouping,
and DuckDB over raw 3W-style CSV files (a smaller set, compared per row).

``--iceberg`` also writes the same readings to the Iceberg ``sensors`` table and
times the seed and the well-day there, the well-day with the engine planning the
files (the default) and reading every file (``prune=False``), alternated in
``--pairs`` pairs, beside the planning cost and pyiceberg's own plan.

    .venv/bin/python benchmarks/bench_query.py [--readings 50000000] [--dir DIR]

The lake goes to --dir, else $PETROSTREAM_BENCH_DIR, else .petrostream/bench/query
(ignored by git). Needs about 1.5 GB of disk for 50M readings.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from petrostream.catalog.crawler import Crawler
from petrostream.catalog.local import LocalCatalogStore
from petrostream.query.duckdb_engine import DuckDBEngine
from petrostream.schema import EventClass

WELLS = 20
START = datetime(2026, 1, 1, tzinfo=UTC)
EVENTS = [c.name for c in EventClass]
SEED_SQL = (
    "SELECT event_type, count(*) AS readings, avg(p_pdg) AS avg_p_pdg, avg(p_tpt) AS avg_p_tpt "
    "FROM petrostream_db.sensors GROUP BY event_type ORDER BY event_type"
)
POINT_SQL = (
    "SELECT count(*) AS readings, avg(p_pdg) AS avg_p_pdg, max(ts) AS last_ts "
    "FROM petrostream_db.sensors WHERE dt = '{dt}' AND well_id = 'WELL-00007'"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def three_w_precision(values: np.ndarray) -> np.ndarray:
    """Round to 7 significant digits, as 3W files store values (``3.804360e+07``)."""
    scale = 10.0 ** (np.floor(np.log10(np.abs(values))) - 6)
    return np.round(values / scale) * scale


def partition_frame(rng: np.random.Generator, n: int, day: int, well: int) -> pa.Table:
    """One partition's readings: n readings of one well over one day, 3W-like values."""
    step_ms = 86_400_000 // n
    t0 = int((START + timedelta(days=day)).timestamp() * 1000)
    ts = pa.array(t0 + np.arange(n, dtype=np.int64) * step_ms, pa.timestamp("ms", tz="UTC"))
    labels = rng.integers(0, len(EVENTS), size=n // 1000 + 1).repeat(1000)[:n]
    event_class = np.where(labels == 0, 0, labels).astype(np.int32)
    walk = np.cumsum(rng.normal(0, 500.0, n))
    return pa.table(
        {
            "instance_id": pa.array([f"WELL-{well:05d}_{day:03d}"] * n, pa.string()),
            "ts": ts,
            "source_ts": ts,
            "p_pdg": three_w_precision(3.8e7 + walk + well * 1e5),
            "p_tpt": three_w_precision(2.26e7 + walk * 0.5),
            "t_tpt": three_w_precision(111.8 + rng.normal(0, 0.2, n)),
            "event_class": event_class,
            "event_type": pa.DictionaryArray.from_arrays(
                pa.array(labels.astype(np.int32)), pa.array(EVENTS)
            ).cast(pa.string()),
            "state": pa.nulls(n, pa.int32()),
        }
    )


def build_lake(lake: Path, readings: int) -> None:
    marker = lake / f"_complete_v2_{readings}"
    if marker.exists():
        log(f"lake cached at {lake}")
        return
    days = max(1, readings // (WELLS * 100_000))
    per = readings // (WELLS * days)
    rng = np.random.default_rng(42)
    log(f"writing {WELLS * days * per:,} readings: {WELLS} wells x {days} days x {per:,}")
    for day in range(days):
        dt = (START + timedelta(days=day)).strftime("%Y-%m-%d")
        for well in range(1, WELLS + 1):
            folder = lake / "sensors" / f"dt={dt}" / f"well_id=WELL-{well:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                partition_frame(rng, per, day, well), folder / "part-0.parquet", compression="zstd"
            )
        log(f"  day {day + 1}/{days}")
    marker.mkdir()


def build_iceberg_lake(home: Path, readings: int) -> None:
    """The same readings as `build_lake` in the Iceberg ``sensors`` table (one commit a day).

    ``tables.commit_append`` writes them as the lake writer does: one file per
    ``day(ts)`` x ``bucket(16, well_id)`` partition, sorted ``well_id, ts``.
    """
    from petrostream.lake.tables import commit_append, open_catalog, open_table

    marker = home / f"_complete_iceberg_{readings}"
    if marker.exists():
        log(f"Iceberg lake cached at {home}")
        return
    if home.exists():
        import shutil

        shutil.rmtree(home)
    days = max(1, readings // (WELLS * 100_000))
    per = readings // (WELLS * days)
    rng = np.random.default_rng(42)
    table = open_table(open_catalog(home, str(home / "lake")), "sensors")
    log(f"committing {WELLS * days * per:,} readings to Iceberg: {days} commits")
    for day in range(days):
        parts = []
        for well in range(1, WELLS + 1):
            frame = partition_frame(rng, per, day, well)
            parts.append(frame.append_column("well_id", pa.array([f"WELL-{well:05d}"] * per)))
        table = commit_append(table, parts)
        log(f"  day {day + 1}/{days}")
    marker.mkdir()


def build_csv(folder: Path, readings: int) -> int:
    """3W 1.x-style CSV files (timestamp, 8 tags, class), ``readings`` rows in all."""
    marker = folder / f"_complete_{readings}"
    if marker.exists():
        return readings
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    files = max(1, readings // 100_000)
    per = readings // files
    for k in range(files):
        t = partition_frame(rng, per, k, 1 + k % WELLS)
        frame = pd.DataFrame(
            {
                "timestamp": pd.to_datetime(t["ts"].to_numpy()).strftime("%Y-%m-%d %H:%M:%S.%f"),
                "P-PDG": t["p_pdg"].to_numpy(),
                "P-TPT": t["p_tpt"].to_numpy(),
                "T-TPT": t["t_tpt"].to_numpy(),
                "P-MON-CKP": np.nan,
                "T-JUS-CKP": np.nan,
                "P-JUS-CKGL": np.nan,
                "T-JUS-CKGL": np.nan,
                "QGL": np.nan,
                "class": t["event_class"].to_numpy(),
            }
        )
        frame.to_csv(folder / f"WELL-{k:05d}.csv", index=False, float_format="%.6e")
    marker.mkdir()
    return files * per


CPU: dict[str, float] = {}


def timed(fn, repeat: int, name: str = "") -> tuple[float, object]:
    """Median wall time of ``fn``; the median process CPU time goes to CPU[name]."""
    proc = psutil.Process()
    times, cpus, out = [], [], None
    for _ in range(repeat):
        gc.collect()
        c = sum(proc.cpu_times()[:2])
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        cpus.append(sum(proc.cpu_times()[:2]) - c)
    CPU[name] = statistics.median(cpus)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=50_000_000)
    parser.add_argument("--csv-readings", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--pairs", type=int, default=3, help="alternated pruned/unpruned pairs")
    parser.add_argument(
        "--iceberg", action="store_true",
        help="also time the same queries on the same readings in the Iceberg table",
    )  # fmt: skip
    args = parser.parse_args()
    base = args.dir or Path(os.environ.get("PETROSTREAM_BENCH_DIR", ".petrostream/bench/query"))
    lake = base / f"lake-{args.readings}"
    build_lake(lake, args.readings)
    csv_rows = build_csv(base / f"csv-{args.csv_readings}", args.csv_readings)

    load_before = os.getloadavg()
    t = time.perf_counter()
    catalog, report = Crawler(str(lake)).crawl(None)
    crawl_s = time.perf_counter() - t
    store = LocalCatalogStore(base / "catalog.json")
    store.save(catalog)
    total = catalog.tables["sensors"].rows
    t = time.perf_counter()
    engine = DuckDBEngine.from_catalog_file(store.path)
    setup_s = time.perf_counter() - t
    log(f"crawl {report.files_read} footers in {crawl_s:.2f} s; engine setup {setup_s:.3f} s")

    engine.execute(SEED_SQL)  # warm the OS cache and DuckDB's metadata
    seed_s, seed = timed(lambda: engine.execute(SEED_SQL), args.repeat, "seed")
    dts = sorted({p.values[0] for p in catalog.tables["sensors"].partitions.values()})
    dt = dts[min(3, len(dts) - 1)]
    point_sql = POINT_SQL.format(dt=dt)
    engine.execute(point_sql)
    point_s, point = timed(lambda: engine.execute(point_sql), args.repeat * 4, "point")
    plan = engine.explain(point_sql)
    scanned = next(ln for ln in plan.splitlines() if "Scanning Files" in ln).strip(" │")
    log(f"seed aggregate {seed_s * 1000:.0f} ms; one well/day {point_s * 1000:.1f} ms ({scanned})")

    iceberg_rows = ""
    if args.iceberg:
        iceberg_rows = iceberg_figures(base, args, seed_s, point_s, dt)

    # baseline 1: pandas on the same Parquet files
    pandas_s = float("nan")
    if not args.skip_pandas:

        def with_pandas():
            frame = pd.read_parquet(lake / "sensors", columns=["event_type", "p_pdg", "p_tpt"])
            return frame.groupby("event_type")[["p_pdg", "p_tpt"]].mean()

        pandas_s, frame = timed(with_pandas, 1)
        ours = {r[0]: r[2] for r in seed.rows}
        assert all(abs(ours[k] - v) < 1e-3 for k, v in frame["p_pdg"].items())
        del frame
        log(f"pandas {pandas_s:.2f} s")

    # baseline 2: DuckDB on the raw CSV files (a smaller set; compared per row)
    csv_glob = str(base / f"csv-{args.csv_readings}" / "*.csv")
    con = duckdb.connect()

    def with_csv():
        return con.execute(
            f'SELECT class, count(*), avg("P-PDG"), avg("P-TPT") FROM read_csv(\'{csv_glob}\') '
            "GROUP BY class"
        ).fetchall()

    csv_s, _ = timed(with_csv, 2)
    load_after = os.getloadavg()

    sensors = catalog.tables["sensors"]
    with engine.connection() as session:
        threads = session.execute("SELECT current_setting('threads')").fetchone()[0]
    seed_ns = seed_s / total * 1e9
    csv_ns = csv_s / csv_rows * 1e9
    pandas_ns = pandas_s / total * 1e9
    print(
        f"""
| figure | value |
|---|---|
| lake | {total:,} readings, {sensors.file_count} files, \
{sensors.bytes / 1e9:.2f} GB Parquet zstd, {len(sensors.partitions)} partitions |
| crawl (footers of every file, first crawl) | {crawl_s:.2f} s |
| engine setup (views over the catalog) | {setup_s * 1000:.0f} ms |
| seed aggregate, whole lake (median of {args.repeat}) | **{seed_s * 1000:.0f} ms** wall \
({seed_ns:.1f} ns/row), {CPU["seed"] * 1000:.0f} ms CPU on {threads} threads |
| one well, one day (median of {args.repeat * 4}) | **{point_s * 1000:.1f} ms** wall, \
{CPU["point"] * 1000:.1f} ms CPU ({scanned}) |
| pandas `read_parquet` + `groupby.mean`, same files | {pandas_s:.2f} s ({pandas_ns:.1f} ns/row) |
| DuckDB `read_csv` on {csv_rows:,} CSV readings | {csv_s:.2f} s ({csv_ns:.1f} ns/row) |
| ratio pandas / ours (whole lake) | {pandas_s / seed_s:.1f}x |
| ratio CSV / ours (per row) | {csv_ns / seed_ns:.1f}x |
{iceberg_rows}| load average before / after | {load_before[0]:.2f} / {load_after[0]:.2f} |
| machine | {platform.machine()}, {psutil.cpu_count()} cores, \
{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, \
DuckDB {duckdb.__version__} |
| date | {datetime.now(UTC):%Y-%m-%d} |
"""
    )
    assert point.rows[0][0] > 0


ICEBERG_POINT_SQL = (
    "SELECT count(*) AS readings, avg(p_pdg) AS avg_p_pdg, max(ts) AS last_ts "
    "FROM petrostream_db.sensors WHERE ts >= TIMESTAMP '{dt} 00:00:00' "
    "AND ts < TIMESTAMP '{dt} 00:00:00' + INTERVAL '1' DAY AND well_id = 'WELL-00007'"
)


def iceberg_figures(base: Path, args: argparse.Namespace, hive_seed_s: float,
                    hive_point_s: float, dt: str) -> str:  # fmt: skip
    """Table rows: the seed and one well-day on the Iceberg table, pruned and not.

    The well-day is timed on two engines over the same catalog, one planning the
    files per query (the default) and one reading every file (``prune=False``, the
    views before issue 15.5), alternated in ``args.pairs`` pairs; CPU is the median
    over the pairs. The planning cost is the time `DuckDBEngine` spends preparing the
    query with pruning minus without, beside pyiceberg's own ``scan(row_filter)``.
    """
    home = base / f"iceberg-{args.readings}"
    t = time.perf_counter()
    build_iceberg_lake(home, args.readings)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    catalog, _ = Crawler(str(home / "lake"), home=home).crawl(None)
    crawl_s = time.perf_counter() - t
    sensors = catalog.tables["sensors"]
    pruned, full = DuckDBEngine(catalog), DuckDBEngine(catalog, prune=False)
    sql = ICEBERG_POINT_SQL.format(dt=dt)
    by_dt_sql = POINT_SQL.format(dt=dt)
    runs: dict[str, list[tuple[float, float]]] = {}
    try:
        pruned.execute(SEED_SQL)
        seed_s, _ = timed(lambda: pruned.execute(SEED_SQL), args.repeat, "ice_seed")
        for engine in (full, pruned):
            engine.execute(sql)
            engine.execute(by_dt_sql)
        for _ in range(args.pairs):
            for label, engine in (("full", full), ("pruned", pruned)):
                for kind, query in (("ts", sql), ("dt", by_dt_sql)):
                    runs.setdefault(f"{label}_{kind}", []).append(
                        _batch(engine, query, args.repeat * 4)
                    )
        answers = {e.execute(q).rows[0][:2] for e in (full, pruned) for q in (sql, by_dt_sql)}
        assert len(answers) == 1, answers
        files = {"full": _files_read(full.explain(sql)), "pruned": _files_read(pruned.explain(sql))}
        plan_ms = _planning_ms(pruned, full, sql, args.repeat * 4)
        ice_ms, ice_files = _pyiceberg_planning_ms(sensors.iceberg_metadata, dt, args.repeat * 4)
    finally:
        pruned.close()
        full.close()

    def med(key: str, i: int) -> float:
        return statistics.median(r[i] for r in runs[key]) * 1000

    log(f"Iceberg: seed {seed_s * 1000:.0f} ms; one well/day {med('pruned_ts', 0):.1f} ms pruned, "
        f"{med('full_ts', 0):.1f} ms every file")  # fmt: skip
    reps = f"{args.pairs} alternated pairs of {args.repeat * 4} runs: median wall, mean CPU"
    return (
        f"| Iceberg table, same readings | {sensors.file_count} files, "
        f"{sensors.bytes / 1e9:.2f} GB, {len(sensors.partitions)} partitions "
        f"(day x bucket(16, well_id)); built in {build_s:.1f} s (0 if cached); "
        f"crawl (plan + footers + bounds) {crawl_s:.2f} s |\n"
        f"| Iceberg: seed aggregate (median of {args.repeat}) | **{seed_s * 1000:.0f} ms** "
        f"wall, {CPU['ice_seed'] * 1000:.0f} ms CPU; ratio to the Hive lake in this run "
        f"{seed_s / hive_seed_s:.2f} |\n"
        f"| Iceberg: one well, one day by `ts` range ({reps}) | every file: "
        f"{med('full_ts', 0):.1f} ms wall, {med('full_ts', 1):.1f} ms CPU, {files['full']} files "
        f"read -> pruned: **{med('pruned_ts', 0):.1f} ms** wall, {med('pruned_ts', 1):.1f} ms "
        f"CPU, {files['pruned']} file(s) read; ratio to the Hive lake "
        f"{med('pruned_ts', 0) / 1000 / hive_point_s:.2f} |\n"
        f"| Iceberg: the same by `dt = '{dt}'` (derived column) | every file: "
        f"{med('full_dt', 0):.1f} ms wall, {med('full_dt', 1):.1f} ms CPU -> pruned: "
        f"**{med('pruned_dt', 0):.1f} ms** wall, {med('pruned_dt', 1):.1f} ms CPU |\n"
        f"| Iceberg: planning the well-day (median of {args.repeat * 4}) | catalog bounds: "
        f"+{plan_ms:.2f} ms over an unpruned prepare; pyiceberg "
        f"`StaticTable.from_metadata` + `scan(row_filter).plan_files()`: {ice_ms[0]:.1f} ms "
        f"({ice_ms[1]:.1f} ms of it the plan, {ice_files} file(s)) |\n"
    )


def _batch(engine: DuckDBEngine, sql: str, n: int) -> tuple[float, float]:
    """Median wall and mean CPU seconds of ``n`` runs (CPU over the batch: ticks are 10 ms)."""
    proc = psutil.Process()
    walls = []
    gc.collect()
    c = sum(proc.cpu_times()[:2])
    for _ in range(n):
        t = time.perf_counter()
        result = engine.execute(sql)
        walls.append(time.perf_counter() - t)
    cpu = (sum(proc.cpu_times()[:2]) - c) / n
    assert result.rows[0][0] > 0
    return statistics.median(walls), cpu


def _files_read(plan: str) -> int:
    import re

    return sum(int(n) for n in re.findall(r"Total Files Read: (\d+)", plan))


def _planning_ms(pruned: DuckDBEngine, full: DuckDBEngine, sql: str, repeat: int) -> float:
    """Median time to prepare ``sql`` with pruning minus without (guard, translate, plan)."""

    def prepare(engine: DuckDBEngine) -> float:
        with engine.connection() as con:
            t = time.perf_counter()
            engine._prepare(sql, None, con)  # noqa: SLF001 - the step being measured
            return time.perf_counter() - t

    with_ = statistics.median(prepare(pruned) for _ in range(repeat))
    without = statistics.median(prepare(full) for _ in range(repeat))
    return (with_ - without) * 1000


def _pyiceberg_planning_ms(
    metadata: str | None, dt: str, repeat: int
) -> tuple[tuple[float, float], int]:
    """pyiceberg's plan of the well-day: (load + plan, plan alone) in ms, and its files."""
    from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThan
    from pyiceberg.table import StaticTable

    assert metadata is not None
    day = datetime.fromisoformat(dt).replace(tzinfo=UTC)
    row_filter = And(
        EqualTo("well_id", "WELL-00007"),
        And(
            GreaterThanOrEqual("ts", day.isoformat()),
            LessThan("ts", (day + timedelta(days=1)).isoformat()),
        ),
    )
    props = {"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO"}
    totals, plans, files = [], [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        table = StaticTable.from_metadata(metadata, properties=props)
        loaded = time.perf_counter()
        files = len(list(table.scan(row_filter=row_filter).plan_files()))
        done = time.perf_counter()
        totals.append(done - t)
        plans.append(done - loaded)
    return (statistics.median(totals) * 1000, statistics.median(plans) * 1000), files


if __name__ == "__main__":
    main()
