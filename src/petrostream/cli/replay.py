"""CLI verbs: replay (the producer)."""

from __future__ import annotations

import atexit
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from petrostream.producer import Progress, ReplaySummary
    from petrostream.settings import Settings

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


_exit_fast_armed = False


def _exit_without_collecting() -> None:
    """At interpreter exit, let the final garbage collection skip every object alive.

    The exit of a replay's process spent ~0.13 s of a ~2.2 s replay of the real set
    tearing down, most of it the final collection over every module and object;
    ``gc.freeze()`` in an exit handler (run before that collection) takes it to
    ~0.04 s. Nothing is skipped that matters: the process is ending, and files,
    connections and the reader process were closed before.
    """
    global _exit_fast_armed
    if not _exit_fast_armed:
        _exit_fast_armed = True
        atexit.register(gc.freeze)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the replay stands so it stops as cleanly as on Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def print_progress(progress: Progress) -> None:
    """One progress line on stderr: rows/s, files done, rejects."""
    click.echo(
        f"replay: {progress.records_put:,} records put "
        f"({progress.rate:,.0f}/s), {progress.rows_read:,} rows read, "
        f"files {progress.files_done}/{progress.files}, "
        f"rejects {progress.rejects:,}, retries {progress.retries:,}",
        err=True,
    )


def print_summary(summary: ReplaySummary, *, per_instance: bool = True) -> None:
    """The end-of-run summary on stdout."""
    for line in summary.lines():
        click.echo(line)
    if per_instance and summary.per_instance:
        click.echo("records put per instance:")
        for instance_id, count in summary.per_instance.items():
            lost = summary.undelivered.get(instance_id)
            suffix = f"  ({lost:,} not delivered)" if lost else ""
            click.echo(f"  {instance_id}  {count:,}{suffix}")


def run_replay(
    settings: Settings,
    paths: list[Path],
    *,
    speed: float,
    target: str,
    clock_mode: str = "now",
    limit_rows: int | None = None,
    progress: bool = True,
    pipeline: bool | None = None,
    resume: bool = False,
    force: bool = False,
    aggregate: bool = False,
) -> ReplaySummary:
    """Discover ``paths``, open the stream and replay at ``speed``, with progress on stderr.

    ``pipeline`` (read and encode in a forked process) defaults to on when this
    process runs no other thread. The replay ledger (`petrostream.producer.ledger`)
    skips instances an earlier replay put; ``resume`` continues a replay that did not
    finish, exactly once; ``force`` replays everything given again; ``aggregate`` packs
    the readings bound for one shard into KPL aggregated records.

    Raises:
        DatasetError: a path is not a 3W file or folder.
        ConfigError: files were partly put by an unfinished replay (see ``resume``).
        DeliveryError, ReplayInterrupted: as `petrostream.producer.replay`.
    """
    import threading
    from datetime import UTC, datetime

    from petrostream.arrow_startup import skip_pandas_probe

    # Before the producer's first Arrow conversion: pandas' import alone took ~1 s of
    # a replay of the real 3W set (6 s), and nothing here hands pandas to pyarrow.
    skip_pandas_probe()

    from petrostream.dataset import discover
    from petrostream.producer import SystemClock, rejects_file_for, replay
    from petrostream.producer.ledger import Ledger, plan
    from petrostream.stream.factory import open_stream

    found = discover(paths)
    clock = SystemClock()
    stream = open_stream(settings, backend=target)
    ledger = Ledger(settings.replay_ledger_path, f"{target}:{stream.name}")
    try:
        todo = plan(ledger, found, stream, resume=resume, force=force)
        instances = todo.instances
        run_id = todo.run.run_id if todo.run else None

        def begin(schedule: Any) -> None:
            nonlocal run_id
            if run_id is None:
                run_id = ledger.begin(instances, schedule, stream, clock.now())

        if todo.run is not None and todo.run.schedule_args.get("speed") != speed:
            click.echo(
                f"resume: continuing at the unfinished replay's --speed "
                f"{todo.run.schedule_args['speed']:g} and clock {todo.run.schedule_args['mode']}",
                err=True,
            )
        summary = replay(
            instances,
            stream,
            speed=speed if todo.run is None else todo.run.speed,
            clock=clock,
            clock_mode=clock_mode,
            limit_rows=limit_rows,
            rejects_path=rejects_file_for(settings.home, datetime.now(UTC)),
            progress=print_progress if progress else None,
            # A forked reader is safe only in a process with no other thread.
            pipeline=threading.active_count() == 1 if pipeline is None else pipeline,
            skip=todo.skip,
            schedule=todo.run.schedule([ledger.key(i) for i in instances]) if todo.run else None,
            on_start=begin,
            aggregate=aggregate,
        )
        summary.skipped = todo.skipped
        if todo.skip:
            summary.resumed = {
                i.instance_id: n for i, n in zip(instances, todo.skip, strict=True) if n
            }
        if run_id is not None and limit_rows is None:
            failed = {str(i.path) for i in instances} & set(summary.failed_files)
            ledger.finish(
                run_id,
                [i for i in instances if str(i.path) not in failed],
                [i for i in instances if str(i.path) in failed],
            )
        return summary
    finally:
        ledger.close()
        stream.close()


