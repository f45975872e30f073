"""The handler's configuration, read once from the environment at the edge.

The Lambda zip stays small and pure: it carries no pydantic (whose compiled core
would tie the zip to one platform), so the handler reads its few variables here
instead of through `petrostream.settings.Settings`. The names are the same
``PETROSTREAM_*`` variables; `HandlerConfig.from_settings` builds the same value
for the local runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from petrostream import record

if TYPE_CHECKING:
    from petrostream.settings import Settings

MetricsMode = Literal["emf", "local", "none"]


@dataclass(frozen=True)
class HandlerConfig:
    """Which backends the handler uses.

    Attributes:
        home: local state folder (SQLite state, alert store, metrics) when a
            backend below is not set.
        state_bucket: S3 bucket of the detection state, one object per shard
            (``PETROSTREAM_STATE_BUCKET``); None: SQLite ``<home>/realtime.db``.
        state_prefix: key prefix of those objects (``PETROSTREAM_STATE_PREFIX``,
            default ``detector-state/``).
        state_table: DynamoDB table of the delivered-notification markers (and of
            the per-well state of earlier releases, read once)
            (``PETROSTREAM_STATE_TABLE``); set with ``state_bucket``.
        alert_topic_arn: SNS topic for alerts (``PETROSTREAM_ALERT_TOPIC_ARN``);
            None: the local alert store + log (``<home>/alerts.db``, ``alerts.jsonl``).
        dlq_url: SQS dead-letter queue (``PETROSTREAM_DLQ_URL``); None: SQLite table.
        alert_webhook_url: also POST alerts there (``PETROSTREAM_ALERT_WEBHOOK_URL``).
        rules_file: detection rules TOML (``PETROSTREAM_RULES_FILE``); None: bundled.
        metrics: ``emf`` (stdout, for CloudWatch), ``local`` (``<home>/metrics.db``) or
            ``none``; ``PETROSTREAM_METRICS``, default ``emf`` inside Lambda, else ``local``.
        max_new_fields: unknown numeric fields one record may carry
            (``PETROSTREAM_MAX_NEW_FIELDS_PER_RECORD``); past it: ``too_many_fields``.
        max_new_columns: distinct new columns admitted (``PETROSTREAM_MAX_NEW_COLUMNS``);
            past it: ``too_many_columns``.
    """

    home: Path = Path(".petrostream")
    state_bucket: str | None = None
    state_prefix: str = "detector-state/"
    state_table: str | None = None
    alert_topic_arn: str | None = None
    dlq_url: str | None = None
    alert_webhook_url: str | None = None
    rules_file: str | None = None
    metrics: MetricsMode = "local"
    max_new_fields: int = record.MAX_NEW_FIELDS
    max_new_columns: int = record.MAX_NEW_COLUMNS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HandlerConfig:
        """Build from ``PETROSTREAM_*`` variables (``AWS_LAMBDA_FUNCTION_NAME`` picks EMF)."""

        def get(name: str) -> str | None:
            return environ.get(f"PETROSTREAM_{name}") or None

        default_metrics = "emf" if environ.get("AWS_LAMBDA_FUNCTION_NAME") else "local"
        metrics = (get("METRICS") or default_metrics).lower()
        if metrics not in ("emf", "local", "none"):
            metrics = default_metrics
        return cls(
            home=Path(get("HOME") or ".petrostream"),
            state_bucket=get("STATE_BUCKET"),
            state_prefix=get("STATE_PREFIX") or "detector-state/",
            state_table=get("STATE_TABLE"),
            alert_topic_arn=get("ALERT_TOPIC_ARN"),
            dlq_url=get("DLQ_URL"),
            alert_webhook_url=get("ALERT_WEBHOOK_URL"),
            rules_file=get("RULES_FILE"),
            metrics=metrics,  # type: ignore[arg-type]
            max_new_fields=_count(get("MAX_NEW_FIELDS_PER_RECORD"), record.MAX_NEW_FIELDS),
            max_new_columns=_count(get("MAX_NEW_COLUMNS"), record.MAX_NEW_COLUMNS),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> HandlerConfig:
        """The local runtime's config: everything under ``settings.home``."""
        return cls(
            home=settings.home,
            alert_webhook_url=getattr(settings, "alert_webhook_url", None),
            rules_file=str(settings.rules_file) if settings.rules_file else None,
            metrics="local",
            max_new_fields=settings.max_new_fields_per_record,
            max_new_columns=settings.max_new_columns,
        )


def _count(text: str | None, default: int) -> int:
    """A non-negative count from a variable; the default when unset or not a count."""
    if text is None or not text.strip().isdigit():
        return default
    return int(text)
