"""CLI verbs: ``petrostream aws package | cost`` (helpers of infra/terraform)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from petrostream.cli import output_format


@click.group("aws")
def aws() -> None:
    """Helpers for the AWS runtime (infra/terraform): Lambda zip, cost estimate, Glue schema."""


@aws.command("package")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("dist/lambda.zip"),
    show_default=True,
    help="Where to write the zip (Terraform's lambda_zip_path).",
)
def package(out: Path) -> None:
    """Build the detector's Lambda zip: only what the handler imports, same bytes every time.

    Prints the entries on stderr and the path, size and base64 SHA-256 (Lambda's
    CodeSha256) on stdout.
    """
    from petrostream.deploy.package import HANDLER, build_lambda_zip

    click.echo(f"probing the import closure of {HANDLER} ...", err=True)
    report = build_lambda_zip(out)
    for entry in report.entries:
        click.echo(f"  {entry}", err=True)
    if report.refused:
        click.echo(
            f"  (optional imports left out, the handler runs without them: "
            f"{', '.join(sorted(report.refused))})",
            err=True,
        )
    click.echo(
        f"{report.path}: {len(report.entries)} files, {report.size:,} bytes, "
        f"sha256 {report.sha256_b64}"
    )


@aws.command("cost")
@click.option("--wells", type=click.IntRange(min=1), required=True, help="Wells sending readings.")
@click.option(
    "--hz", type=click.FloatRange(min=0, min_open=True), required=True, help="Readings/s per well."
)
@click.option("--region", default="us-east-1", show_default=True, help="AWS region.")
@click.option(
    "--record-bytes",
    type=click.IntRange(min=1),
    default=400,
    show_default=True,
    help="Bytes of one JSON record.",
)
@click.option(
    "--retention-days",
    type=click.IntRange(min=0),
    default=365,
    show_default=True,
    help="Days the lake keeps readings (0 = forever, costed as a year).",
)
@click.option(
    "--stream-retention-hours",
    type=click.FloatRange(min=24, max=8760),
    default=24.0,
    show_default=True,
    help="Kinesis retention.",
)
@click.option(
    "--shards", type=click.IntRange(min=1), default=None, help="Shards (default: computed)."
)
@click.option(
    "--aggregate/--no-aggregate",
    default=False,
    show_default=True,
    help="The producer packs the readings bound for one shard into ~25 KB stream records "
    "(KPL-style aggregation) instead of one record per reading.",
)
@click.option(
    "--batch-window",
    "batch_window_s",
    type=click.FloatRange(min=0, max=300),
    default=0.0,
    show_default=True,
    help="Lambda batching window, seconds (Terraform's batch_window_seconds; alert delay "
    "grows with it).",
)
@click.option("--queries-per-day", type=click.FloatRange(min=0), default=20.0, show_default=True)
@click.option(
    "--crawls-per-day", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True
)
@output_format()
def cost(
    wells: int,
    hz: float,
    region: str,
    record_bytes: int,
    retention_days: int,
    stream_retention_hours: float,
    shards: int | None,
    aggregate: bool,
    batch_window_s: float,
    queries_per_day: float,
    crawls_per_day: float,
    fmt: str,
) -> None:
    """Estimate the stack's monthly AWS bill per service and name the biggest cost driver.

    Prints each service's line items, the total and the cost per well-month, what
    drives the bill and what would lower it, and how the same settings scale to
    1, 100, 1,000 and 10,000 wells. Unit prices (each with its source and date) are
    in petrostream/deploy/prices.py; every other assumption is a named default in
    petrostream/deploy/cost.py (CostInputs), checked against infra/terraform.
    """
    from petrostream.deploy.cost import CostInputs, estimate, render_table, scaling

    inputs = CostInputs(
        wells=wells,
        hz=hz,
        region=region,
        record_bytes=record_bytes,
        retention_days=retention_days,
        stream_retention_hours=stream_retention_hours,
        shards=shards,
        aggregate=aggregate,
        batch_window_s=batch_window_s,
        queries_per_day=queries_per_day,
        crawls_per_day=crawls_per_day,
    )
    result = estimate(inputs)
    scale = scaling(inputs)
    if fmt == "json":
        doc = result.to_dict()
        doc["scaling"] = [
            {
                "wells": row.inputs.wells,
                "shards": row.shards,
                "total_usd": round(row.total, 2),
                "per_well_month_usd": round(row.per_well_month, 4),
                "driver": row.driver.service,
            }
            for row in scale
        ]
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(render_table(result, scale))


COMMANDS: list[click.Command] = [aws]
