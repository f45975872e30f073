"""Notifier doubles for tests: record what was sent, or fail on demand."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from petrostream.alerts.base import AlertLike, DeliveryError, TransientError, notification_key


@dataclass(frozen=True)
class Notification:
    """One recorded `notify` call: the alert and the wall-clock time (epoch s) of the call."""

    alert: AlertLike
    at: float


class RecordingNotifier:
    """Keeps every alert it is given, in call order. Thread-safe.

    Attributes:
        calls: every `Notification`, duplicates included.
    """

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.calls: list[Notification] = []
        self._lock = threading.Lock()

    def notify(self, alert: AlertLike) -> None:
        """Record the alert; never fails."""
        with self._lock:
            self.calls.append(Notification(alert, time.time()))

    @property
    def alerts(self) -> list[AlertLike]:
        """The alerts received, in order (duplicates included)."""
        with self._lock:
            return [c.alert for c in self.calls]

    @property
    def keys(self) -> list[str]:
        """`notification_key` of every call, in order; a duplicate shows twice."""
        return [notification_key(a) for a in self.alerts]

    def clear(self) -> None:
        """Forget every call."""
        with self._lock:
            self.calls.clear()


@dataclass
class FailingNotifier:
    """A notifier that fails on purpose, then (optionally) records like `RecordingNotifier`.

    Args:
        fail_first: the first N calls raise (then calls succeed).
        fail_always: every call raises.
        permanent: raise `DeliveryError` instead of `TransientError`.
        fail_for: alert ids whose calls always raise.
    """

    name: str = "failing"
    fail_first: int = 0
    fail_always: bool = False
    permanent: bool = False
    fail_for: frozenset[str] = frozenset()
    attempts: int = 0
    delivered: list[AlertLike] = field(default_factory=list)

    def notify(self, alert: AlertLike) -> None:
        """Raise per the knobs, else record the alert in ``delivered``."""
        self.attempts += 1
        if self.fail_always or self.attempts <= self.fail_first or alert.alert_id in self.fail_for:
            error = DeliveryError if self.permanent else TransientError
            raise error(f"{self.name}: injected failure #{self.attempts}")
        self.delivered.append(alert)
