"""CLI verbs: serve (the local web dashboard and its JSON API)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import click

from petrostream.cli import settings_of
from petrostream.errors import ConfigError

_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)
_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{16,256}$")


def _memory(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not _MEMORY.match(value):
        raise click.BadParameter(f"{value!r} is not a size; write e.g. 512MB or 2GB")
    return value.strip().replace(" ", "")


def read_token(path: Path) -> str:
    """The token in ``path`` (one line, 16-256 characters of A-Z a-z 0-9 . _ ~ -).

    Raises:
        ConfigError: the file is unreadable or holds no valid token.
    """
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the token file {path}: {exc}") from exc
    if not _TOKEN.match(token):
        raise ConfigError(
            f"the token file {path} must hold one line of 16 to 256 characters "
            "(letters, digits, . _ ~ -); e.g. python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(24))' > token"
        )
    return token


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
    help="Address to bind. Anything but loopback needs --allow-remote.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host (e.g. 0.0.0.0); every request then needs the token.",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Read the access token from this file (default with --allow-remote: a new random "
    "token, printed at start). Also turns the token on for a loopback server.",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Another host name the dashboard answers for (a DNS name of this machine); repeatable.",
)
@click.option(
    "--query-memory",
    default="1GB",
    show_default=True,
    callback=_memory,
    help="Memory one SQL query may use (sorts and joins past it spill into the home).",
)
@click.option(
    "--max-queries",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Queries that run at the same time; more wait for a free slot.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    port: int,
    host: str,
    allow_remote: bool,
    token_file: Path | None,
    allow_hosts: tuple[str, ...],
    query_memory: str,
    max_queries: int,
) -> None:
    """Serve the dashboard and its JSON API (OpenAPI at /api/openapi.json) until Ctrl-C.

    Fleet overview, per-well time series (downsampled on the server), a live
    alerts feed, a read-only SQL console and pipeline health, over the state
    under --home. It reads only: run `petrostream demo`, or `replay` + `run`,
    to fill it; new lake files show up within seconds (it crawls in memory).

    It listens on loopback and answers only requests addressed to this machine
    by name (DNS-rebinding pages are refused) from its own page. To share it on a
    network, give --host 0.0.0.0 --allow-remote: every request then needs the
    token (open the printed /?token=... address once; API clients send
    'Authorization: Bearer TOKEN').
    """
    from petrostream.extras import require

    require("dashboard", "petrostream serve")
    from petrostream.dashboard.app import dashboard_limits, url_of
    from petrostream.dashboard.app import serve as run_server
    from petrostream.dashboard.data import DashboardData
    from petrostream.dashboard.security import AccessPolicy, is_loopback

    settings = settings_of(ctx)
    remote = not is_loopback(host)
    if remote and not allow_remote:
        raise click.UsageError(
            f"--host {host} would open the dashboard to the network; add --allow-remote to "
            "do so on purpose (every request then needs a token), or keep --host 127.0.0.1"
        )
    token = read_token(token_file) if token_file else None
    if remote and token is None:
        token = secrets.token_urlsafe(24)
    access = AccessPolicy.for_bind(host, token=token, extra_hosts=allow_hosts)
    data = DashboardData(
        settings, limits=dashboard_limits(settings, memory=query_memory, concurrent=max_queries)
    )
    url = url_of(host, port)
    click.echo(f"dashboard: {url}  (home {settings.home}; Ctrl-C stops)", err=True)
    if token is not None:
        shown = "the token in " + str(token_file) if token_file else token
        click.echo(f"access token: {shown}", err=True)
        if not token_file:
            click.echo(f"open once in the browser: {url}?token={token}", err=True)
        click.echo("API clients: send 'Authorization: Bearer <token>'", err=True)
    run_server(settings, host=host, port=port, access=access, data=data)


COMMANDS: list[click.Command] = [serve]
