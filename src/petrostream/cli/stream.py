"""CLI verbs: stream (inspect and maintain the buffer between producer and consumers)."""

from __future__ import annotations

import json
from typing import Any

import click

from petrostream.cli import output_format, settings_of


@click.group("stream")
def stream_group() -> None:
    """Inspect the stream: shards, record counts, retention, consumers' lag."""


def _describe(ctx: click.Context, backend: str) -> dict[str, Any]:
    settings = settings_of(ctx)
    if backend == "local":
        from petrostream.stream.local import LocalStream

        with LocalStream(settings.stream_path, create=False) as local:
            return local.describe()
    from petrostream.stream.checkpoints import SQLiteCheckpointStore
    from petrostream.stream.factory import CHECKPOINT_FILE
    from petrostream.stream.kinesis import KinesisStream

    path = settings.home / CHECKPOINT_FILE
    checkpoints = (
        SQLiteCheckpointStore(path, stream=settings.stream_name) if path.exists() else None
    )
    return KinesisStream(settings.stream_name).describe(checkpoints)


def _num(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _share(value: str) -> str:
    """A hash key as a percentage of the key space (the exact value is in the JSON)."""
    return f"{int(value) / 2**128:.0%}"


def _table(rows: list[list[str]], header: list[str], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def render_table(info: dict[str, Any]) -> str:
    """The human view of `describe`: a header line, the shards, the consumers."""
    shards = info["shards"]
    total = sum(s["records"] or 0 for s in shards)
    counted = all(s["records"] is not None for s in shards)
    head = (
        f"stream {info['name']} ({info['backend']}: {info['path']})\n"
        f"retention {info['retention_hours']:g} h, {len(shards)} shards, "
        f"{_num(total) if counted else 'record count not available'}"
        f"{' records' if counted else ''}"
    )
    shard_rows = [
        [
            s["shard_id"],
            f"{_share(s['starting_hash_key'])}-{_share(s['ending_hash_key'])}",
            _num(s["records"]),
            s["first_sequence"] or "-",
            s["last_sequence"] or "-",
        ]
        for s in shards
    ]
    parts = [
        head,
        "",
        _table(
            shard_rows, ["SHARD", "HASH RANGE", "RECORDS", "FIRST SEQUENCE", "LAST SEQUENCE"], {2}
        ),
        "",
    ]
    consumers = info["consumers"]
    if consumers:
        rows = [
            [c["consumer"], c["shard_id"], c["checkpoint"], _num(c["lag_records"])]
            for c in consumers
        ]
        parts.append(_table(rows, ["CONSUMER", "SHARD", "CHECKPOINT", "LAG (RECORDS)"], {3}))
    else:
        parts.append("no consumer has checkpointed yet")
    return "\n".join(parts)


@stream_group.command("describe")
@output_format()
@click.option(
    "--stream",
    "backend",
    type=click.Choice(["local", "kinesis"]),
    default="local",
    show_default=True,
    help="Which stream: the local SQLite one under --home, or the Kinesis stream "
    "PETROSTREAM_STREAM_NAME (AWS_* settings as boto3 reads them).",
)
@click.pass_context
def describe(ctx: click.Context, fmt: str, backend: str) -> None:
    """Show shards, record counts, retention, each consumer's checkpoint and lag.

    Also the real-time detector's local metrics (CloudWatch names), when it has run.
    """
    info = _describe(ctx, backend)
    info["metrics"] = _metrics(ctx)
    if fmt == "json":
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(render_table(info))
        click.echo(render_metrics(info["metrics"]))


def _metrics(ctx: click.Context) -> dict[str, Any]:
    from petrostream.metrics.sqlite_metrics import read_metrics
    from petrostream.runtime.detector import METRICS_DB

    summary = read_metrics(settings_of(ctx).home / METRICS_DB)
    return {
        "RecordsProcessed": summary.records_processed,
        "AlertsRaised": summary.alerts_raised,
        "DeadLetterRecords": summary.dead_letter_records,
        "IteratorAgeMilliseconds": summary.iterator_age_ms,
        "DetectionLatencyMilliseconds_p50": summary.detection_latency_p50_ms,
        "DetectionLatencyMilliseconds_p99": summary.detection_latency_p99_ms,
        "last_update": summary.last_update.isoformat() if summary.last_update else None,
    }


def render_metrics(metrics: dict[str, Any]) -> str:
    """The detector's metrics as lines for people."""
    if metrics["last_update"] is None:
        return "\ndetector metrics: none yet (run `petrostream run`)"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.1f} ms"

    return (
        f"\ndetector metrics (namespace PetroStream, last update {metrics['last_update']})\n"
        f"  RecordsProcessed          {metrics['RecordsProcessed']:>12,}\n"
        f"  AlertsRaised              {metrics['AlertsRaised']:>12,}\n"
        f"  DeadLetterRecords         {metrics['DeadLetterRecords']:>12,}\n"
        f"  IteratorAgeMilliseconds   {ms(metrics['IteratorAgeMilliseconds']):>12}\n"
        f"  DetectionLatency p50/p99  {ms(metrics['DetectionLatencyMilliseconds_p50'])} / "
        f"{ms(metrics['DetectionLatencyMilliseconds_p99'])}"
    )


@stream_group.command("trim")
@click.pass_context
def trim(ctx: click.Context) -> None:
    """Delete the local stream's records older than its retention now.

    Producers also trim by themselves about once a minute; this is for a stream
    nobody writes to any more.
    """
    from petrostream.stream.local import LocalStream

    with LocalStream(settings_of(ctx).stream_path, create=False) as local:
        removed = local.trim()
        hours = local.retention.total_seconds() / 3600
        click.echo(f"removed {removed:,} records older than {hours:g} h")


COMMANDS: list[click.Command] = [stream_group]
