"""Alert latency: producer put -> notifier call, while sustaining N readings/s.

A producer (this process) puts ``--rate`` readings/s into the local stream for
``--seconds``, spread over ``--wells`` wells, every reading's ``ts`` = its put
time (as the replay producer injects it). At staggered moments one well at a
time steps its P-PDG by +20 bar; the detector (another process, the real
``run_detector``: local event source -> the Lambda handler -> outbox) raises a
``pressure_jump`` alert on the step reading, and a timing notifier records the
wall time of the call. Latency = call time - the step reading's ``ts``.

Baseline in the same run: the same producer and event source with a trivial
handler (base64 + JSON decode of each record, "notify" when it sees a step
reading); it measures what the stream and the poller cost by themselves. Each mode
also reports its consumer process's CPU (user + system, from its start to its stop)
per reading put: steadier than a p99 on a shared machine.

    .venv/bin/python benchmarks/bench_alert_latency.py --seconds 10

``--drain N`` measures what binds the latency instead: the CPU the detector (and
the trivial handler) spends per reading draining a stream pre-filled with N
readings of each well, in this process, with ``--batch-size`` records a batch;
``--bench-rules --steps`` with the live run's rules, spacing and steps (alerts):

    .venv/bin/python benchmarks/bench_alert_latency.py --wells 1000 --drain 40 \
        --batch-size 55 --bench-rules --steps
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from petrostream import record
from petrostream.settings import Settings
from petrostream.stream.base import PutRecord
from petrostream.stream.local import LocalStream

STEP_PA = 20e5  # +20 bar
BASE_PA = 2.0e7
# The bundled pressure_jump rule looks at 60 s windows, so it fires only after a
# minute of history per well; the benchmark uses the same rule with a 2 s window
# to keep the run short. It measures latency, not detection quality (see evaluate).
RULES = """
[engine]
sample_interval = "100 ms"

