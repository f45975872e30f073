"""AlertStore + OutboxNotifier: a failing notifier loses no alert; delivered ones never resend."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from petrostream.alerts.base import DeliveryError, TransientError
from petrostream.alerts.dispatch import FanoutNotifier, OutboxNotifier, RetryingNotifier
from petrostream.alerts.log import LogNotifier
from petrostream.alerts.store import AlertStore
from petrostream.testing.notifier import FailingNotifier, RecordingNotifier


@dataclass(frozen=True)
class FakeAlert:
    alert_id: str = "id-1"
    well_id: str = "WELL-00001"
    rule: str = "p_pdg_high"
    category: str = "process"
    severity: str = "warning"
    status: str = "open"
    ts: str = "2024-05-01 10:00:00.000"
    message: str = "P-PDG above 300 bar"
    diagnosis: str | None = None
    confidence: float | None = None
    revision: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> AlertStore:
    return AlertStore(tmp_path / "alerts.db")


def test_a_failing_notifier_keeps_the_alert_pending_then_redelivers(store: AlertStore) -> None:
    # given a good and a flaky notifier (fails 4 calls, budget is 3 per pass)
    good = RecordingNotifier("good")
    flaky = FailingNotifier(name="flaky", fail_first=4)
    clock = Clock()
    outbox = OutboxNotifier(
        store, [good, flaky], attempts=3, sleep=lambda s: None, clock=clock, redeliver_after_s=5
    )
    # when an alert is notified
    outbox.notify(FakeAlert())
    # then the good notifier got it, the flaky one is visibly pending with its error
    assert good.keys == ["id-1:open"]
    [pending] = store.deliveries(states=("pending",))
    assert (pending.notifier, pending.attempts) == ("flaky", 3)
    assert "injected failure" in (pending.last_error or "")
    assert store.summary().pending_deliveries == store.pending_deliveries() == 1
    # when redelivery runs before the retry time: nothing is due
    assert outbox.redeliver().sent == 0
    # when time passes and redelivery runs twice (one more failure, then success)
    clock.now += 10
    assert outbox.redeliver().still_pending == 1
    clock.now += 10
    result = outbox.redeliver()
    # then the flaky notifier finally has it, and the good one was not called again
    assert result.sent == 1
    assert [a.alert_id for a in flaky.delivered] == ["id-1"]
    assert good.keys == ["id-1:open"]
    assert store.summary().pending_deliveries == store.pending_deliveries() == 0


def test_a_repeated_notification_is_not_resent(store: AlertStore) -> None:
    # given an alert already delivered
    rec = RecordingNotifier()
    outbox = OutboxNotifier(store, [rec], sleep=lambda s: None)
    outbox.notify(FakeAlert())
    # when a retried batch raises the same alert again, then closes it
    outbox.notify(FakeAlert())
    outbox.notify(replace(FakeAlert(), status="closed"))
    # then open was sent once and close once
    assert rec.keys == ["id-1:open", "id-1:closed"]
    summary = store.summary()
    assert (summary.alerts, summary.open_alerts, summary.by_rule) == (1, 0, {"p_pdg_high": 1})


class StoreWatcher:
    """A notifier that records, at each call, whether the store already holds every alert."""

    name = "watcher"

    def __init__(self, store: AlertStore, expected: list[str]) -> None:
        self.store = store
        self.expected = expected
        self.calls: list[tuple[str, bool]] = []

    def notify(self, alert: Any) -> None:
        stored = all(self.store.get(key) is not None for key in self.expected)
        self.calls.append((f"{alert.alert_id}:{alert.status}", stored))


def test_notify_all_stores_every_alert_first_then_delivers_each_once_in_order(
    store: AlertStore,
) -> None:
    # given three notifications of a well's batch, a watcher and a notifier failing one alert
    alerts = [FakeAlert("a"), FakeAlert("b"), replace(FakeAlert("a"), status="closed")]
    keys = ["a:open", "b:open", "a:closed"]
    watcher = StoreWatcher(store, keys)
    flaky = FailingNotifier(name="flaky", fail_for=frozenset({"b"}))
    outbox = OutboxNotifier(store, [watcher, flaky], attempts=2, sleep=lambda s: None)
    # when they are notified together
    outbox.notify_all(alerts)
    # then every alert was in the store before the first delivery, delivered in order
    assert watcher.calls == [(key, True) for key in keys]
    assert [a.alert_id for a in flaky.delivered] == ["a", "a"]
    # and each outcome is recorded: b stays pending at the flaky notifier, visibly
    states = {(d.key, d.notifier): (d.state, d.attempts) for d in store.deliveries()}
    assert states == {
        **{(key, "watcher"): ("sent", 1) for key in keys},
        ("a:open", "flaky"): ("sent", 1),
        ("a:closed", "flaky"): ("sent", 1),
        ("b:open", "flaky"): ("pending", 2),
    }
    # when a retried batch notifies the same alerts again
    outbox.notify_all(alerts)
    # then no notifier gets an alert it accepted; only the pending one is tried again
    assert len(watcher.calls) == 3
    assert [a.alert_id for a in flaky.delivered] == ["a", "a"]
    assert states[("b:open", "flaky")] == ("pending", 2)
    assert store.deliveries(states=("pending",))[0].attempts == 4


def test_notify_all_of_the_same_notification_twice_delivers_it_once(store: AlertStore) -> None:
    rec = RecordingNotifier()
    outbox = OutboxNotifier(store, [rec], sleep=lambda s: None)
    outbox.notify_all([FakeAlert(), FakeAlert()])
    assert rec.keys == ["id-1:open"]
    assert store.record_all([FakeAlert(), FakeAlert("id-2")]) == 1


def test_a_refused_alert_is_failed_and_retryable_on_request(store: AlertStore) -> None:
    refusing = FailingNotifier(name="mail", fail_first=1, permanent=True)
    outbox = OutboxNotifier(store, [refusing], sleep=lambda s: None)
    outbox.notify(FakeAlert())
    assert [d.state for d in store.deliveries()] == ["failed"]
    assert outbox.redeliver().sent == 0  # failed ones wait for an operator
    assert outbox.redeliver(include_failed=True).sent == 1
    assert [d.state for d in store.deliveries()] == ["sent"]


def test_alert_store_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    first = AlertStore(path)
    OutboxNotifier(first, [FailingNotifier(fail_always=True)], sleep=lambda s: None).notify(
        FakeAlert()
    )
    first.close()
    reopened = AlertStore(path)
    assert [a.alert_id for a in reopened.list_alerts()] == ["id-1"]
    assert reopened.summary().pending_deliveries == 1


def test_export_claims_are_exactly_once(store: AlertStore) -> None:
    # given two alerts
    store.record(FakeAlert())
    store.record(FakeAlert(alert_id="id-2"))
    # when an export batch is claimed but not marked (crash), then claimed again
    batch, rows = store.claim_export() or (0, [])
    again, rows_again = store.claim_export() or (0, [])
    # then the same batch with the same rows comes back
    assert (again, [r["alert_id"] for r in rows_again]) == (batch, ["id-1", "id-2"])
    # when marked, a new alert forms the next batch alone
    store.mark_exported(batch)
    store.record(FakeAlert(alert_id="id-3"))
    nxt, rows_next = store.claim_export() or (0, [])
    assert nxt != batch and [r["alert_id"] for r in rows_next] == ["id-3"]
    store.mark_exported(nxt)
    assert store.claim_export() is None


def test_retrying_notifier_retries_then_gives_up() -> None:
    flaky = FailingNotifier(fail_first=2)
    RetryingNotifier(flaky, attempts=3, sleep=lambda s: None).notify(FakeAlert())
    assert len(flaky.delivered) == 1
    with pytest.raises(TransientError):
        RetryingNotifier(FailingNotifier(fail_always=True), sleep=lambda s: None).notify(
            FakeAlert()
        )


def test_fanout_tries_every_notifier_and_reports_failures() -> None:
    rec = RecordingNotifier()
    with pytest.raises(TransientError, match="failing"):
        FanoutNotifier([FailingNotifier(fail_always=True), rec]).notify(FakeAlert())
    assert rec.keys == ["id-1:open"]
    with pytest.raises(DeliveryError):
        FanoutNotifier([FailingNotifier(fail_always=True, permanent=True)]).notify(FakeAlert())


def test_log_notifier_appends_json_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "alerts.jsonl"
    with caplog.at_level(logging.WARNING, logger="petrostream.alerts"):
        LogNotifier(path).notify(FakeAlert())
        LogNotifier(path).notify(FakeAlert(status="closed"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["status"] for line in lines] == ["open", "closed"]
    assert "WELL-00001 p_pdg_high open" in caplog.text


class CountingAlert(FakeAlert):
    """A `FakeAlert` that counts its `to_dict` calls (one per payload computed)."""

    calls: list[str] = []  # noqa: RUF012 - shared by design: the test reads it

    def to_dict(self) -> dict[str, Any]:
        CountingAlert.calls.append(self.alert_id)
        return super().to_dict()


def counting_log(path: Path) -> tuple[LogNotifier, list[int]]:
    """A log notifier over ``path`` and the size of each batch call it gets, in order."""
    log = LogNotifier(path)
    writes: list[int] = []
    notify_payloads = log.notify_payloads

    def counted(alerts: Any, payloads: Any) -> None:
        writes.append(len(alerts))
        notify_payloads(alerts, payloads)

    log.notify_payloads = counted  # type: ignore[method-assign]
    return log, writes


def test_the_outbox_writes_a_batch_to_the_log_in_one_call_with_one_payload_per_alert(
    tmp_path: Path, store: AlertStore, caplog: pytest.LogCaptureFixture
) -> None:
    # given an outbox over the log and another notifier, and three alerts
    CountingAlert.calls.clear()
    path = tmp_path / "alerts.jsonl"
    (log, writes), other = counting_log(path), RecordingNotifier("other")
    alerts = [CountingAlert(alert_id=f"id-{i}") for i in range(3)]
    # when the outbox notifies them together
    with caplog.at_level(logging.WARNING, logger="petrostream.alerts"):
        OutboxNotifier(store, [log, other]).notify_all(alerts)
    # then the log got them in one call, each payload was computed once (store + log)
    assert writes == [3]
    assert CountingAlert.calls == ["id-0", "id-1", "id-2"]
    # and the file holds what `notify` one at a time writes, line for line
    one_by_one = tmp_path / "one-by-one.jsonl"
    for alert in alerts:
        LogNotifier(one_by_one).notify(alert)
    assert path.read_text() == one_by_one.read_text()
    assert caplog.text.count("WELL-00001 p_pdg_high open") == 6
    # and every delivery is recorded as sent; the other notifier got each alert once
    sent = {(d.key, d.notifier) for d in store.deliveries(states=("sent",))}
    assert sent == {(f"id-{i}:open", n) for i in range(3) for n in ("log", "other")}
    assert other.keys == ["id-0:open", "id-1:open", "id-2:open"]
    # when the same alerts come again (a retried batch): nothing is written twice
    OutboxNotifier(store, [log, other]).notify_all(alerts)
    assert writes == [3]
    assert len(path.read_text().splitlines()) == 3


class FlakyBatchLog(LogNotifier):
    """A log whose batch call fails (transiently) ``fail_batches`` times."""

    def __init__(self, path: Path, fail_batches: int) -> None:
        super().__init__(path)
        self.fail_batches = fail_batches

    def notify_payloads(self, alerts: Any, payloads: Any) -> None:
        if self.fail_batches:
            self.fail_batches -= 1
            raise TransientError("disk busy")
        super().notify_payloads(alerts, payloads)


def test_a_failed_batch_to_the_log_is_delivered_one_alert_at_a_time(
    tmp_path: Path, store: AlertStore
) -> None:
    # given a log whose batch call fails once, then works
    log = FlakyBatchLog(tmp_path / "alerts.jsonl", fail_batches=1)
    outbox = OutboxNotifier(store, [log], sleep=lambda s: None)
    # when two alerts are notified together
    outbox.notify_all([FakeAlert(alert_id="a"), FakeAlert(alert_id="b")])
    # then each was delivered alone (with its own budget) and recorded as sent once
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [line["alert_id"] for line in lines] == ["a", "b"]
    assert [(d.key, d.state, d.attempts) for d in store.deliveries()] == [
        ("a:open", "sent", 1),
        ("b:open", "sent", 1),
    ]


def test_a_notifier_replaced_under_its_name_is_checked_anew_for_batches(
    tmp_path: Path, store: AlertStore
) -> None:
    # given an outbox whose "log" is a plain notifier, after one alert went through it
    plain = RecordingNotifier("log")
    outbox = OutboxNotifier(store, [plain])
    outbox.notify_all([FakeAlert(alert_id="a")])
    # when a batch-taking log replaces it under the same name
    log, writes = counting_log(tmp_path / "alerts.jsonl")
    outbox.notifiers["log"] = log
    outbox.notify_all([FakeAlert(alert_id="b"), FakeAlert(alert_id="c")])
    # then the new one gets its alerts in one batch call, the old one kept only its own
    assert writes == [2]
    assert plain.keys == ["a:open"]
    # and back: the plain notifier gets them one at a time again
    outbox.notifiers["log"] = plain
    outbox.notify_all([FakeAlert(alert_id="d")])
    assert plain.keys == ["a:open", "d:open"] and writes == [2]
