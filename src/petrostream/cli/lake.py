"""CLI verbs: compact (merge small lake files per partition)."""

from __future__ import annotations

import re

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


@click.command("compact")
@click.option(
    "--target-size",
    default="128MB",
    show_default=True,
    callback=_size_option,
    help="Size of the merged files (e.g. 128MB, 1GiB); files of half this size or more stay.",
)
@click.option(
    "--table",
    "tables",
    type=click.Choice(["sensors", "rejects", "all"]),
    default="sensors",
    show_default=True,
    help="Table to compact.",
)
@click.pass_context
def compact_command(ctx: click.Context, target_size: int, tables: str) -> None:
    """Merge the small Parquet files of each lake partition, atomically.

    Safe while `petrostream run` writes: each merge is one commit in the lake's
    commit log that replaces its input files by the merged file, so a reader of
    the committed files sees every reading exactly once. Reports files before/after.
    """
    from petrostream.errors import ConfigError
    from petrostream.lake.commitlog import COMPACTION
    from petrostream.lake.compaction import compact
    from petrostream.lake.factory import open_lake
    from petrostream.lake.locks import ActorLock

    if target_size < 1024 * 1024:
        raise click.BadParameter("must be at least 1MB", param_hint="--target-size")
    settings = settings_of(ctx)
    store = open_lake(settings)
    names = ["sensors", "rejects"] if tables == "all" else [tables]

    def progress(report: object) -> None:
        click.echo(f"compact: {getattr(report, 'merges', 0):,} merged file(s) so far", err=True)

    with ActorLock(settings.home, COMPACTION, wait=10.0):
        for name in names:
            try:
                report = compact(
                    store,
                    table=name,
                    target_bytes=target_size,
                    codec=settings.parquet_codec,
                    progress=progress,
                )
            except OSError as exc:
                raise ConfigError(f"cannot compact the lake at {store.uri}: {exc}") from None
            click.echo(report.line())


COMMANDS: list[click.Command] = [compact_command]
