"""CLI verbs: demo (the quick start: the local pipeline on the bundled sample).

The demo is a list of stages, each a small function over a shared `DemoRun`
that calls library code. Today: prepare the home, gather the bundled real 3W
sample and a small synthetic fleet, replay them into the local stream, show the
stream. Later stages (run the consumers, crawl, query, serve) append to `STAGES`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from petrostream.producer import ReplaySummary
    from petrostream.settings import Settings

SYNTH_WELLS = 8
SYNTH_HOURS = 1.0
SYNTH_SEED = 42


@dataclass
class DemoRun:
    """What the stages share: settings, the files to replay, and what each stage found."""

    settings: Settings
    resources: ExitStack
    paths: list[Path] = field(default_factory=list)
    replay: ReplaySummary | None = None
    stream_info: dict[str, Any] | None = None


Stage = tuple[str, Callable[[DemoRun], None]]


def prepare_home(run: DemoRun) -> None:
    """Create the state folder if there is none."""
    home = run.settings.home
    fresh = not home.exists()
    home.mkdir(parents=True, exist_ok=True)
    click.echo(f"    home {home.resolve()} ({'new' if fresh else 'existing'})")


def bundled_sample(run: DemoRun) -> None:
    """The two real 3W instances shipped in the package (petrostream/data/3w)."""
    from importlib.resources import as_file, files

    folder = run.resources.enter_context(as_file(files("petrostream") / "data" / "3w"))
    csvs = sorted(Path(folder).rglob("*.csv"))
    click.echo(f"    {len(csvs)} real 3W instances from {folder}")
    run.paths.extend(csvs)


def synthetic_fleet(run: DemoRun) -> None:
    """A small synthetic fleet (deterministic), written once under <home>/sample/synth."""
    from petrostream.dataset import synthesize

    out = run.settings.home / "sample" / "synth"
    existing = sorted(out.rglob("*.csv")) if out.exists() else []
    if len(existing) >= SYNTH_WELLS:
        files = existing
        click.echo(f"    {len(files)} synthetic instances already in {out}")
    else:
        files = synthesize(out, wells=SYNTH_WELLS, hours=SYNTH_HOURS, seed=SYNTH_SEED, fmt="csv")
        click.echo(
            f"    wrote {len(files)} synthetic instances ({SYNTH_WELLS} wells x "
            f"{SYNTH_HOURS:g} h, seed {SYNTH_SEED}) to {out}"
        )
    run.paths.extend(files)


def replay_sample(run: DemoRun) -> None:
    """Replay everything gathered, as fast as possible, into the local stream."""
    from petrostream.cli.replay import run_replay

    run.replay = run_replay(run.settings, run.paths, speed=0, target="local")
    s = run.replay
    click.echo(
        f"    {s.files} instances, {s.records_put:,} readings put in {s.elapsed:.1f} s, "
        f"{s.reject_count:,} rejects" + (f" (see {s.rejects_path})" if s.rejects_path else "")
    )
    for well, count in sorted(s.per_well.items()):
        click.echo(f"      {well:<12} {count:>8,}")


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
    for shard in info["shards"]:
        click.echo(f"      {shard['shard_id']}  {shard['records']:>8,} records")


STAGES: list[Stage] = [
    ("prepare the home", prepare_home),
    ("bundled real 3W sample", bundled_sample),
    ("synthetic fleet", synthetic_fleet),
    ("replay into the local stream", replay_sample),
    ("the local stream", show_stream),
]


def run_stages(settings: Settings, stages: list[Stage] | None = None) -> DemoRun:
    """Run the demo stages in order; return what they found."""
    stages = STAGES if stages is None else stages
    with ExitStack() as resources:
        run = DemoRun(settings=settings, resources=resources)
        for number, (title, stage) in enumerate(stages, start=1):
            click.secho(f"[{number}/{len(stages)}] {title}", bold=True)
            stage(run)
        return run


@click.command("demo")
@click.pass_context
def demo_command(ctx: click.Context) -> None:
    """Run the local pipeline end to end on the bundled sample and print a summary.

    Stage one of the pipeline for now: replays the bundled real 3W sample and a
    small synthetic fleet (8 wells x 1 h) into the local stream under --home.
    """
    import sys

    from petrostream.cli import settings_of
    from petrostream.producer import ReplayInterrupted

    try:
        run = run_stages(settings_of(ctx))
    except ReplayInterrupted as stop:
        click.secho(
            f"interrupted: {stop.summary.records_put:,} readings were put before Ctrl-C",
            fg="yellow",
            err=True,
        )
        sys.exit(130)
    summary = run.replay
    if summary is not None:
        click.secho(
            f"demo done: {summary.records_put:,} readings from {summary.files} instances "
            f"are in the local stream ({run.settings.stream_path})",
            fg="green",
        )


COMMANDS: list[click.Command] = [demo_command]