@click.command("replay")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--speed",
    type=float,
    default=1.0,
    show_default=True,
    help="Wall-clock pace: 1 = real time, N = N times faster, 0 = as fast as possible. "
    "Readings keep their original spacing in ts at every speed.",
)
@click.option(
    "--clock",
    "clock_mode",
    type=click.Choice(["now", "source"]),
    default="now",
    show_default=True,
    help="now: ts is recent event time (the span ends by the time it is put, never in the "
    "future; at speed 1 it is live); source: ts is the file's own timestamp.",
)
@click.option(
    "--target",
    type=click.Choice(["local", "kinesis"]),
    default="local",
    show_default=True,
    help="local: the SQLite stream under --home; kinesis: AWS (honours AWS_ENDPOINT_URL).",
)
@click.option("--stream-name", default=None, help="Stream name. [default: settings]")
@click.option(
    "--limit-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many readings.",
)
@click.option(
    "--fault-rate",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Local stream only: fraction of put records to refuse, to exercise retries.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue a replay of these files that did not finish (killed, Ctrl-C, full disk): "
    "every reading exactly once.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replay files an earlier replay already put (their readings are put again).",
)
@click.option(
    "--aggregate",
    is_flag=True,
    help="Pack the readings of each put bound for one shard into one KPL aggregated record "
    "(Kinesis bills 25 KB PUT units by size: ~60 readings per unit instead of one each).",
)
@click.option("--quiet", is_flag=True, help="No progress lines, no per-instance table.")
@click.pass_context
def replay_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    speed: float,
    clock_mode: str,
    target: str,
    stream_name: str | None,
    limit_rows: int | None,
    fault_rate: float | None,
    resume: bool,
    force: bool,
    aggregate: bool,
    quiet: bool,
) -> None:
    """Replay 3W files (CSV 1.x or Parquet 2.x; files or folders) into the stream.

    One JSON record per reading, keyed by well_id; the wells are interleaved in
    time as a fleet. Every reading keeps its original spacing in `ts` whatever
    --speed, which paces only the wall clock. With --clock now (default) the
    instances of one well follow each other (15 min apart) and `ts` is never later
    than the moment the reading is put: at --speed 0 the replayed history ends
    when the replay starts, at --speed N > 1 it ends when the replay ends, at
    --speed 1 it is live. --clock source keeps the files' timestamps (2013-2018
    for 3W). `source_ts` is always the file's timestamp.

    A ledger under the home remembers what was put: files an earlier replay put are
    skipped (--force replays them again); a replay that did not finish is continued
    with --resume, every reading exactly once.

    Rejected rows are counted and written to <home>/rejects/replay-<time>.jsonl;
    an unreadable file is reported and skipped. Ctrl-C stops cleanly and says
    how far it got (exit code 130; SIGTERM: 143).
    """
    import signal

    if "numpy" not in sys.modules:
        # The replay does no linear algebra: OpenBLAS's worker threads, started when
        # NumPy is imported, would only spin (~0.05-0.1 CPU s taken from the two
        # processes that read and put). A value the user set is kept.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from petrostream.arrow_startup import skip_pandas_probe

    # Before anything imports the producer: its encoder converts values at import, and
    # pyarrow's first conversion would import pandas (~0.3 s of a 2.9 s replay).
    skip_pandas_probe()

    from petrostream.cli import settings_of
    from petrostream.errors import ConfigError
    from petrostream.producer import DeliveryError, ReplayInterrupted, check_speed

    speed = check_speed(speed)
    _exit_without_collecting()
    if resume and force:
        raise ConfigError("--resume and --force contradict each other: give one of them")
    # Ctrl-C must stop the replay even when started with SIGINT ignored (e.g. `cmd &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    settings = settings_of(ctx)
    overrides: dict[str, Any] = {}
    if stream_name is not None:
        overrides["stream_name"] = stream_name
    if fault_rate is not None:
        if target != "local":
            raise ConfigError(
                "--fault-rate applies to the local stream only: drop it or use --target local"
            )
        overrides["fault_rate"] = fault_rate
    if overrides:
        settings = settings.model_copy(update=overrides)
    try:
        summary = run_replay(
            settings,
            list(paths),
            speed=speed,
            target=target,
            clock_mode=clock_mode,
            limit_rows=limit_rows,
            progress=not quiet,
            resume=resume,
            force=force,
            aggregate=aggregate,
        )
    except ReplayInterrupted as stop:
        print_summary(stop.summary, per_instance=True)
        terminated = isinstance(stop.__context__, _Terminated)
        click.secho(
            f"{'terminated' if terminated else 'interrupted'}: stopped cleanly after "
            f"{stop.summary.records_put:,} records put (per instance above); nothing "
            "half-written; the same replay with --resume continues it",
            fg="yellow",
            err=True,
        )
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    except DeliveryError as failure:
        print_summary(failure.summary, per_instance=True)
        raise
    print_summary(summary, per_instance=not quiet)
    if summary.failed_files and len(summary.failed_files) == summary.files:
        from petrostream.errors import DatasetError

        raise DatasetError(
            f"none of the {summary.files} files could be replayed (SKIPPED FILE lines above)"
        )


COMMANDS: list[click.Command] = [replay_command]
