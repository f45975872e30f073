"""CLI verbs: demo (the quick start: the whole local pipeline on the bundled sample).

The demo is a list of stages, each a small function over a shared `DemoRun`
that calls library code: prepare the home, gather the bundled real 3W sample
and a small synthetic fleet, start the dashboard, replay the sample at an
accelerated pace while the lake writer and the detector consume the stream in
threads (so alerts appear live), wait for them to catch up, crawl the lake, run
the seed's query, print a summary and keep serving the dashboard until Ctrl-C.

Time: at ``--speed N`` the replay keeps the files' real spacing in event time
(``ts`` one second apart, as the detectors expect) but runs N times faster on
the wall clock; the readings end at about the moment the replay ends, so "the
last hour" means the replayed hour (`petrostream.producer.clock`). ``--speed 0``
replays as fast as possible.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from petrostream.schema import SYNTHETIC_FIRST_WELL

if TYPE_CHECKING:
    from petrostream.dashboard.app import BackgroundServer
    from petrostream.lake.writer import WriterStats
    from petrostream.producer import Progress, ReplaySummary
    from petrostream.query.base import QueryResult
    from petrostream.runtime.detector import DetectorSummary
    from petrostream.settings import Settings

SYNTH_WELLS = 3  # a few, so the real wells are most of what the demo shows
SYNTH_FIRST_WELL = SYNTHETIC_FIRST_WELL  # WELL-90001 on: never a 3W well; tagged "synthetic"
SYNTH_HOURS = 1.0
SYNTH_SEED = 42
DEFAULT_SPEED: Final = 60.0
FLUSH_SECONDS: Final = 5.0  # the lake writer flushes often so the dashboard fills live
PROGRESS_SECONDS: Final = 2.0
CATCH_UP_TIMEOUT_S: Final = 300.0
SEED_QUERY: Final = "avg_pressure_last_hour"
EXIT_INTERRUPTED: Final = 130


@dataclass(frozen=True)
class DemoOptions:
    """What the command line chose."""

    speed: float = DEFAULT_SPEED
    serve: bool = True
    host: str = "127.0.0.1"
    port: int = 8050


@dataclass
class DemoRun:
    """What the stages share: settings, the files to replay, and what each stage found."""

    settings: Settings
    resources: ExitStack
    options: DemoOptions = field(default_factory=DemoOptions)
    fresh_home: bool = True
    paths: list[Path] = field(default_factory=list)
    real_instances: int = 0
    real_wells: int = 0
    replay: ReplaySummary | None = None
    stream_info: dict[str, Any] | None = None
    lake: WriterStats | None = None
    detector: DetectorSummary | None = None
    server: BackgroundServer | None = None
    lake_readings: int | None = None
    lake_rejects: int = 0
    query: QueryResult | None = None


Stage = tuple[str, Callable[[DemoRun], None]]


def _say(line: str) -> None:
    click.echo(line, err=True)


# ------------------------------------------------------------------ stages


def prepare_home(run: DemoRun) -> None:
    """Create the state folder if there is none."""
    home = run.settings.home
    run.fresh_home = not home.exists() or not any(home.iterdir())
    home.mkdir(parents=True, exist_ok=True)
    click.echo(f"    home {home.resolve()} ({'new' if run.fresh_home else 'existing'})")


def bundled_sample(run: DemoRun) -> None:
    """The real 3W instances shipped in the package (petrostream/data/3w; its README lists them)."""
    from importlib.resources import as_file, files

    from petrostream.dataset import instance_of

    folder = run.resources.enter_context(as_file(files("petrostream") / "data" / "3w"))
    csvs = sorted(Path(folder).rglob("*.csv"))
    wells = {instance_of(path).well_id for path in csvs}
    classes = ", ".join(sorted({path.parent.name for path in csvs}))
    click.echo(
        f"    {len(csvs)} real 3W instances from {len(wells)} wells "
        f"(event classes {classes}) in {folder}"
    )
    run.paths.extend(csvs)
    run.real_instances = len(csvs)
    run.real_wells = len(wells)


def synthetic_fleet(run: DemoRun) -> None:
    """A small synthetic fleet (deterministic), written once under <home>/sample/synth."""
    from petrostream.dataset import synthesize

    out = run.settings.home / "sample" / "synth"
    existing = sorted(out.rglob("*.csv")) if out.exists() else []
    if len(existing) >= SYNTH_WELLS:
        files = existing
        click.echo(f"    {len(files)} synthetic instances already in {out}")
    else:
        files = synthesize(
            out, wells=SYNTH_WELLS, hours=SYNTH_HOURS, seed=SYNTH_SEED, fmt="csv",
            first_well=SYNTH_FIRST_WELL,
        )  # fmt: skip
        click.echo(
            f"    wrote {len(files)} synthetic instances (wells WELL-{SYNTH_FIRST_WELL:05d} on, "
            f"{SYNTH_WELLS} wells x "
            f"{SYNTH_HOURS:g} h, seed {SYNTH_SEED}) to {out}"
        )
    run.paths.extend(files)


def start_dashboard(run: DemoRun) -> None:
    """Serve the dashboard from now on, so the replay can be watched live."""
    from petrostream.dashboard.app import BackgroundServer

    server = BackgroundServer(run.settings, host=run.options.host, port=run.options.port)
    run.server = server.start()
    run.resources.callback(server.stop)
    click.secho(f"    dashboard: {server.url}  (open it now to watch the replay)", fg="cyan")


def replay_sample(run: DemoRun) -> None:
    """Replay the sample into the local stream while the lake writer and the detector consume it.

    The consumers run in threads from the start; once the replay is done the
    stage waits until both have caught up with the stream, then stops them
    (the lake writer flushes and commits) and keeps their summaries.
    """
    from petrostream.dataset import discover
    from petrostream.producer import SystemClock, rejects_file_for, replay
    from petrostream.stream.factory import open_stream

    instances = discover(run.paths)
    speed = run.options.speed
    now = datetime.now(UTC)
    began = time.monotonic()
    # The replay clock keeps the files' spacing in ts and places the span so that it
    # ends about when the replay does: the last hour is the replayed hour.
    clock = SystemClock()
    pace = f"{speed:g}x real time" if speed else "as fast as possible"
    click.echo(f"    {len(instances)} instances at {pace}; lake writer and detector running")
    consumers = Consumers(run.settings)
    reporter = Reporter(consumers)
    run.resources.callback(reporter.stop)
    run.resources.callback(consumers.stop)
    consumers.start()
    reporter.start()
    stream = open_stream(run.settings, "local")
    try:
        run.replay = replay(
            instances,
            stream,
            speed=speed,
            clock=clock,
            rejects_path=rejects_file_for(run.settings.home, now),
            progress=reporter.on_replay,
            progress_interval=PROGRESS_SECONDS,
            # No forked reader: this process runs threads (consumers, dashboard), and a
            # fork would copy their locks; the sample is small, one process keeps up.
            pipeline=False,
        )
    finally:
        stream.close()
    s = run.replay
    reporter.replay_done(s)
    click.echo(
        f"    {s.files} instances, {s.records_put:,} readings put in "
        f"{time.monotonic() - began:.1f} s, "
        f"{s.reject_count:,} rejects" + (f" (see {s.rejects_path})" if s.rejects_path else "")
    )
    for well, count in sorted(s.per_well.items()):
        click.echo(f"      {well:<12} {count:>8,}")
    consumers.wait_caught_up(timeout=CATCH_UP_TIMEOUT_S)
    reporter.stop()
    run.lake, run.detector = consumers.stop()
    click.echo(f"    {run.lake.line() if run.lake else 'lake: not run'}")
    if run.detector is not None:
        click.echo(f"    detector: {_detector_line(run.detector)}")


def show_stream(run: DemoRun) -> None:
    """What the local stream now holds (as `petrostream stream describe`)."""
    from petrostream.stream.local import LocalStream

    with LocalStream(run.settings.stream_path, create=False) as stream:
        run.stream_info = stream.describe()
    info = run.stream_info
    total = sum(shard["records"] for shard in info["shards"])
    click.echo(
        f"    stream {info['name']!r} at {info['path']}: {total:,} records, "
        f"{len(info['shards'])} shards, retention {info['retention_hours']:g} h"
    )
    for consumer in info["consumers"]:
        click.echo(
            f"      {consumer['consumer']:<12} {consumer['shard_id']}  lag "
            f"{consumer['lag_records']:,} records"
        )


def crawl_lake(run: DemoRun) -> None:
    """Catalog the lake (as `petrostream crawl`)."""
    from petrostream.catalog.crawler import Crawler
    from petrostream.catalog.local import LocalCatalogStore

    store = LocalCatalogStore(run.settings.catalog_path)
    catalog, report = Crawler(run.settings.lake_uri, home=run.settings.home).crawl(store.load())
    store.save(catalog)
    click.echo(f"    {report.summary()}")
    for table in catalog.tables.values():
        click.echo(
            f"      {catalog.database}.{table.name}: {len(table.columns)} columns, "
            f"{len(table.partitions)} partitions, {table.file_count} files, {table.rows:,} rows"
        )


def seed_query(run: DemoRun) -> None:
    """Count the lake by SQL and run the seed's question, average pressure per event type."""
    from petrostream.query.base import named_query
    from petrostream.query.duckdb_engine import DuckDBEngine

    engine = DuckDBEngine.from_catalog_file(run.settings.catalog_path)
    try:
        tables = engine.catalog.tables
        if "sensors" in tables:
            counted = engine.execute("SELECT count(*) FROM petrostream_db.sensors")
            run.lake_readings = int(counted.rows[0][0])
        if "rejects" in tables:
            counted = engine.execute("SELECT count(*) FROM petrostream_db.rejects")
            run.lake_rejects = int(counted.rows[0][0])
        named = named_query(SEED_QUERY)
        click.echo(f"    {SEED_QUERY}: {named.description}")
        run.query = engine.execute(named.sql, params=named.bind({}))
    finally:
        engine.close()
    click.echo(f"    {len(run.query.rows)} event types answered (in the summary, in bar)")


