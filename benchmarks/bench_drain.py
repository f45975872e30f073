"""`run --drain`: the detector alone beside the lake writer alone, synthetic and real, one run.

Issue 12's goal: on the same machine and data, the local runtime's detector path
processes at least as many readings per second as the lake writer (the drain time of
the real set is set by the writer, not the detector). Each form:

1. a fleet is replayed once into a fresh home (``petrostream replay DIR --speed 0``,
   not timed): the **synthetic** form a fleet of ``--wells`` wells of 1-hour instances
   (`petrostream.dataset.synthesize`, seed 42) about the size of the real set; the
   **real** form the developers' real 3W set (``--real DIR``, default
   ``$PETROSTREAM_3W_DIR``, else ``../shared/data/3w``; ``none`` skips it);
2. the home is copied before each step, so both consumers start from the same stream;
3. ``petrostream --home COPY run --drain --only lake`` (the baseline) and ``... --only
   detector`` run in child processes, alternating ``--repeat`` times; wall time, CPU
   (user + system, `os.wait4`) and peak RSS are the child's own, imports included.

The ratio is detector / lake writer in CPU seconds (which the shared machine's load
moves much less than wall time) and in wall time. Prints a Markdown table; nothing is
written.

    nice .venv/bin/python benchmarks/bench_drain.py [--repeat 1] [--wells 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from real3w import real_3w_dir

CLI = [str(Path(sys.executable).with_name("petrostream"))]
CONSUMERS = ("lake", "detector")


@dataclass(frozen=True)
class Step:
    """One child's run: wall and CPU seconds, peak RSS, what its summary said."""

    wall_s: float
    cpu_s: float
    rss_mb: float
    readings: int
    alerts: int | None


def petrostream(home: Path, *args: str) -> str:
    """Run the CLI on ``home`` (not timed); its stdout, or exit with its stderr."""
    done = subprocess.run(
        [*CLI, "--home", str(home), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"petrostream {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def drain(home: Path, consumer: str) -> Step:
    """``run --drain --only consumer`` in a child; its own wall, CPU and peak RSS."""
    command = [*CLI, "--home", str(home), "run", "--drain", "--only", consumer]
    began = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {child.returncode}:\n{out[-2000:]}")
    readings = re.search(r"^(?:lake|detector): ([\d,]+) records", out, re.MULTILINE)
    alerts = re.search(r"^detector: [\d,]+ records, ([\d,]+) alerts", out, re.MULTILINE)
    return Step(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,
        readings=int(readings.group(1).replace(",", "")) if readings else 0,
        alerts=int(alerts.group(1).replace(",", "")) if alerts else None,
    )


def measure(source: Path, work: Path, repeat: int) -> dict[str, list[Step]]:
    """Replay ``source`` once, then drain copies of that home, the consumers alternating."""
    home = work / "replayed"
    petrostream(home, "replay", str(source), "--speed", "0", "--quiet")
    steps: dict[str, list[Step]] = {name: [] for name in CONSUMERS}
    for _ in range(repeat):
        for name in CONSUMERS:
            copy = work / f"copy-{name}"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(home, copy)
            steps[name].append(drain(copy, name))
            shutil.rmtree(copy, ignore_errors=True)
    return steps


def rows(data: str, steps: dict[str, list[Step]]) -> list[str]:
    """Table rows of one form: median wall and CPU of each consumer, the ratios."""
    med = {
        name: (
            statistics.median(s.wall_s for s in runs),
            statistics.median(s.cpu_s for s in runs),
        )
        for name, runs in steps.items()
    }
    lake_wall, lake_cpu = med["lake"]
    out = []
    for name in CONSUMERS:
        wall, cpu = med[name]
        last = steps[name][-1]
        out.append(
            f"| {data} | {'lake writer (baseline)' if name == 'lake' else 'detector'} | "
            f"{last.readings:,} | {wall:.1f} | {cpu:.1f} | {cpu / last.readings * 1e6:.1f} | "
            f"{last.readings / wall:,.0f} | {cpu / lake_cpu:.2f} | {wall / lake_wall:.2f} | "
            f"{max(s.rss_mb for s in steps[name]):.0f} | "
            f"{'' if last.alerts is None else f'{last.alerts:,}'} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=None, help="the real 3W set, or 'none'")
    parser.add_argument("--wells", type=int, default=20, help="wells of the synthetic fleet")
    parser.add_argument(
        "--readings", type=int, default=1_100_000, help="readings of the synthetic fleet"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each consumer")
    args = parser.parse_args()
    from petrostream.dataset import synthesize

    folder = real_3w_dir(args.real)
    load_before = os.getloadavg()
    table = [
        "| data | consumer | readings | wall s | CPU s | CPU µs/reading | readings/s (wall) "
        "| CPU ratio to lake | wall ratio to lake | peak RSS MB | alerts |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        fleet = Path(tmp) / "fleet"
        hours = args.readings / args.wells / 3600
        synthesize(fleet, wells=args.wells, hours=hours, seed=42, fmt="csv")
        (Path(tmp) / "synthetic").mkdir()
        steps = measure(fleet, Path(tmp) / "synthetic", args.repeat)
        table += rows(f"synthetic ({args.wells} wells, 1-hour instances)", steps)
        if folder is not None:
            (Path(tmp) / "real").mkdir()
            table += rows(f"real (`{folder}`)", measure(folder, Path(tmp) / "real", args.repeat))
    load_after = os.getloadavg()
    print(
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work, Python {platform.python_version()}; "
        f"load average before {'/'.join(f'{x:.2f}' for x in load_before)}, "
        f"after {'/'.join(f'{x:.2f}' for x in load_after)}; median of {args.repeat} "
        f"run(s) each, consumers alternating"
    )
    if folder is None:
        print("real form skipped: no real 3W set (--real DIR or PETROSTREAM_3W_DIR)")
    print("\n".join(table))


if __name__ == "__main__":
    main()
