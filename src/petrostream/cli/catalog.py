"""CLI verbs: catalog (`crawl`)."""

from __future__ import annotations

import click

from petrostream.cli import settings_of


@click.command("crawl")
@click.option(
    "--catalog",
    "target",
    type=click.Choice(["local", "glue"]),
    default="local",
    show_default=True,
    help="Also publish to the AWS Glue Data Catalog (glue); the local catalog is always kept.",
)
@click.pass_context
def crawl(ctx: click.Context, target: str) -> None:
    """Catalog the lake: read the footers of new Parquet files, report what changed.

    Tables sensors/alerts/rejects, their columns and types, partitions (dt,
    well_id), file counts and sizes, and the history of schema versions go to
    the local catalog (<home>/catalog.json). New columns are added; a type
    conflict keeps the old type and is reported; vanished partitions are dropped.
    For each Iceberg table the schema history says which snapshot each column
    arrived in.
    """
    from petrostream.catalog.crawler import Crawler
    from petrostream.catalog.local import LocalCatalogStore

    settings = settings_of(ctx)
    store = LocalCatalogStore(settings.catalog_path)

    def progress(done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            click.echo(f"\rreading footers {done}/{total}", err=True, nl=done == total)

    click.echo(f"crawling {settings.lake_uri}", err=True)
    crawler = Crawler(settings.lake_uri, home=settings.home, catalog_kind=settings.lake_catalog)
    catalog, report = crawler.crawl(store.load(), progress=progress)
    store.save(catalog)
    for line in report.lines():
        click.echo(line)
    if not report.changed:
        click.echo("no changes")
    click.echo(report.summary())
    for table in catalog.tables.values():
        click.echo(
            f"{catalog.database}.{table.name}: {len(table.columns)} columns, "
            f"{len(table.partitions)} partitions, {table.file_count} files, "
            f"{table.bytes:,} bytes, {table.rows:,} rows, schema v{len(table.schema_versions)}"
        )
    for line in report.history_lines():
        click.echo(line)
    if target == "glue":
        from petrostream.catalog.glue import GlueCatalogStore

        glue = GlueCatalogStore(settings.athena_database)
        catalog.database = settings.athena_database
        if settings.lake_catalog == "glue":
            # Glue is the Iceberg tables' own catalog: their pointer is the writer's to move
            # (publishing a crawled one could set it back past a newer commit).
            catalog.tables = {n: t for n, t in catalog.tables.items() if t.iceberg_metadata is None}
        click.echo(glue.publish(catalog).summary())


COMMANDS: list[click.Command] = [crawl]
