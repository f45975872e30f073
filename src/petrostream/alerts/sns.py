"""`SnsNotifier`: publish each alert to an SNS topic (e-mail/SMS subscribers on AWS)."""

from __future__ import annotations

import json
from typing import Any

from petrostream.alerts.base import (
    AlertLike,
    DeliveryError,
    TransientError,
    alert_payload,
    alert_subject,
    notification_key,
)

# Error codes SNS returns for a condition that passes: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottling",
        "RequestTimeout",
    }
)


class SnsNotifier:
    """Publishes the alert JSON with a human subject and message attributes for filtering.

    Message attributes ``severity``, ``well_id``, ``rule``, ``status`` and, on process
    alerts, ``diagnosis`` let subscriptions filter (e.g. SMS only for ``critical``).
    botocore errors are translated: throttling, 5xx and connection errors raise `TransientError`,
    anything else (missing topic, access denied) raises `DeliveryError`.
    """

    name = "sns"

    def __init__(self, topic_arn: str, *, client: Any | None = None) -> None:
        self.topic_arn = topic_arn
        if client is None:
            import boto3

            client = boto3.client("sns")
        self._client = client

    def notify(self, alert: AlertLike) -> None:
        """Publish the alert. See the class docstring for errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        attributes = {
            name: {"DataType": "String", "StringValue": str(getattr(alert, name))}
            for name in ("severity", "well_id", "rule", "status")
        }
        if alert.diagnosis:  # lets a subscription filter on the event, e.g. only DHSV closures
            attributes["diagnosis"] = {"DataType": "String", "StringValue": alert.diagnosis}
        payload = {"key": notification_key(alert), "alert": alert_payload(alert)}
        try:
            self._client.publish(
                TopicArn=self.topic_arn,
                Subject=alert_subject(alert),
                Message=json.dumps(payload),
                MessageAttributes=attributes,
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            text = f"SNS publish to {self.topic_arn} failed: {code} {error.get('Message', '')}"
            if code in _TRANSIENT_CODES or status >= 500:
                raise TransientError(text) from None
            raise DeliveryError(text) from None
        except BotoCoreError as exc:
            raise TransientError(f"SNS publish to {self.topic_arn} failed: {exc}") from None
