"""Delivering one alert to several notifiers without losing it.

* `RetryingNotifier` retries one notifier with exponential backoff (stateless:
  what fails past the budget raises `TransientError` to the caller; the Lambda
  handler turns that into a batch item failure and Lambda retries the batch).
* `FanoutNotifier` delivers to several notifiers and raises if any failed.
* `OutboxNotifier` is the local runtime's dispatcher: it records each alert in
  the `AlertStore` first, then delivers to each notifier with a retry budget;
  a delivery that still fails stays ``pending`` in the store (visible, with its
  error) and `redeliver` sends it later. A notifier that already accepted a
  notification is never called again for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from petrostream.alerts.base import (
    AlertLike,
    DeliveryError,
    Notifier,
    PayloadBatchNotifier,
    ProtocolCheck,
    TransientError,
    alert_payload,
    notification_key,
)
from petrostream.alerts.store import AlertStore, DeliveryOutcome, DeliveryState

_LOG = logging.getLogger(__name__)


class RetryingNotifier:
    """Retry ``inner`` on `TransientError`: ``attempts`` calls, doubling backoff."""

    def __init__(
        self,
        inner: Notifier,
        *,
        attempts: int = 3,
        backoff_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self._sleep = sleep

    def notify(self, alert: AlertLike) -> None:
        """Deliver with retries; raise the last `TransientError` past the budget."""
        for attempt in range(self.attempts):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                self.inner.notify(alert)
                return
            except TransientError:
                if attempt == self.attempts - 1:
                    raise


class FanoutNotifier:
    """Deliver to every notifier in turn; raise `TransientError` naming those that failed.

    Every notifier is tried even when an earlier one failed. Stateless: a retry
    calls the notifiers that had succeeded again (use `OutboxNotifier` to avoid that).
    """

    name = "fanout"

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = list(notifiers)

    def notify(self, alert: AlertLike) -> None:
        """Deliver to all; raise if any failed (DeliveryError only if all failures were final)."""
        errors: list[tuple[str, Exception]] = []
        for notifier in self.notifiers:
            try:
                notifier.notify(alert)
            except (TransientError, DeliveryError) as exc:
                errors.append((notifier.name, exc))
        if not errors:
            return
        text = "; ".join(f"{name}: {exc}" for name, exc in errors)
        if all(isinstance(exc, DeliveryError) for _, exc in errors):
            raise DeliveryError(text)
        raise TransientError(text)


@dataclass(frozen=True)
class RedeliveryResult:
    """What one `OutboxNotifier.redeliver` pass did."""

    sent: int
    still_pending: int
    failed: int


class OutboxNotifier:
    """Store-first fan-out with per-notifier delivery state (the local alert dispatcher).

    `notify` never raises for a delivery failure: the alert is durable in the
    store before any notifier is called, and a failed delivery is kept for
    `redeliver`. It raises only if the store itself fails (then nothing was
    promised and the caller retries the batch).
    """

    name = "outbox"

    def __init__(
        self,
        store: AlertStore,
        notifiers: Sequence[Notifier],
        *,
        attempts: int = 3,
        backoff_s: float = 0.05,
        redeliver_after_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        names = [n.name for n in notifiers]
        if len(set(names)) != len(names):
            raise ValueError(f"notifier names must be unique, got {names}")
        self.store = store
        self.notifiers = {n.name: n for n in notifiers}
        self._takes_batches = ProtocolCheck(PayloadBatchNotifier)
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.redeliver_after_s = redeliver_after_s
        self._sleep = sleep
        self._clock = clock

    def notify(self, alert: AlertLike) -> None:
        """Record the alert, then deliver it to each notifier that has not accepted it yet."""
        self.notify_all([alert])

    def notify_all(self, alerts: Sequence[AlertLike]) -> None:
        """`notify` each alert, in order, with three store calls for all of them.

        All alerts are recorded in one transaction before any notifier is called
        (store first: none is lost), delivered in order to each notifier that has not
        accepted it yet, and the outcomes are recorded together at the end. A crash
        before that last write leaves the deliveries unrecorded: they are made again
        (at least once, as when a crash falls between one delivery and its record).

        Each alert's payload is computed once, for the store and for a
        `PayloadBatchNotifier` (the log), which gets all of its alerts in one call; if
        that call fails (`TransientError`, `DeliveryError`), each alert is delivered to
        it alone with the retry budget, as to any other notifier.
        """
        if not alerts:
            return
        payloads = [alert_payload(alert) for alert in alerts]
        self.store.record_all(alerts, payloads=payloads)
        keys = [notification_key(alert) for alert in alerts]
        done = self.store.delivery_states(keys)
        outcomes: list[DeliveryOutcome] = []
        for name, notifier in self.notifiers.items():
            if self._takes_batches(notifier) and self._batch(
                cast(PayloadBatchNotifier, notifier), alerts, payloads, keys, done, outcomes
            ):
                continue
            for alert, key in zip(alerts, keys, strict=True):
                if done.get((key, name)) in ("sent", "failed"):
                    continue
                outcome = self._attempt(alert, key, name, notifier, attempts=self.attempts)
                done[key, name] = outcome.state
                outcomes.append(outcome)
        self.store.set_deliveries(outcomes)

    def _batch(
        self,
        notifier: PayloadBatchNotifier,
        alerts: Sequence[AlertLike],
        payloads: Sequence[Mapping[str, Any]],
        keys: Sequence[str],
        done: dict[tuple[str, str], DeliveryState],
        outcomes: list[DeliveryOutcome],
    ) -> bool:
        """Deliver to ``notifier`` in one call what it has not accepted; False if that failed."""
        name = notifier.name
        todo: dict[str, int] = {}  # key -> its first alert (a key is delivered once)
        for i, key in enumerate(keys):
            if key not in todo and done.get((key, name)) not in ("sent", "failed"):
                todo[key] = i
        if not todo:
            return True
        try:
            notifier.notify_payloads(
                [alerts[i] for i in todo.values()], [payloads[i] for i in todo.values()]
            )
        except (TransientError, DeliveryError) as exc:
            _LOG.warning(
                "batch of %d alerts to %s failed (%s): one at a time", len(todo), name, exc
            )
            return False
        for key in todo:
            done[key, name] = "sent"
            outcomes.append(DeliveryOutcome(key, name, "sent", 1))
        return True

    def _deliver(
        self, alert: AlertLike, key: str, name: str, notifier: Notifier, *, attempts: int
    ) -> str:
        outcome = self._attempt(alert, key, name, notifier, attempts=attempts)
        self.store.set_deliveries([outcome])
        return outcome.state

    def _attempt(
        self, alert: AlertLike, key: str, name: str, notifier: Notifier, *, attempts: int
    ) -> DeliveryOutcome:
        """Deliver with up to ``attempts`` calls; the outcome to record (not recorded yet)."""
        error = ""
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                notifier.notify(alert)
            except DeliveryError as exc:
                _LOG.error("alert %s refused by %s: %s", key, name, exc)
                return DeliveryOutcome(key, name, "failed", attempt + 1, str(exc))
            except TransientError as exc:
                error = str(exc)
                continue
            return DeliveryOutcome(key, name, "sent", attempt + 1)
        _LOG.warning("alert %s kept for later delivery to %s: %s", key, name, error)
        return DeliveryOutcome(
            key, name, "pending", attempts, error, self._clock() + self.redeliver_after_s
        )

    def redeliver(self, *, include_failed: bool = False) -> RedeliveryResult:
        """Try every due pending delivery once (and ``failed`` ones if asked); return counts."""
        counts = {"sent": 0, "pending": 0, "failed": 0}
        for alert, name in self.store.due(self._clock(), include_failed=include_failed):
            notifier = self.notifiers.get(name)
            if notifier is None:  # notifier no longer configured: leave it visible
                counts["pending"] += 1
                continue
            counts[self._deliver(alert, notification_key(alert), name, notifier, attempts=1)] += 1
        return RedeliveryResult(counts["sent"], counts["pending"], counts["failed"])
