"""Replay benchmark: `replay --speed 0` of a synthetic fleet and of the real 3W set.

Measured side by side in one run, each in its own child process (so peak RSS is
that step's alone):

  (a) baseline: pyarrow reading the same CSV files (``pyarrow.csv.read_csv`` per file);
  (b) replay:   the real verb, ``petrostream --home TMP replay PATH --speed 0 --quiet``
                (the console script in a child process: imports, discovery, ledger,
                forked reader, puts into a fresh local stream, summary, exit);
  (c) diagnosis: the producer alone (read, merge, encode), a stream that stores nothing;
  (d) ``replay --speed 0 --aggregate``: the same verb, readings packed into KPL aggregates.

(a) and (b) run ``--repeat`` times (default 3), alternating, and are reported as
medians (wall and CPU seconds each their own median, the spread beside them): the
baseline alone swings 0.3-0.6 s on this shared machine, so one read is no yardstick.
The ratio is the median replay rate over the median baseline rate of the same run.

The fleet (default 100 wells x 28 h at 1 Hz = 10,080,000 readings, CSV, one
instance per well) is synthesized once and cached under ``$PETROSTREAM_BENCH_DIR``
(default ``<repo>/.bench``, git-ignored). Results go to ``benchmarks/RESULTS.md``.

petrostream's modules are compiled into ``__pycache__`` once before anything is
timed (`compile_package`), as an installed package has its ``.pyc`` files.

The real form replays the developers' 3W set (``$PETROSTREAM_3W_DIR``, default
``../shared/data/3w``) in the same run, with its own pyarrow baseline.

    .venv/bin/python benchmarks/bench_replay.py                # 10M synthetic + the real set
    .venv/bin/python benchmarks/bench_replay.py --rows 1000000 --data real --no-write
    .venv/bin/python benchmarks/bench_replay.py --data real --no-write --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
GOAL_RATE = 200_000
GOAL_RSS_MB = 500
GOAL_RATIO = 0.2
HEADING = "## Replay at --speed 0 into the local stream (`benchmarks/bench_replay.py`)"
START = "<!-- bench_replay:start -->"
END = "<!-- bench_replay:end -->"


def bench_dir() -> Path:
    return Path(os.environ.get("PETROSTREAM_BENCH_DIR") or REPO / ".bench")


def real_dir() -> Path | None:
    """The developers' real 3W set: $PETROSTREAM_3W_DIR, else ../shared/data/3w."""
    for candidate in (os.environ.get("PETROSTREAM_3W_DIR"), REPO.parent / "shared" / "data" / "3w"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


# -- the fleet ---------------------------------------------------------------------


def fleet(rows: int, wells: int, seed: int) -> tuple[Path, int]:
    """Synthesize (once) a fleet of about ``rows`` readings; return its folder and row count."""
    from petrostream.dataset.synth import synthesize

    seconds = max(1, rows // wells)
    hours = seconds / 3600
    out = bench_dir() / f"fleet-{wells}w-{seconds}s-seed{seed}"
    marker = out / "fleet.json"
    if marker.exists():
        meta = json.loads(marker.read_text())
        return out, int(meta["rows"])
    shutil.rmtree(out, ignore_errors=True)
    print(f"synthesizing {wells} wells x {hours:.2f} h into {out} (cached for next runs)...",
          file=sys.stderr)  # fmt: skip
    started = time.perf_counter()
    files = synthesize(out, wells=wells, hours=hours, seed=seed, fmt="csv", instance_hours=hours)
    total = wells * seconds
    marker.write_text(json.dumps({"rows": total, "files": len(files), "wells": wells}))
    print(f"  {len(files)} files, {total:,} rows in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)  # fmt: skip
    return out, total


# -- the child steps -----------------------------------------------------------------


def child_baseline(folder: Path) -> dict:
    import pyarrow.csv as pacsv

    rows = 0
    for path in sorted(folder.rglob("*.csv")):
        rows += pacsv.read_csv(path).num_rows
    return {"rows": rows}


def child_producer_only(folder: Path) -> dict:
    """Read, merge, encode and hand over every record, in one process, to a stream that
    stores nothing: the producer's own cost, without the stream's. The null stream has
    the local stream's list fast path (`put_record_blobs`), so the producer does what
    it does for the local stream."""
    from petrostream.arrow_startup import skip_pandas_probe

    skip_pandas_probe()  # as the replay command does

    from petrostream.dataset import discover
    from petrostream.producer import SystemClock, replay
    from petrostream.stream.base import PutResult
    from petrostream.stream.local import PutBlobsResult

    class NullStream:
        name = "null"

        def put_records(self, records):
            ok = PutResult("shardId-000000000000", "1")
            return [ok] * len(records)

        def put_record_blobs(self, keys, data):
            return PutBlobsResult(["shardId-000000000000"] * len(keys), [1] * len(keys), [])

        def close(self):
            pass

    summary = replay(discover([folder]), NullStream(), speed=0, clock=SystemClock())
    return {"rows": summary.rows_read, "records_put": summary.records_put}


def run_child(step: str, *args: str) -> dict:
    """Run one step in a fresh interpreter; wall time, CPU time and peak RSS of that child."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", step, *args], stdout=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{step} step failed with exit code {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # Linux: KiB; max over the child and its children
    )
    result["rate"] = result["rows"] / wall
    return result


def cli_command() -> list[str]:
    """The ``petrostream`` console script beside this interpreter: what a user runs."""
    script = Path(sys.executable).parent / "petrostream"
    if script.exists():
        return [str(script)]
    found = shutil.which("petrostream")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from petrostream.cli import main; sys.exit(main())"]


class PeakWatcher:
    """Polls the peak RSS (``VmHWM``) of a process and of its descendants while it runs.

    ``wait4`` gives only the largest peak of a process tree; the replay runs two
    processes at once (the verb and its forked reader), and the honest total is the
    sum of both peaks (an upper bound: pages the fork shares count twice).
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval = pid, interval
        self.peaks: dict[int, int] = {}  # pid -> KiB
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                    todo.extend(int(c) for c in text.split())
            except OSError:
                continue
        return pids

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid in self._tree():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            kib = int(line.split()[1])
                            self.peaks[pid] = max(self.peaks.get(pid, 0), kib)
                except (OSError, ValueError):
                    pass
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


_SUMMARY = {
    "rows": re.compile(r"^rows read\s+([\d,]+)", re.M),
    "records_put": re.compile(r"^records\s+([\d,]+) put in", re.M),
    "put_calls": re.compile(r" put in ([\d,]+) calls", re.M),
    "rejects": re.compile(r"^rejects\s+([\d,]+)", re.M),
}
_AGGREGATES = re.compile(r"\(([\d,]+) aggregated stream records\)")


def run_cli_replay(folder: Path, home: Path, aggregate: bool = False) -> dict:
    """``petrostream --home HOME replay FOLDER --speed 0 --quiet`` in a child process.

    Wall and CPU seconds are the verb's whole life (interpreter start, imports,
    discovery, ledger, the forked reader, the summary and exit); the counts come
    from the summary it prints.
    """
    argv = [*cli_command(), "--home", str(home), "replay", str(folder), "--speed", "0", "--quiet"]
    if aggregate:
        argv.append("--aggregate")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        watcher = PeakWatcher(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        watcher.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(
            f"replay failed with exit code {proc.returncode}: {errors.strip()[-2000:]}"
        )
    counts = {}
    for name, pattern in _SUMMARY.items():
        found = pattern.search(text)
        if found is None:
            raise SystemExit(f"no {name!r} in the replay's summary:\n{text}")
        counts[name] = int(found.group(1).replace(",", ""))
    aggregates = _AGGREGATES.search(text)
    peaks = dict(watcher.peaks)
    verb_kib = peaks.pop(proc.pid, 0)
    others_kib = sum(peaks.values())
    polled = max([verb_kib, *peaks.values()])
    if usage.ru_maxrss > polled:  # a peak the polling missed (wait4's is exact, in KiB)
        verb_kib += usage.ru_maxrss - polled  # counted in full: the total stays an upper bound
    return {
        **counts,
        "stream_records": (
            int(aggregates.group(1).replace(",", "")) if aggregates else counts["records_put"]
        ),
        "producer_rss_mb": verb_kib / 1024,
        "worker_rss_mb": others_kib / 1024,
        "peak_rss_mb": (verb_kib + others_kib) / 1024,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rate": counts["rows"] / wall,
        "load": os.getloadavg()[0],
    }


def compile_package() -> str:
    """Compile petrostream's modules into ``__pycache__`` once, before anything is timed.

    An installed package ships (or writes on first import) its ``.pyc`` files; with
    ``PYTHONDONTWRITEBYTECODE=1`` (set in some environments, e.g. the developers')
    nothing writes them, so every start of the verb compiled petrostream's ~45
    modules it imports again (~0.04 CPU s, serial, before the reader forks): a cost
    a user does not pay. ``__pycache__`` is git-ignored; the timed children still
    start fresh interpreters. Returns what was done, for the report.
    """
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("petrostream")
    if spec is None or not spec.submodule_search_locations:
        return "petrostream not found: nothing compiled"
    folder = Path(next(iter(spec.submodule_search_locations)))
    ok = compileall.compile_dir(folder, quiet=1)
    return f"compiled {folder} into __pycache__ first ({'ok' if ok else 'with errors'})"


def median_of(runs: list[dict]) -> dict:
    """One figure for repeated runs: medians of wall and CPU, the run with the largest peak RSS."""
    result = dict(runs[-1])
    for key in ("wall_s", "cpu_s"):
        result[key] = statistics.median(r[key] for r in runs)
    worst = max(runs, key=lambda r: r["peak_rss_mb"])  # its parts add up to its total
    for key in ("peak_rss_mb", "producer_rss_mb", "worker_rss_mb"):
        if key in worst:
            result[key] = worst[key]
    result["rate"] = result["rows"] / result["wall_s"]
    result["walls"] = [r["wall_s"] for r in runs]
    result["cpus"] = [r["cpu_s"] for r in runs]
    result["runs"] = len(runs)
    return result


def spread(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


# -- the report -----------------------------------------------------------------------


def machine() -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = 0.0
    try:
        import psutil

        ram_gb = psutil.virtual_memory().total / 2**30
    except ImportError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "python": platform.python_version(),
    }


def render(args: argparse.Namespace, runs: list[dict], info: dict,
           load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:  # fmt: skip
    command = "python benchmarks/bench_replay.py " + " ".join(args.argv)
    lines = [
        HEADING,
        START,
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `{command.strip()}`",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['ram_gb']:.0f} GiB RAM, "
        f"Python {info['python']}",
        f"- load average (1/5/15 min) before: {'/'.join(f'{x:.2f}' for x in load[0])}, "
        f"after: {'/'.join(f'{x:.2f}' for x in load[1])} "
        "(the machine is shared with other work: wall-clock rates fall as load rises; "
        "CPU seconds are steadier)",
        f"- bytecode: {args.compiled} (as an installed package has its .pyc files)",
    ]
    for run in runs:
        lines.append(f"- data **{run['name']}**: {run['about']}")
    lines += [
        "",
        "| data | step | readings | wall s | CPU s | readings/s | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        base, rep, alone, name = run["base"], run["rep"], run["alone"], run["name"]
        agg = run["agg"]
        lines += [
            f"| {name} | (a) baseline: `pyarrow.csv.read_csv` of each file, median of "
            f"{base['runs']} (wall {spread(base['walls'])}) | {base['rows']:,} | "
            f"{base['wall_s']:.2f} | {base['cpu_s']:.2f} | {base['rate']:,.0f} | "
            f"{base['peak_rss_mb']:.0f} |",
            f"| {name} | (b) `petrostream replay --speed 0` (the CLI verb, a child process) "
            f"into a fresh local stream, median of {rep['runs']} (wall {spread(rep['walls'])}, "
            f"CPU {spread(rep['cpus'])}) | "
            f"{rep['records_put']:,} | {rep['wall_s']:.2f} | {rep['cpu_s']:.2f} | "
            f"{rep['rate']:,.0f} | {rep['peak_rss_mb']:.0f} |",
            f"| {name} | (c) diagnosis: the producer alone (read, merge, encode; one process; "
            f"a stream that stores nothing) | {alone['records_put']:,} | "
            f"{alone['wall_s']:.2f} | {alone['cpu_s']:.2f} | {alone['rate']:,.0f} | "
            f"{alone['peak_rss_mb']:.0f} |",
            f"| {name} | (d) `replay --speed 0 --aggregate` (KPL aggregates: "
            f"{agg['stream_records']:,} stream records) | {agg['records_put']:,} | "
            f"{agg['wall_s']:.2f} | {agg['cpu_s']:.2f} | {agg['rate']:,.0f} | "
            f"{agg['peak_rss_mb']:.0f} |",
        ]
    lines.append("")
    for run in runs:
        rep, base = run["rep"], run["base"]
        ratio = rep["rate"] / base["rate"]
        ok_rate = "met" if rep["rate"] >= GOAL_RATE else "NOT met"
        ok_ratio = "met" if ratio >= GOAL_RATIO else "NOT met"
        ok_rss = "met" if rep["peak_rss_mb"] < GOAL_RSS_MB else "NOT met"
        lines.append(
            f"- {run['name']}: ratio replay / baseline **{ratio:.3f}** (medians; per pair "
            f"{spread(run['pairs'])}; goal >= {GOAL_RATIO}: "
            f"**{ok_ratio}**); goal >= {GOAL_RATE:,} readings/s: **{ok_rate}** "
            f"({rep['rate']:,.0f}); goal peak RSS < {GOAL_RSS_MB} MB: **{ok_rss}** "
            f"({rep['peak_rss_mb']:.0f} MB = putting process {rep['producer_rss_mb']:.0f} + "
            f"forked reader {rep['worker_rss_mb']:.0f}, an upper bound); "
            f"{rep['put_calls']:,} PutRecords calls, {rep['rejects']} rejects"
        )
    for run in runs:
        rep, agg = run["rep"], run["agg"]
        lines.append(
            f"- {run['name']}: `--aggregate` / single records **{agg['rate'] / rep['rate']:.2f}**"
            f" x the rate, {agg['cpu_s'] / rep['cpu_s']:.2f} x the CPU seconds"
        )
    lines += [
        "- where the time goes: the producer alone (c) runs on one core; in (b) two "
        "processes share the work, the forked one reading and encoding, the first one "
        "putting (one SQLite row per shard and put); times include interpreter start, "
        "imports and exit; CPU s is both processes'",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it), leaving the others.

    The section runs from its heading to its end marker; other benchmarks rewrite
    their own sections concurrently, so a copy that lost a marker is found by heading.
    """
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    at = None
    while found := [i for i in (text.find(HEADING), text.find(START)) if i >= 0]:
        i = min(found)
        end = text.find(END, i)
        after = text.find("\n## ", i + 1)
        if end >= 0 and (after < 0 or end < after):
            stop = end + len(END)
        else:
            stop = after if after >= 0 else len(text)
        text = text[:i].rstrip("\n") + "\n\n" + text[stop:].lstrip("\n")
        at = i if at is None else min(at, i)
    if at is None or at >= len(text.rstrip("\n")):
        text = text.rstrip("\n") + "\n\n" + section
    else:
        text = text[:at].rstrip("\n") + "\n\n" + section + "\n" + text[at:].lstrip("\n")
    RESULTS.write_text(text)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        step, *rest = argv[1:]
        if step == "baseline":
            result = child_baseline(Path(rest[0]))
        elif step == "producer":
            result = child_producer_only(Path(rest[0]))
        else:
            raise SystemExit(f"unknown step {step!r}")
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="readings in the fleet")
    parser.add_argument("--wells", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--data", choices=["synthetic", "real", "both"], default="both",
        help="synthetic fleet, the real 3W set (../shared/data/3w), or both in one run",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=int, default=3,
        help="runs of (a) and (b), alternating; medians are reported (default 3)",
    )  # fmt: skip
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.argv = argv
    info = machine()
    datasets: list[tuple[str, Path, int | None, str]] = []
    if args.data in ("synthetic", "both"):
        folder, rows = fleet(args.rows, args.wells, args.seed)
        datasets.append((
            "synthetic", folder, rows,
            f"{args.wells} wells, {rows:,} readings, CSV 3W 1.x, one instance per well, "
            f"seed {args.seed} (synthesized by `petrostream.dataset.synth`)",
        ))  # fmt: skip
    if args.data in ("real", "both"):
        real = real_dir()
        if real is None:
            raise SystemExit("no real 3W set: set PETROSTREAM_3W_DIR (../shared/data/3w)")
        datasets.append((
            "real", real, None,
            f"the developers' real 3W set in `{real}` (87 CSV files: real, simulated and "
            "hand-drawn instances; CRLF and LF; float-spelled labels; empty columns)",
        ))  # fmt: skip
    bench_dir().mkdir(parents=True, exist_ok=True)
    args.compiled = compile_package()
    print(args.compiled, file=sys.stderr)
    load_before = os.getloadavg()
    runs = []
    for name, folder, rows, about in datasets:
        bases, reps = [], []
        for i in range(args.repeat):  # alternating, so a change of load hits both alike
            base = run_child("baseline", str(folder))
            print(f"[{name}] (a) {i + 1}/{args.repeat} pyarrow.csv.read_csv: "
                  f"{base['wall_s']:.2f} s wall, {base['cpu_s']:.2f} CPU s, "
                  f"{base['peak_rss_mb']:.0f} MB (load {os.getloadavg()[0]:.2f})",
                  file=sys.stderr)  # fmt: skip
            bases.append(base)
            with tempfile.TemporaryDirectory(prefix="replay-", dir=bench_dir()) as home:
                rep = run_cli_replay(folder, Path(home))
            print(f"[{name}] (b) {i + 1}/{args.repeat} petrostream replay --speed 0: "
                  f"{rep['wall_s']:.2f} s wall, {rep['cpu_s']:.2f} CPU s, "
                  f"{rep['rate']:,.0f}/s, {rep['peak_rss_mb']:.0f} MB (load {rep['load']:.2f})",
                  file=sys.stderr)  # fmt: skip
            reps.append(rep)
        pairs = [r["rate"] / b["rate"] for b, r in zip(bases, reps, strict=True)]
        base, rep = median_of(bases), median_of(reps)
        print(f"[{name}] (c) the producer alone ...", file=sys.stderr)
        alone = run_child("producer", str(folder))
        print(f"    {alone['rate']:,.0f}/s", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="replay-", dir=bench_dir()) as home:
            print(f"[{name}] (d) replay --speed 0 --aggregate ...", file=sys.stderr)
            agg = run_cli_replay(folder, Path(home), aggregate=True)
        print(f"    {agg['rate']:,.0f}/s in {agg['stream_records']:,} stream records",
              file=sys.stderr)  # fmt: skip
        expected = rows if rows is not None else base["rows"]
        for got in (*reps, agg):
            if got["records_put"] != expected:
                raise SystemExit(
                    f"replay put {got['records_put']:,} readings, expected {expected:,}"
                )
        runs.append(
            {
                "name": name,
                "about": about,
                "base": base,
                "rep": rep,
                "alone": alone,
                "agg": agg,
                "pairs": pairs,
            }  # fmt: skip
        )
    section = render(args, runs, info, (load_before, os.getloadavg()))
    print(section)
    if not args.no_write:
        write_results(section)
        print(f"updated {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
