"""CLI verbs: serve (the local web dashboard and its JSON API)."""

from __future__ import annotations

import click

from petrostream.cli import settings_of


@click.command("serve")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8050,
    show_default=True,
    help="TCP port to listen on.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; keep the loopback default unless you mean to share it.",
)
@click.pass_context
def serve(ctx: click.Context, port: int, host: str) -> None:
    """Serve the dashboard and its JSON API (OpenAPI at /api/openapi.json) until Ctrl-C.

    Fleet overview, per-well time series (downsampled on the server), a live
    alerts feed, a read-only SQL console and pipeline health, over the state
    under --home. It reads only: run `petrostream demo`, or `replay` + `run`,
    to fill it; new lake files show up within seconds (it crawls in memory).
    """
    from petrostream.extras import require

    require("dashboard", "petrostream serve")
    from petrostream.dashboard.app import serve as run_server
    from petrostream.dashboard.app import url_of

    settings = settings_of(ctx)
    click.echo(f"dashboard: {url_of(host, port)}  (home {settings.home}; Ctrl-C stops)", err=True)
    run_server(settings, host=host, port=port)


COMMANDS: list[click.Command] = [serve]