def print_summary(run: DemoRun) -> None:
    """The numbers that say the pipeline kept every reading, and what it found."""
    replayed = run.replay
    if replayed is None:
        return
    detector = run.detector
    synthetic = len(run.paths) - run.real_instances
    dead = detector.dead_letters if detector else 0
    lake_readings = run.lake_readings if run.lake_readings is not None else 0
    rejects = replayed.reject_count + run.lake_rejects
    rows = [
        (
            "rows read",
            f"{replayed.rows_read + replayed.reject_count:,}",
            f"{replayed.files} instances: {run.real_instances} of them real 3W instances "
            f"from {run.real_wells} wells, {synthetic} synthetic",
        ),
        (
            "rejects",
            f"{rejects:,}",
            f"replay {replayed.reject_count:,}, lake {run.lake_rejects:,}, "
            f"detector dead letters {dead:,}",
        ),
        ("readings in", f"{replayed.records_put:,}", "records put on the stream"),
        (
            "readings in the lake",
            f"{lake_readings:,}",
            "SELECT count(*) FROM sensors" + ("" if run.fresh_home else ", earlier runs too"),
        ),
    ]
    if detector is not None:
        by_rule = ", ".join(f"{k} {v:,}" for k, v in sorted(detector.alerts_by_rule.items()))
        rows.append(("alerts", f"{detector.alerts_raised:,}", by_rule or "none"))
    click.secho("demo summary", bold=True)
    for name, value, note in rows:
        click.echo(f"  {name:<21} {value:>10}  ({note})")
    if run.query is not None:
        click.echo(f"  {SEED_QUERY}:")
        for record in run.query.records():
            p_pdg, p_tpt = record.get("avg_p_pdg"), record.get("avg_p_tpt")
            click.echo(
                f"    {record.get('event_type')!s:<28} {record.get('readings', 0):>8,} readings  "
                f"P-PDG {_bar(p_pdg)}  P-TPT {_bar(p_tpt)}"
            )
    lost = run.fresh_home and lake_readings != replayed.records_put
    if lost:
        click.secho(
            f"warning: {replayed.records_put:,} readings put but {lake_readings:,} in the lake",
            fg="yellow",
            err=True,
        )


