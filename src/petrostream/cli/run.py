"""CLI verbs: run (the local stack's consumers: lake writer and detector)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import click

from petrostream.cli import settings_of

COMPONENTS = ("lake", "detector")


def _say(line: str) -> None:
    click.echo(line, err=True)


def _describe(obj: Any) -> str:
    line = getattr(obj, "line", None)
    return str(line() if callable(line) else obj)


def _detector_runner() -> Callable[..., Any] | None:
    """The detector's entry point, or None while it is not installed."""
    try:
        from petrostream.runtime.detector import run_detector
    except ImportError:
        return None
    return run_detector


def _lake_runner() -> Callable[..., Any]:
    from petrostream.lake.service import run_lake_writer

    return run_lake_writer


def run_stack(settings: Any, *, drain: bool, only: str | None) -> dict[str, Any]:
    """Run the chosen consumers concurrently until Ctrl-C / SIGTERM, or drained.

    Returns each component's summary by name. On Ctrl-C every component stops
    cleanly (the lake writer flushes and commits). An error in one stops the others
    and is raised once they have stopped.
    """
    from petrostream.errors import ConfigError

    runners: dict[str, Callable[..., Any]] = {}
    if only in (None, "lake"):
        runners["lake"] = _lake_runner()
    if only in (None, "detector"):
        detector = _detector_runner()
        if detector is not None:
            runners["detector"] = detector
        elif only == "detector":
            raise ConfigError("the detector is not installed in this build (petrostream.runtime)")
        else:
            _say("run: the detector is not available in this build; running the lake writer only")
    stop = threading.Event()
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def work(name: str, runner: Callable[..., Any]) -> None:
        progress = (lambda p: _say(_describe(p))) if name == "lake" else _Throttled(name)
        try:
            results[name] = runner(settings, drain=drain, stop=stop, progress=progress)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors[name] = exc
            stop.set()

    threads = [
        threading.Thread(target=work, args=(name, runner), name=f"run-{name}", daemon=True)
        for name, runner in runners.items()
    ]

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting
        _say("run: stopping (flushing and committing)...")
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals go to the main thread
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    what = " and ".join(runners)
    _say(f"run: {what} {'draining the stream' if drain else 'running; Ctrl-C stops'}")
    try:
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for exc in errors.values():
        raise exc
    return results


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
    PETROSTREAM_BUFFER_BYTES and PETROSTREAM_PARQUET_CODEC.
    """
    settings = settings_of(ctx)
    started = time.monotonic()
    results = run_stack(settings, drain=drain, only=only)
    elapsed = time.monotonic() - started
    lake = results.get("lake")
    if lake is not None:
        click.echo(
            f"lake: {lake.records:,} records read, {lake.readings:,} readings and "
            f"{lake.rejects:,} rejects committed in {lake.files:,} files "
            f"({lake.bytes:,} bytes, {lake.commits:,} commits) in {elapsed:.1f} s"
        )
    detector = results.get("detector")
    if detector is not None:
        lines = getattr(detector, "lines", None)
        for line in lines() if callable(lines) else [_describe(detector)]:
            click.echo(f"detector: {line}")
    sys.stdout.flush()


COMMANDS: list[click.Command] = [run_command]
