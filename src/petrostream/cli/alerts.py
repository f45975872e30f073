"""CLI verbs: alerts (list what the detector raised, see and retry pending deliveries)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from petrostream.alerts.base import diagnosis_text
from petrostream.cli import output_format, settings_of
from petrostream.errors import ConfigError

if TYPE_CHECKING:
    from petrostream.alerts.store import AlertStore


@click.group("alerts")
def alerts_group() -> None:
    """Alerts the real-time detector raised, and their delivery to each notifier.

    Every alert is stored before any notifier is called; a delivery that keeps
    failing stays ``pending`` and is retried by `petrostream run` and by
    `petrostream alerts retry`.
    """


def _store(ctx: click.Context) -> AlertStore:
    from petrostream.alerts.store import AlertStore

    path = settings_of(ctx).home / "alerts.db"
    if not path.exists():
        raise ConfigError(f"no alerts yet at {path}: run `petrostream run` over a replay first")
    return AlertStore(path)


@alerts_group.command("list")
@click.option("--well", "well_id", default=None, help="Only this well (e.g. WELL-00011).")
@click.option("--limit", default=50, show_default=True, help="Newest N alerts.")
@output_format()
@click.pass_context
def list_alerts(ctx: click.Context, well_id: str | None, limit: int, fmt: str) -> None:
    """List the newest alerts (open, diagnosis updates, closed), newest first."""
    store = _store(ctx)
    try:
        alerts = store.list_alerts(limit=limit, well_id=well_id)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps([a.to_dict() for a in alerts], indent=2, default=str))
        return
    if not alerts:
        click.echo("no alerts")
        return
    for a in alerts:
        ts = a.payload.get("ts", "")
        line = f"{ts}  {a.well_id:<11} {a.severity:<8} {a.status:<6} {a.rule:<20} {a.message}"
        if a.diagnosis and a.status != "update":  # an update's message is its diagnosis
            line += f"  [{diagnosis_text(a)}]"
        click.echo(line)


@alerts_group.command("pending")
@click.pass_context
def pending(ctx: click.Context) -> None:
    """Show deliveries that have not reached their notifier (pending or refused)."""
    store = _store(ctx)
    try:
        rows = store.deliveries(states=("pending", "failed"))
    finally:
        store.close()
    if not rows:
        click.echo("every alert was delivered")
        return
    for d in rows:
        when = d.next_attempt_at.isoformat() if d.next_attempt_at else "-"
        click.echo(
            f"{d.key}  {d.notifier:<10} {d.state:<8} attempts={d.attempts} "
            f"next={when} error={d.last_error or '-'}"
        )


@alerts_group.command("retry")
@click.option("--include-failed", is_flag=True, help="Also retry deliveries a notifier refused.")
@click.pass_context
def retry(ctx: click.Context, include_failed: bool) -> None:
    """Try every due pending delivery once, with the configured notifiers."""
    from petrostream.handlers.config import HandlerConfig
    from petrostream.handlers.process_stream import build_local_notifier

    _store(ctx).close()  # a clear message when there is nothing yet
    outbox = build_local_notifier(HandlerConfig.from_settings(settings_of(ctx)))
    try:
        result = outbox.redeliver(include_failed=include_failed)
    finally:
        outbox.store.close()
    click.echo(f"sent {result.sent}, still pending {result.still_pending}, failed {result.failed}")


COMMANDS: list[click.Command] = [alerts_group]