def serve_until_stopped(run: DemoRun) -> None:
    """Keep the dashboard up until Ctrl-C."""
    if run.server is None:
        return
    click.secho(f"dashboard: {run.server.url}  (Ctrl-C stops)", fg="cyan", bold=True)
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        _say("dashboard stopped")


def stages_for(options: DemoOptions) -> list[Stage]:
    """The stages of one demo run, in order (the dashboard ones only when serving)."""
    stages: list[Stage] = [
        ("prepare the home", prepare_home),
        ("bundled real 3W sample", bundled_sample),
        ("synthetic fleet", synthetic_fleet),
    ]
    if options.serve:
        stages.append(("dashboard", start_dashboard))
    stages += [
        ("replay into the local stream", replay_sample),
        ("the local stream", show_stream),
        ("crawl the lake", crawl_lake),
        ("the seed's query", seed_query),
        ("summary", print_summary),
    ]
    if options.serve:
        stages.append(("serve the dashboard", serve_until_stopped))
    return stages


STAGES: list[Stage] = stages_for(DemoOptions())


def run_stages(
    settings: Settings, stages: list[Stage] | None = None, options: DemoOptions | None = None
) -> DemoRun:
    """Run the demo stages in order; return what they found.

    Whatever happens (an error, Ctrl-C), the stages' resources are released on
    the way out: the consumers stop cleanly (the lake writer commits what it
    holds) and the dashboard shuts down.
    """
    options = options or DemoOptions()
    stages = stages_for(options) if stages is None else stages
    with ExitStack() as resources:
        run = DemoRun(settings=settings, resources=resources, options=options)
        for number, (title, stage) in enumerate(stages, start=1):
            click.secho(f"[{number}/{len(stages)}] {title}", bold=True)
            stage(run)
        return run


