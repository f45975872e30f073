"""The notifier contract: how an alert leaves PetroStream.

Backends share nothing (SNS, SMTP, an HTTP webhook, a log line), so the
contract is a `typing.Protocol`. Every backend lives in its own module and
imports its library lazily; this module is pure and ships in the Lambda zip.

Delivery is at-least-once: a caller that sees `TransientError` retries the same
alert later, so a receiver may see an alert twice after a crash. Alert ids are
deterministic (the detector derives them from the well, the rule and the
opening reading), so receivers and `AlertStore` deduplicate on
`notification_key`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from petrostream.errors import PetroStreamError, TransientError

__all__ = [
    "AlertLike",
    "DeliveryError",
    "Notifier",
    "PayloadBatchNotifier",
    "ProtocolCheck",
    "TransientError",
    "alert_payload",
    "alert_subject",
    "diagnosis_text",
    "notification_key",
    "ts_millis",
]


class DeliveryError(PetroStreamError):
    """A notifier refused an alert for good (bad address, 4xx from a webhook).

    Retrying the same call will not help; the outbox keeps the delivery as
    ``failed`` so an operator can fix the configuration and retry it.
    """


@runtime_checkable
class AlertLike(Protocol):
    """What a notifier reads from an alert (`petrostream.detect.base.Alert` has it)."""

    @property
    def alert_id(self) -> str:
        """Deterministic id: a retried batch yields the same id."""
        ...

    @property
    def well_id(self) -> str:
        """The well."""
        ...

    @property
    def rule(self) -> str:
        """The rule or detector that fired."""
        ...

    @property
    def severity(self) -> str:
        """``info``, ``warning`` or ``critical``."""
        ...

    @property
    def status(self) -> str:
        """``open`` or ``closed``."""
        ...

    @property
    def message(self) -> str:
        """A human sentence."""
        ...

    @property
    def diagnosis(self) -> str | None:
        """The most likely 3W event type (process alerts), e.g. ``SEVERE_SLUGGING``."""
        ...

    @property
    def confidence(self) -> float | None:
        """The diagnosis' confidence, 0-1."""
        ...

    @property
    def revision(self) -> int:
        """0, then one more per ``update`` (a revised diagnosis of the same alert)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Return the alert as a JSON-ready dict (the `alerts` table's columns)."""
        ...


@runtime_checkable
class Notifier(Protocol):
    """Delivers one alert to people or systems.

    Implementations: `LogNotifier`, `SnsNotifier`, `SmtpNotifier`, `WebhookNotifier`,
    `FanoutNotifier`, `OutboxNotifier`; `petrostream.testing.notifier` has doubles.
    """

    name: str

    def notify(self, alert: AlertLike) -> None:
        """Deliver ``alert``; return only once the receiver accepted it.

        Called once per alert state change (an alert opening, then closing), in
        detection order for one well. May be called again with the same alert
        after a crash or a retried batch: receivers dedupe on `notification_key`.

        Raises:
            TransientError: delivery failed for a reason that may pass (timeout,
                throttling, 5xx); the caller retries later and loses nothing.
            DeliveryError: the receiver refused the alert for good.
        """
        ...


@runtime_checkable
class BatchNotifier(Notifier, Protocol):
    """A notifier that also takes one well's new alerts in one call (`OutboxNotifier`).

    ``notify_all(alerts)`` is ``notify`` of each, in order, with the store's writes
    grouped; it records a refused delivery itself instead of raising `DeliveryError`.
    """

    def notify_all(self, alerts: Sequence[AlertLike]) -> None:
        """`notify` each of ``alerts`` in order."""
        ...


@runtime_checkable
class PayloadBatchNotifier(Protocol):
    """A notifier that takes many alerts in one call, their payloads computed once (`LogNotifier`).

    The outbox computes each alert's `alert_payload` once for the store and hands the
    same dicts here: one call (one file write) per batch instead of one per alert.
    """

    name: str

    def notify_payloads(
        self, alerts: Sequence[AlertLike], payloads: Sequence[Mapping[str, Any]]
    ) -> None:
        """`notify` each of ``alerts`` in order; ``payloads[i]`` is ``alert_payload(alerts[i])``.

        Raises as `notify` does; then none counts as delivered and the caller
        delivers each again (at least once, as after a crash).
        """
        ...


class ProtocolCheck:
    """``isinstance(obj, protocol)`` for a runtime-checkable protocol, once per object.

    Such an isinstance looks up each of the protocol's members (~15-18 us), and the
    notifiers are asked on every alerting well's way out. The answer is kept per
    object (the object with it, so its id is not reused); a notifier replaced by
    another is checked anew.
    """

    def __init__(self, protocol: type) -> None:
        self.protocol = protocol
        self._seen: dict[int, tuple[object, bool]] = {}

    def __call__(self, obj: object) -> bool:
        """Whether ``obj`` implements the protocol."""
        known = self._seen.get(id(obj))
        if known is None or known[0] is not obj:
            known = self._seen[id(obj)] = (obj, isinstance(obj, self.protocol))
        return known[1]


def notification_key(alert: AlertLike) -> str:
    """The idempotency key of one notification: the alert id, its status, and the revision.

    An alert is notified ``open`` and ``closed`` once each under one id (keys
    ``<id>:open``, ``<id>:closed``); each revised diagnosis in between is one
    ``update`` (key ``<id>:update:<revision>``).
    """
    if alert.status == "update":
        return f"{alert.alert_id}:update:{alert.revision}"
    return f"{alert.alert_id}:{alert.status}"


def ts_millis(value: Any) -> int | None:
    """Epoch milliseconds of a timestamp given as datetime, record string, or number."""
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(aware.timestamp() * 1000)
    if isinstance(value, int | float):
        return int(value)
    parsed = datetime.fromisoformat(str(value))  # also reads 'YYYY-MM-DD HH:MM:SS.mmm'
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


# Values `_jsonable` returns as they are, by exact type: a payload's fields are mostly
# these, and checking them inline saves a call per field (the detector notifies ~4,000
# alerts on the real 3W set).
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> Any:
    if type(value) is dict:  # to_dict()'s: one level of plain values, mostly
        plain = _PLAIN
        return {str(k): v if type(v) in plain else _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def alert_payload(alert: AlertLike) -> dict[str, Any]:
    """The alert as a JSON-safe dict: every field of ``to_dict()``, datetimes as UTC strings."""
    payload = _jsonable(alert.to_dict())
    assert isinstance(payload, dict)  # noqa: S101 - to_dict returns a mapping
    return payload


def diagnosis_text(alert: AlertLike) -> str:
    """``SEVERE_SLUGGING 0.87``, or ``""`` for an alert without a diagnosis."""
    if not alert.diagnosis:
        return ""
    confidence = "" if alert.confidence is None else f" {alert.confidence:.2f}"
    return f"{alert.diagnosis}{confidence}"


def alert_subject(alert: AlertLike) -> str:
    """One human line: severity, well, rule, status and the diagnosis (at most 100 characters).

    e.g. ``[PetroStream CRITICAL] WELL-00011 pressure_jump open: SPURIOUS_CLOSURE_OF_DHSV 0.93``.
    """
    subject = f"[PetroStream {alert.severity.upper()}] {alert.well_id} {alert.rule} {alert.status}"
    if diagnosis := diagnosis_text(alert):
        subject += f": {diagnosis}"
    return subject[:100]  # SNS and most mail clients cut subjects at 100 characters
