"""CLI verbs: query (Athena SQL on the lake, locally with DuckDB or on Athena)."""

from __future__ import annotations

import math
import sys

import click

from petrostream.cli import output_format, settings_of

_WEEK_S = 7 * 86_400.0


def _finite(value: float, name: str) -> float:
    if math.isnan(value):
        raise click.BadParameter("nan is not a number of seconds", param_hint=name)
    return value


def _params(values: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        params[name.strip()] = value
    return params


@click.command("query")
@click.argument("sql", required=False)
@click.option("--named", "name", metavar="NAME", help="Run a shipped named query (see --list).")
@click.option("--list", "list_", is_flag=True, help="List the named queries and exit.")
@click.option(
    "--engine",
    type=click.Choice(["local", "athena"]),
    default="local",
    show_default=True,
    help="DuckDB over the local catalog, or Amazon Athena.",
)
@output_format("table", "csv", "json")
@click.option("--param", "-p", "param", multiple=True, metavar="NAME=VALUE", help="Fill :NAME.")
@click.option(
    "--limit", type=click.IntRange(min=0), default=10_000, show_default=True, help="0: no limit."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, max=_WEEK_S),
    default=60.0,
    show_default=True,
    callback=lambda ctx, param, value: _finite(value, "--timeout"),
    help="Seconds before the query is interrupted (0: no limit).",
)
@click.pass_context
def query(
    ctx: click.Context,
    sql: str | None,
    name: str | None,
    list_: bool,
    engine: str,
    fmt: str,
    param: tuple[str, ...],
    limit: int,
    timeout: float,
) -> None:
    """Run Athena (Trino) SQL on the lake: tables petrostream_db.sensors, alerts, rejects.

    SQL is one read-only query ('-' reads it from stdin). The local engine
    needs a catalog: run `petrostream crawl` first (and again to see new files);
    it answers Athena's functions as Athena does (format_datetime, map_agg,
    lambdas, UNNEST...) and names an alternative for those it cannot.

    Values print as Athena prints them (3.0E7, 2026-12-06 10:30:00.000, true);
    csv quotes every value as Athena's result files do and leaves NULL empty.
    """
    from petrostream.query.base import named_queries, named_query
    from petrostream.query.output import format_result

    settings = settings_of(ctx)
    if list_:
        for query_name, named in named_queries().items():
            shown = " ".join(
                f"{k}={v}" if v is not None else f"{k}=<required>" for k, v in named.params.items()
            )
            click.echo(f"{query_name:<26} {named.description}" + (f"  [{shown}]" if shown else ""))
        return
    params = _params(param)
    if name:
        if sql:
            raise click.UsageError("give either SQL or --named, not both")
        named = named_query(name)
        sql, params = named.sql, named.bind(params)
    elif sql == "-":
        try:
            sql = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.UsageError(
                f"the SQL on stdin is not UTF-8 text (byte {exc.start}); save it as UTF-8"
            ) from exc
    if not sql:
        raise click.UsageError("give a SQL query, --named NAME or --list")
    if engine == "athena":
        from petrostream.query.athena import AthenaEngine

        runner = AthenaEngine(
            database=settings.athena_database,
            workgroup=settings.athena_workgroup,
            output_location=settings.athena_output,
        )
        result = runner.execute(sql, params=params, limit=limit or None, timeout=timeout or None)
    else:
        from petrostream.query.base import QueryLimits
        from petrostream.query.duckdb_engine import DuckDBEngine

        # A query that outgrows memory spills into the home, not the current folder.
        limits = QueryLimits(temp_directory=settings.query_temp_dir)
        local = DuckDBEngine.from_catalog_file(settings.catalog_path, limits=limits)
        try:
            result = local.execute(sql, params=params, limit=limit or None, timeout=timeout or None)
        finally:
            local.close()
    click.echo(format_result(result, fmt))  # type: ignore[arg-type]
    if result.truncated:
        click.echo(f"(first {limit} rows; raise --limit to see more)", err=True)


COMMANDS: list[click.Command] = [query]