# ------------------------------------------------------------------ pieces


class Consumers:
    """The lake writer and the detector of `petrostream run` (a `Stack`), until stopped."""

    def __init__(self, settings: Settings) -> None:
        from petrostream.runtime.stack import Stack

        self.settings = settings.model_copy(update={"buffer_seconds": FLUSH_SECONDS})
        self.stop_event = threading.Event()
        self.stack = Stack(self.settings, drain=False, stop=self.stop_event)

    @property
    def lake(self) -> WriterStats | None:
        """The lake writer's latest counters (None before its first report)."""
        return self.stack.summary.lake

    @property
    def detector(self) -> DetectorSummary | None:
        """The detector's latest summary (None before its first report)."""
        return self.stack.summary.detector

    def start(self) -> None:
        """Start both consumers (from their committed checkpoints)."""
        self.stack.start()

    def lag(self) -> dict[str, int]:
        """Records each consumer still has to read, from the stream's checkpoints."""
        from petrostream.lake.writer import CONSUMER as LAKE
        from petrostream.runtime.event_source import CONSUMER as DETECTOR
        from petrostream.stream.local import LocalStream

        with LocalStream(self.settings.stream_path, create=False) as stream:
            info = stream.describe()
        total = {"lake": 0, "detector": 0}
        seen: dict[str, set[str]] = {LAKE: set(), DETECTOR: set()}
        for row in info["consumers"]:
            name = {LAKE: "lake", DETECTOR: "detector"}.get(row["consumer"])
            if name is not None:
                total[name] += int(row["lag_records"])
                seen[row["consumer"]].add(row["shard_id"])
        for consumer, name in ((LAKE, "lake"), (DETECTOR, "detector")):
            # A shard with records and no checkpoint yet: everything on it is lag.
            for shard in info["shards"]:
                if shard["records"] and shard["shard_id"] not in seen[consumer]:
                    total[name] += int(shard["records"])
        return total

    def wait_caught_up(self, *, timeout: float) -> None:
        """Return once both consumers have read and committed everything in the stream.

        Raises:
            the error of a consumer that failed.
            TransientError: they did not catch up within ``timeout`` seconds.
        """
        from petrostream.errors import TransientError

        deadline = time.monotonic() + timeout
        while True:
            self.stack.raise_errors()
            if not any(self.lag().values()):
                return
            if time.monotonic() > deadline:
                raise TransientError(
                    f"the consumers did not catch up with the stream in {timeout:g} s "
                    f"(lag {self.lag()}); `petrostream run --drain` finishes the job"
                )
            time.sleep(0.25)

    def stop(self) -> tuple[WriterStats | None, DetectorSummary | None]:
        """Stop both (the lake writer flushes and commits), wait, return their summaries.

        Safe to call twice. Raises the first consumer error, if any.
        """
        summary = self.stack.stop()
        return summary.lake, summary.detector


