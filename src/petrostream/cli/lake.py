"""CLI verbs: maintain (compact small files, expire snapshots, delete orphans); compact."""

from __future__ import annotations

import re
from collections.abc import Callable

import click

from petrostream.cli import settings_of

_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1024, "M": 1000**2, "MB": 1000**2,
          "MIB": 1024**2, "G": 1000**3, "GB": 1000**3, "GIB": 1024**3}  # fmt: skip
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(text: str) -> int:
    """Parse ``128MB``, ``1GiB``, ``500k`` or a plain byte count.

    Raises:
        ValueError: not a size.
    """
    match = _SIZE.match(text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size (e.g. 128MB, 1GiB, 500000)")
    return int(float(match.group(1)) * _UNITS[unit])


def _size_option(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _hours_option(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if value < 0:
        raise click.BadParameter("must be 0 or more hours")
    return value


def _maintain_options(command: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option(
            "--target-size",
            default="128MB",
            show_default=True,
            callback=_size_option,
            help="Size of the rewritten files (e.g. 128MB, 1GiB); files of half this size "
            "or more stay.",
        ),
        click.option(
            "--table",
            "tables",
            type=click.Choice(["sensors", "alerts", "rejects", "all"]),
            default="all",
            show_default=True,
            help="Table to maintain.",
        ),
        click.option(
            "--expire-hours",
            type=float,
            default=24.0,
            show_default=True,
            callback=_hours_option,
            help="Expire snapshots older than this (time travel reaches back this far).",
        ),
        click.option(
            "--orphan-hours",
            type=float,
            default=1.0,
            show_default=True,
            callback=_hours_option,
            help="Delete unreferenced data files older than this (a flush in flight is younger).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("maintain")
@_maintain_options
@click.pass_context
def maintain_command(
    ctx: click.Context, target_size: int, tables: str, expire_hours: float, orphan_hours: float
) -> None:
    """Compact each partition's small files, expire old snapshots, delete orphan files.

    Safe while `petrostream run` writes: each partition's rewrite is one Iceberg
    overwrite commit, and a commit of the writer that comes first makes it start
    again from the new snapshot, so every reading stays exactly once.
    """
    from datetime import timedelta

    from petrostream.errors import ConfigError
    from petrostream.lake.locks import ActorLock
    from petrostream.lake.maintain import MaintainReport, maintain
    from petrostream.lake.tables import DEFS, open_catalog

    if target_size < 1024 * 1024:
        raise click.BadParameter("must be at least 1MB", param_hint="--target-size")
    settings = settings_of(ctx)
    catalog = open_catalog(settings.home, settings.lake_uri, settings.lake_catalog)
    names = list(DEFS) if tables == "all" else [tables]

    def progress(report: MaintainReport) -> None:
        click.echo(
            f"maintain: {report.table}: {report.rewritten_partitions:,} partition(s) "
            "rewritten so far",
            err=True,
        )

    with ActorLock(settings.home, "maintain", wait=10.0):
        for name in names:
            try:
                report = maintain(
                    catalog,
                    name,
                    target_bytes=target_size,
                    expire_older_than=timedelta(hours=expire_hours),
                    orphan_older_than=timedelta(hours=orphan_hours),
                    progress=progress,
                )
            except OSError as exc:
                raise ConfigError(
                    f"cannot maintain the lake at {settings.lake_uri}: {exc}"
                ) from None
            click.echo(report.line())
            for problem in report.problems:
                click.echo(f"  {problem}", err=True)


@click.command("compact")
@_maintain_options
@click.pass_context
def compact_command(ctx: click.Context, **options: object) -> None:
    """The same as `maintain` (its earlier name)."""
    ctx.invoke(maintain_command, **options)


@click.group("lake")
def lake_group() -> None:
    """The lake's Iceberg tables as other tools see them."""


@lake_group.command("describe")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: the properties `pyiceberg.catalog.load_catalog(**props)` takes.",
)
@click.pass_context
def describe_command(ctx: click.Context, fmt: str) -> None:
    """Catalog properties and table identifiers, for pyiceberg, DuckDB or Spark.

    `load_catalog(**props)` with the printed ``catalog`` properties opens the same
    tables (the ``name`` key is the catalog's name); see docs/lake.md.
    """
    import json

    from petrostream.lake.tables import DEFS, catalog_properties, open_catalog

    settings = settings_of(ctx)
    props = catalog_properties(settings.home, settings.lake_uri, settings.lake_catalog)
    catalog = open_catalog(settings.home, settings.lake_uri, settings.lake_catalog)
    tables = []
    for name, d in DEFS.items():
        if not catalog.table_exists(d.identifier):
            continue
        table = catalog.load_table(d.identifier)
        snapshot = table.current_snapshot()
        tables.append(
            {
                "name": name,
                "identifier": d.identifier,
                "location": table.location(),
                "metadata_location": table.metadata_location,
                "snapshot_id": snapshot.snapshot_id if snapshot else None,
                "records": int(snapshot.summary.additional_properties.get("total-records", 0))
                if snapshot and snapshot.summary
                else 0,
                "partition_spec": str(table.spec()),
                "sort_order": str(table.sort_order()),
            }
        )
    if fmt == "json":
        click.echo(json.dumps({"catalog": props, "tables": tables}, indent=2))
        return
    click.echo("catalog properties (pyiceberg.catalog.load_catalog(**props)):")
    for key, value in props.items():
        click.echo(f"  {key} = {value}")
    for t in tables:
        click.echo(f"{t['identifier']}: {t['records']:,} rows, snapshot {t['snapshot_id']}")
        click.echo(f"  metadata {t['metadata_location']}")
    if not tables:
        click.echo("no table yet: `petrostream run` creates them on its first flush")


@lake_group.command("init")
@click.pass_context
def init_command(ctx: click.Context) -> None:
    """Create the lake's Iceberg tables if missing (partition spec, sort order, properties).

    The writer creates them on its own; on AWS run it once after `terraform apply`
    with PETROSTREAM_LAKE_CATALOG=glue, before records flow: Firehose's Iceberg
    destination writes into tables that exist (docs/aws.md).
    """
    from petrostream.lake.tables import DEFS, open_catalog, open_table

    settings = settings_of(ctx)
    catalog = open_catalog(settings.home, settings.lake_uri, settings.lake_catalog)
    for name, d in DEFS.items():
        table = open_table(catalog, name)
        click.echo(f"{d.identifier}: {table.spec()} sorted {table.sort_order()}")
        click.echo(f"  metadata {table.metadata_location}")


COMMANDS: list[click.Command] = [maintain_command, compact_command, lake_group]
