"""CLI verbs: run (the local stack's consumers: lake writer and detector)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import click

from petrostream.cli import settings_of

if TYPE_CHECKING:
    from petrostream.runtime.stack import StackSummary
    from petrostream.settings import Settings

COMPONENTS = ("lake", "detector")  # as petrostream.runtime.stack.COMPONENTS (not imported here)


def _say(line: str) -> None:
    click.echo(line, err=True)


def _describe(obj: Any) -> str:
    line = getattr(obj, "line", None)
    return str(line() if callable(line) else obj)


def run_until_signalled(settings: Settings, *, drain: bool, only: str | None) -> StackSummary:
    """Run the chosen consumers (`petrostream.runtime.stack`) until Ctrl-C / SIGTERM, or drained.

    Ctrl-C or SIGTERM set the stack's stop event: every consumer stops cleanly
    (the lake writer flushes and commits); a second Ctrl-C stops waiting. An
    error in one consumer stops the others and is raised once they have stopped.
    """
    from petrostream.runtime.stack import LAKE, Stack

    stop = threading.Event()
    detector_progress = _Throttled("detector")

    def progress(name: str, value: Any) -> None:
        # The lake writer reports every 2 s itself; the detector after every batch.
        if name == LAKE:
            _say(_describe(value))
        else:
            detector_progress(value)

    stack = Stack(settings, drain=drain, stop=stop, only=only, progress=progress)

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting
        _say("run: stopping (flushing and committing)...")
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals go to the main thread
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    what = " and ".join(stack.components)
    _say(f"run: {what} {'draining the stream' if drain else 'running; Ctrl-C stops'}")
    try:
        return stack.start().join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Throttled:
    """Print a component's progress at most every ``seconds`` (the detector reports per batch)."""

    def __init__(self, name: str, seconds: float = 2.0) -> None:
        self.name = name
        self.seconds = seconds
        self.next = 0.0

    def __call__(self, progress: Any) -> None:
        now = time.monotonic()
        if now >= self.next:
            self.next = now + self.seconds
            _say(f"{self.name}: {_describe(progress)}")


@click.command("run")
@click.option(
    "--drain", is_flag=True, help="Process what the stream holds, flush, commit and exit."
)
@click.option(
    "--only",
    type=click.Choice(COMPONENTS),
    default=None,
    help="Run one consumer only (default: the lake writer and the detector).",
)
@click.pass_context
def run_command(ctx: click.Context, drain: bool, only: str | None) -> None:
    """Run the local stack's consumers: the lake writer and the real-time detector.

    Runs until Ctrl-C (a clean stop: buffers are flushed and committed) or, with
    --drain, until everything in the stream is processed. Progress goes to
    stderr, the summary to stdout. Buffering follows PETROSTREAM_BUFFER_SECONDS,
    PETROSTREAM_BUFFER_BYTES (per partition), PETROSTREAM_BUFFER_TOTAL_BYTES
    (all partitions) and PETROSTREAM_PARQUET_CODEC.
    """
    settings = settings_of(ctx)
    started = time.monotonic()
    results = run_until_signalled(settings, drain=drain, only=only)
    elapsed = time.monotonic() - started
    lake = results.lake
    if lake is not None:
        click.echo(
            f"lake: {lake.records:,} records read, {lake.readings:,} readings and "
            f"{lake.rejects:,} rejects committed in {lake.files:,} files "
            f"({lake.bytes:,} bytes, {lake.commits:,} commits) in {elapsed:.1f} s"
        )
    detector = results.detector
    if detector is not None:
        lines = getattr(detector, "lines", None)
        for line in lines() if callable(lines) else [_describe(detector)]:
            click.echo(f"detector: {line}")
    sys.stdout.flush()


COMMANDS: list[click.Command] = [run_command]
