"""CLI verbs: dataset (inspect 3W files, synthesize a 3W tree)."""

from __future__ import annotations

import time
from pathlib import Path

import click

COMMANDS: list[click.Command] = []


@click.group("dataset")
def dataset() -> None:
    """3W datasets: inspect instances, synthesize a test fleet."""


def _event_list(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> list[int] | None:
    classes: list[int] = []
    for text in value:
        for part in text.split(","):
            if not part.strip():
                continue
            try:
                classes.append(int(part))
            except ValueError:
                raise click.BadParameter(f"{part!r} is not an event class (0-9)") from None
    return classes or None


@dataset.command("synth")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--wells", type=click.IntRange(min=1), default=1, show_default=True, help="Number of wells."
)
@click.option(
    "--hours",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Hours of 1 Hz readings per well.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed -> same bytes.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True
)
@click.option(
    "--version",
    "version",
    type=click.IntRange(1, 2),
    default=1,
    show_default=True,
    help="3W variables: 1 = the 8 of 3W 1.x, 2 = the 27 of 3W 2.x plus state.",
)
@click.option(
    "--events",
    multiple=True,
    callback=_event_list,
    metavar="2,5,8",
    help="Event classes to cycle through (0 = normal). [default: 0-9]",
)
@click.option(
    "--instance-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Length of one instance (file).",
)
@click.option(
    "--first-well",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Number of the first well (WELL-00001).",
)
def synth(
    out: Path,
    wells: int,
    hours: float,
    seed: int,
    fmt: str,
    version: int,
    events: list[int] | None,
    instance_hours: float,
    first_well: int,
) -> None:
    """Write a synthetic 3W tree OUT/<class>/WELL-xxxxx_<start>.<csv|parquet>.

    Rows are 1 Hz readings of plausible wells; each instance is normal or carries
    one event (normal stretch, transient 10N, steady N). Deterministic from --seed.
    """
    from collections import Counter

    from petrostream.dataset.synth import synthesize

    began = time.monotonic()
    last = [0.0]

    def progress(done: int, total: int, rows: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or done == total:
            last[0] = now
            rate = rows / max(now - began, 1e-9)
            click.echo(f"synth: {done}/{total} files, {rows:,} readings ({rate:,.0f}/s)", err=True)

    paths = synthesize(
        out,
        wells=wells,
        hours=hours,
        seed=seed,
        fmt=fmt,
        version=version,
        events=events,
        instance_hours=instance_hours,
        first_well=first_well,
        progress=progress,
    )
    elapsed = time.monotonic() - began
    rows = round(hours * 3600) * wells
    per_class = Counter(int(p.parent.name) for p in paths)
    classes = ", ".join(f"{c}: {per_class[c]}" for c in sorted(per_class))
    click.echo(
        f"wrote {len(paths)} instances ({rows:,} readings, {wells} wells x {hours:g} h, "
        f"{fmt}, 3W {version}.x variables) to {out} in {elapsed:.1f} s; per class {classes}"
    )


@dataset.command("inspect")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--rejects",
    "show_rejects",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Also print the first N rejected rows of each file.",
)
def inspect(paths: tuple[Path, ...], show_rejects: int) -> None:
    """List the 3W instances under PATHS: well, source, class, rows, columns, rejects.

    Each PATH is a file, a class folder or a whole 3W tree. Every file is read,
    so row and reject counts are exact.
    """
    from petrostream.dataset import discover, read_instance
    from petrostream.errors import DatasetError

    instances = discover(list(paths))
    header = f"{'instance':<32} {'well':<10} {'source':<9} {'class':>5} {'format':<7} "
    header += f"{'rows':>9} {'columns':>7} {'labelled':>8} {'rejects':>7}"
    click.echo(header)
    totals = [0, 0]
    unreadable: list[str] = []
    for instance in instances:
        rows = labelled = columns = 0
        rejects = []
        try:
            for batch in read_instance(instance):
                rows += batch.table.num_rows
                labelled += batch.table.num_rows - batch.table.column("event_class").null_count
                columns = batch.table.num_columns - 3  # the sensors
                rejects += batch.rejects
        except DatasetError as exc:  # one bad file must not hide the others
            click.secho(f"error: {exc}", fg="red", err=True)
            unreadable.append(instance.instance_id)
            continue
        folder = "-" if instance.class_folder is None else str(instance.class_folder)
        click.echo(
            f"{instance.instance_id:<32} {instance.well_id:<10} {instance.source:<9} "
            f"{folder:>5} {instance.format:<7} {rows:>9,} {columns:>7} {labelled:>8,} "
            f"{len(rejects):>7,}"
        )
        for reject in rejects[:show_rejects]:
            click.echo(f"    line {reject.line}: {reject.reason} | {reject.raw[:120]}")
        totals[0] += rows
        totals[1] += len(rejects)
    click.echo(f"{len(instances)} instances, {totals[0]:,} rows, {totals[1]:,} rejects")
    if unreadable:
        raise DatasetError(f"{len(unreadable)} of {len(instances)} files cannot be read (above)")


COMMANDS.append(dataset)