class Reporter:
    """One progress line on stderr every few seconds: replay, lake, detector."""

    def __init__(self, consumers: Consumers, interval: float = PROGRESS_SECONDS) -> None:
        self.consumers = consumers
        self.interval = interval
        self.replay: Progress | None = None
        self.replayed: ReplaySummary | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-progress", daemon=True)

    def on_replay(self, progress: Progress) -> None:
        """The replay's progress callback."""
        self.replay = progress

    def replay_done(self, summary: ReplaySummary) -> None:
        """The replay finished: show its final counts from now on."""
        self.replayed = summary

    def start(self) -> None:
        """Start printing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop printing (prints one last line)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            _say(self.line())
        _say(self.line())

    def line(self) -> str:
        """The current state in one line."""
        parts = []
        r = self.replay
        done = self.replayed
        if done is not None:
            parts.append(f"replay done, {done.records_put:,} put")
        elif r is not None:
            parts.append(
                f"replay {r.records_put:,} put, files {r.files_done}/{r.files}"
                + (f", {r.rejects:,} rejects" if r.rejects else "")
            )
        lake = self.consumers.lake
        if lake is not None:
            parts.append(
                f"lake {lake.readings:,} readings in {lake.files:,} files"
                + (f", {lake.rejects:,} rejects" if lake.rejects else "")
            )
        detector = self.consumers.detector
        if detector is not None:
            parts.append(
                f"detector {detector.records_processed:,} read, {detector.alerts_raised:,} alerts"
            )
        return "  progress: " + (" | ".join(parts) if parts else "starting")


def _detector_line(summary: DetectorSummary) -> str:
    by_rule = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.alerts_by_rule.items()))
    return (
        f"{summary.records_processed:,} records, {summary.alerts_raised:,} alerts"
        + (f" ({by_rule})" if by_rule else "")
        + f", {summary.dead_letters:,} dead letters"
    )


def _bar(pascal: Any) -> str:
    return "     n/a" if pascal is None else f"{float(pascal) / 1e5:8.1f} bar"


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM stops the demo the way Ctrl-C does (clean stop, exit code 130)."""
    pid = os.getpid()

    def interrupt(*_: object) -> None:
        if os.getpid() != pid:  # a forked child inherited this handler: just end
            os._exit(128 + signal.SIGTERM)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; its caller handles them
        return
    previous_term = signal.signal(signal.SIGTERM, interrupt)
    # Ctrl-C must stop the demo even when started with SIGINT ignored (e.g. `cmd &`).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


@click.command("demo")
@click.option(
    "--speed",
    type=click.FloatRange(min=0.0),
    default=DEFAULT_SPEED,
    show_default=True,
    help="Replay pace: N times real time (the sample's hour takes 60/N minutes); 0 = no waiting.",
)
@click.option(
    "--no-serve", is_flag=True, help="Stop after the summary; do not serve the dashboard."
)
@click.option("--port", type=click.IntRange(1, 65535), default=8050, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Dashboard address.")
@click.pass_context
def demo_command(ctx: click.Context, speed: float, no_serve: bool, port: int, host: str) -> None:
    """Run the whole local pipeline on the bundled sample, print a summary, serve the dashboard.

    Replays the bundled real 3W instances and a small synthetic fleet (3 wells
    x 1 h, WELL-90001 on) into the local stream under --home while the lake writer and the
    detector consume it, crawls the lake, runs the seed's query (average
    pressure per event type over the last hour), prints a summary and serves
    the dashboard until Ctrl-C (--no-serve stops after the summary). Ctrl-C
    stops every part cleanly at any time.
    """
    from petrostream.cli import settings_of
    from petrostream.extras import require

    if not no_serve:
        require("dashboard", "petrostream demo (it serves the dashboard; --no-serve does not)")
    options = DemoOptions(speed=speed, serve=not no_serve, host=host, port=port)
    try:
        with _sigterm_as_ctrl_c():
            run = run_stages(settings_of(ctx), options=options)
    except KeyboardInterrupt as stop:
        summary = getattr(stop, "summary", None)
        done = f" after {summary.records_put:,} readings put" if summary is not None else ""
        click.secho(
            f"interrupted: stopped cleanly{done}; the consumers committed what they had read",
            fg="yellow",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if run.replay is not None and not options.serve:
        click.secho(
            f"demo done: {run.replay.records_put:,} readings from {run.replay.files} instances "
            f"went through the pipeline under {run.settings.home}; "
            f"`petrostream --home {run.settings.home} serve` shows them",
            fg="green",
        )


COMMANDS: list[click.Command] = [demo_command]
