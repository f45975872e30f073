"""`petrostream alerts list|pending|retry` over a real alert store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from petrostream.alerts.dispatch import OutboxNotifier
from petrostream.alerts.log import LogNotifier
from petrostream.alerts.store import AlertStore
from petrostream.cli import main
from petrostream.detect.base import Alert
from petrostream.testing.notifier import FailingNotifier

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _alert(well: str = "WELL-00011") -> Alert:
    return Alert(
        alert_id="a" * 40,
        well_id=well,
        instance_id=None,
        rule="pressure_jump",
        category="process",
        severity="critical",
        status="open",
        ts=T0,
        opened_at=T0,
        sensor="p_pdg",
        value=3.9e7,
        message="P-PDG jumped 12 bar in 60 s",
    )


def test_list_without_alerts_says_how_to_get_some(home: Path) -> None:
    result = CliRunner().invoke(main, ["--home", str(home), "alerts", "list"])
    assert result.exit_code == 2
    assert "petrostream run" in result.output


def test_list_shows_stored_alerts_as_json(home: Path) -> None:
    # given an alert delivered to the log
    store = AlertStore(home / "alerts.db")
    OutboxNotifier(store, [LogNotifier(home / "alerts.jsonl")]).notify(_alert())
    store.close()
    # when
    result = CliRunner().invoke(main, ["--home", str(home), "alerts", "list", "--format", "json"])
    # then
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["well_id"] == "WELL-00011"
    assert row["rule"] == "pressure_jump"


def test_pending_delivery_is_visible_then_retried(home: Path) -> None:
    # given a notifier that failed every attempt: the delivery is kept pending
    store = AlertStore(home / "alerts.db")
    failing = FailingNotifier(fail_always=True)
    OutboxNotifier(store, [failing], sleep=lambda s: None, redeliver_after_s=0).notify(_alert())
    store.close()
    runner = CliRunner()
    # when / then: it is listed as pending
    pending = runner.invoke(main, ["--home", str(home), "alerts", "pending"])
    assert pending.exit_code == 0, pending.output
    assert "pending" in pending.output and failing.name in pending.output
    # when retried with the configured (local) notifiers, the unknown notifier stays visible
    retried = runner.invoke(main, ["--home", str(home), "alerts", "retry"])
    assert retried.exit_code == 0, retried.output
    assert "still pending 1" in retried.output