[[rule]]
name = "pressure_jump"
kind = "jump"
units = ["Pa"]
delta = "5 bar"
window = "2 s"
release = 0.5
clear = "2 s"
cooldown = "15 min"
severity = "critical"
"""


class TimingNotifier:
    """Appends (alert ts ms, call wall time) for every opened process alert."""

    name = "timing"

    def __init__(self, path: Path) -> None:
        self.out = path.open("a", buffering=1)

    def notify(self, alert: Any) -> None:
        if alert.status != "open" or alert.rule != "pressure_jump":
            return
        now = time.time()
        self.out.write(
            json.dumps({"well": alert.well_id, "ts": alert.ts.timestamp(), "at": now}) + "\n"
        )


def trivial_handler_factory(path: Path) -> Any:
    out = path.open("a", buffering=1)

    def handler(event: Any, context: Any) -> dict[str, list[Any]]:
        for item in event["Records"]:
            reading = json.loads(base64.b64decode(item["kinesis"]["data"]))
            if reading.get("bench_step"):
                ts = record.parse_ts(reading["ts"]).timestamp()
                out.write(
                    json.dumps({"well": reading["well_id"], "ts": ts, "at": time.time()}) + "\n"
                )
        return {"batchItemFailures": []}

    return handler


def detector_main(home: str, mode: str, out: str, stop: Any, ready: Any) -> None:
    from petrostream.runtime.detector import run_detector

    settings = Settings(home=Path(home), rules_file=Path(home) / "rules.toml")
    stop_event = threading.Event()
    threading.Thread(target=lambda: (stop.wait(), stop_event.set()), daemon=True).start()
    ready.set()
    started = os.times()
    if mode == "detector":
        run_detector(settings, drain=False, stop=stop_event, notifiers=[TimingNotifier(Path(out))])
    else:
        run_detector(
            settings,
            drain=False,
            stop=stop_event,
            handler=trivial_handler_factory(Path(out)),
            export_lake=False,
        )
    ended = os.times()
    cpu = ended.user - started.user + ended.system - started.system
    (Path(home) / "cpu.json").write_text(json.dumps({"cpu_s": cpu}))


def run(mode: str, *, rate: int, seconds: float, wells: int, warmup: float) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"bench-latency-{mode}-"))
    (home / "rules.toml").write_text(RULES)
    settings = Settings(home=home, rules_file=home / "rules.toml")
    stream = LocalStream(settings.stream_path, shard_count=settings.stream_shards)
    out = home / "latency.jsonl"
    ctx = mp.get_context("spawn")
    stop, ready = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=detector_main, args=(str(home), mode, str(out), stop, ready))
    proc.start()
    ready.wait(60)
    time.sleep(1.0)

    names = [f"WELL-{i:05d}" for i in range(wells)]
    total_s = warmup + seconds
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    step_times = {
        w: warmup + (i + 0.5) * seconds / wells for i, w in enumerate(names)
    }  # one step per well, spread over the measured window
    stepped: set[str] = set()
    put_count = 0
    start = time.time()
    next_tick = start
    i = 0
    lag_max = 0.0
    while (now := time.time()) - start < total_s:
        if now < next_tick:
            time.sleep(next_tick - now)
        lag_max = max(lag_max, time.time() - next_tick)
        next_tick += tick
        elapsed = time.time() - start
        batch = []
        ts = record.format_ts(datetime.now(UTC))
        for _ in range(per_tick):
            well = names[i % wells]
            i += 1
            value = BASE_PA + (i % 3) * 1000.0
            reading: dict[str, Any] = {"well_id": well, "ts": ts, "p_pdg": value}
            if elapsed >= step_times[well]:
                reading["p_pdg"] = value + STEP_PA
                if well not in stepped:
                    stepped.add(well)
                    reading["bench_step"] = 1
            batch.append(PutRecord(well, record.encode(reading)))
        results = stream.put_records(batch)
        put_count += sum(r.ok for r in results)
    produced_s = time.time() - start
    time.sleep(2.0)  # let the detector catch up
    stop.set()
    proc.join(30)
    if proc.is_alive():
        proc.kill()
    backlog = stream.describe()
    stream.close()
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    cpu_file = home / "cpu.json"  # the consumer process's CPU from its start to its stop
    cpu_s = json.loads(cpu_file.read_text())["cpu_s"] if cpu_file.exists() else None
    # ts has millisecond resolution: latencies are accurate to +-1 ms
    lat = sorted((r["at"] - r["ts"]) * 1000 for r in rows)
    return {
        "mode": mode,
        "home": str(home),
        "put_rate": put_count / produced_s,
        "producer_max_lag_ms": lag_max * 1000,
        "steps": len(stepped),
        "alerts": len(lat),
        "p50_ms": statistics.median(lat) if lat else None,
        "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else None,
        "max_ms": lat[-1] if lat else None,
        "consumer_cpu_s": cpu_s,
        "consumer_cpu_us_per_reading": round(cpu_s / put_count * 1e6, 1) if cpu_s else None,
        "backlog": backlog.get("consumers", backlog) if isinstance(backlog, dict) else None,
    }


def drain(
    mode: str,
    *,
    wells: int,
    per_well: int,
    batch_size: int,
    bench_rules: bool = False,
    steps: bool = False,
) -> dict[str, Any]:
    """CPU per reading of draining ``per_well`` readings of each of ``wells`` wells.

    ``bench_rules``: the live run's rules and spacing (``RULES``, a reading of each well
    every 100 ms, so its state holds 20 history samples as live); else the bundled
    rules, a reading a second. ``steps``: as live, each well's P-PDG steps +20 bar
    once (from a quarter of its readings on, staggered over the next quarter) and
    stays up, so the drain opens and closes alerts and follows incidents as the live
    run does.
    """
    import logging
    import resource
    from datetime import timedelta

    from petrostream.runtime.detector import run_detector

    logging.disable(logging.WARNING)  # the alert log lines
    home = Path(tempfile.mkdtemp(prefix=f"bench-drain-{mode}-"))
    settings = Settings(home=home, batch_size=batch_size)
    step = timedelta(seconds=1)
    if bench_rules:
        (home / "rules.toml").write_text(RULES)
        settings = Settings(home=home, batch_size=batch_size, rules_file=home / "rules.toml")
        step = timedelta(milliseconds=100)
    stream = LocalStream(settings.stream_path, shard_count=settings.stream_shards)
    start = datetime.now(UTC) - step * per_well
    first_step = per_well // 4
    spread = max(1, per_well // 4)
    for k in range(per_well):
        ts = record.format_ts(start + step * k)
        puts = []
        for i in range(wells):
            w = f"WELL-{i:05d}"
            value = BASE_PA + k % 3 * 1e3
            if steps and k >= first_step + i % spread:
                value += STEP_PA
            puts.append(PutRecord(w, record.encode({"well_id": w, "ts": ts, "p_pdg": value})))
        for j in range(0, len(puts), 500):
            stream.put_records(puts[j : j + 500])
    stream.close()
    before = resource.getrusage(resource.RUSAGE_SELF)
    handler = trivial_handler_factory(home / "latency.jsonl") if mode == "baseline" else None
    summary = run_detector(settings, drain=True, handler=handler, export_lake=False)
    if handler is not None:
        summary = None  # the trivial handler reports nothing
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    readings = wells * per_well
    return {"mode": mode, "wells": wells, "readings": readings, "batch_size": batch_size,
            "alerts": summary.alerts_raised if summary else None,
            "cpu_s": round(cpu, 2), "us_per_reading": round(cpu / readings * 1e6, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=10_000, help="readings per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the first step")
    parser.add_argument("--wells", type=int, default=50)
    parser.add_argument("--drain", type=int, default=0, help="readings per well to drain")
    parser.add_argument("--batch-size", type=int, default=100, help="records a batch (--drain)")
    parser.add_argument(
        "--bench-rules", action="store_true", help="--drain with the live run's rules and spacing"
    )
    parser.add_argument(
        "--steps", action="store_true", help="--drain: each well steps once, as live (alerts)"
    )
    args = parser.parse_args()
    if args.drain:
        print(
            f"# {platform.machine()} {platform.processor() or ''} python {sys.version.split()[0]}"
        )
        runs = [drain(m, wells=args.wells, per_well=args.drain, batch_size=args.batch_size,
                      bench_rules=args.bench_rules, steps=args.steps)
                for m in ("baseline", "detector")]  # fmt: skip
        for r in runs:
            print(json.dumps(r))
        print(f"CPU ratio detector/baseline: {runs[1]['cpu_s'] / runs[0]['cpu_s']:.2f}")
        return
    results = [
        run(mode, rate=args.rate, seconds=args.seconds, wells=args.wells, warmup=args.warmup)
        for mode in ("baseline", "detector")
    ]
    print(f"# {platform.machine()} {platform.processor() or ''} python {sys.version.split()[0]}")
    for r in results:
        r.pop("backlog", None)
        print(json.dumps(r))
    base, det = results
    if base["p99_ms"] and det["p99_ms"]:
        print(f"p99 ratio detector/baseline: {det['p99_ms'] / base['p99_ms']:.2f}")


if __name__ == "__main__":
    main()
