"""Benchmark the synthetic 3W generator and the 3W reader.

    .venv/bin/python benchmarks/bench_dataset.py [--readings 10000000] [--format csv] [--keep DIR]

1. synthesize a fleet of N readings (10 wells, 1-hour instances), timed, with peak RSS;
2. read every instance with petrostream.dataset.read_instance (rows/s);
3. baseline, same run: pyarrow.csv.read_csv / pq.read_table of the same files (rows/s);
prints one JSON line with the figures and the reader/baseline ratio;
4. the real form, same run: steps 2 and 3 on the developers' real 3W set
   (``--real DIR``, default ``$PETROSTREAM_3W_DIR`` or ``../shared/data/3w``; ``--real none``
   skips it), one more JSON line with ``"data": "real"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from real3w import real_3w_dir

from petrostream.dataset import discover, read_instance, synthesize


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--wells", type=int, default=10)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--version", type=int, choices=[1, 2], default=1)
    parser.add_argument("--keep", type=Path, help="write here and keep the files")
    parser.add_argument("--real", default=None, help="the real 3W set (or 'none')")
    args = parser.parse_args()

    out = args.keep or Path(tempfile.mkdtemp(prefix="bench-dataset-"))
    hours = args.readings / args.wells / 3600
    try:
        began = time.perf_counter()
        paths = synthesize(
            out, wells=args.wells, hours=hours, seed=1, fmt=args.format, version=args.version
        )
        synth_s = time.perf_counter() - began
        rss_synth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        size = sum(p.stat().st_size for p in paths)

        began = time.perf_counter()
        rows = rejects = 0
        for instance in discover([out]):
            for batch in read_instance(instance):
                rows += batch.table.num_rows
                rejects += len(batch.rejects)
        read_s = time.perf_counter() - began

        began = time.perf_counter()
        base_rows = 0
        for path in paths:
            table = pacsv.read_csv(path) if args.format == "csv" else pq.read_table(path)
            base_rows += table.num_rows
        base_s = time.perf_counter() - began
        assert base_rows == rows, (base_rows, rows)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)

    print(json.dumps({
        "data": "synthetic",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus python {platform.python_version()}",
        "format": args.format, "version": args.version, "files": len(paths), "readings": rows,
        "bytes": size, "synth_s": round(synth_s, 2), "synth_readings_per_s": round(rows / synth_s),
        "synth_peak_rss_mb": rss_synth, "read_s": round(read_s, 2),
        "read_rows_per_s": round(rows / read_s), "rejects": rejects,
        "baseline_pyarrow_s": round(base_s, 2), "baseline_rows_per_s": round(rows / base_s),
        "read_over_baseline": round((rows / read_s) / (rows / base_s), 2), "peak_rss_mb": rss,
    }))  # fmt: skip
    real = real_3w_dir(args.real)
    if real is not None:
        print(json.dumps(_read_real(real)))


def _read_real(folder: Path) -> dict:
    """The reader and pyarrow's read_csv on the real 3W files, one after the other."""
    instances = discover([folder])
    began = time.perf_counter()
    rows = rejects = 0
    for instance in instances:
        for batch in read_instance(instance):
            rows += batch.table.num_rows
            rejects += len(batch.rejects)
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    base_rows = sum(pacsv.read_csv(i.path).num_rows for i in instances)
    base_s = time.perf_counter() - began
    return {
        "data": "real", "folder": str(folder), "files": len(instances), "readings": rows,
        "rejects": rejects, "baseline_rows": base_rows, "read_s": round(read_s, 2),
        "read_rows_per_s": round(rows / read_s), "baseline_pyarrow_s": round(base_s, 2),
        "baseline_rows_per_s": round(base_rows / base_s),
        "read_over_baseline": round((rows / read_s) / (base_rows / base_s), 2),
    }  # fmt: skip


if __name__ == "__main__":
    main()
