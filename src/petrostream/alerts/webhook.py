"""`WebhookNotifier`: POST each alert as JSON to an HTTP endpoint, with retries.

Stdlib only (urllib), so it also runs in the Lambda zip.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from petrostream.alerts.base import (
    AlertLike,
    DeliveryError,
    TransientError,
    alert_payload,
    notification_key,
)
from petrostream.errors import ConfigError

_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookNotifier:
    """POSTs ``{"alert": {...}, "key": ...}`` to ``url`` and expects a 2xx answer.

    A timeout, a refused connection, 408/425/429 or a 5xx is retried up to
    ``attempts`` times with exponential backoff; past that `notify` raises
    `TransientError`. Any other 4xx raises `DeliveryError` at once. The header
    ``Idempotency-Key`` carries `notification_key` so a receiver can dedupe.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 3,
        backoff_s: float = 0.2,
        timeout_s: float = 5.0,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook URL {url!r} must start with http:// or https://")
        self.url = url
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})
        self._sleep = sleep

    def notify(self, alert: AlertLike) -> None:
        """POST the alert; retry transient failures. See the class docstring for errors."""
        key = notification_key(alert)
        body = json.dumps({"key": key, "alert": alert_payload(alert)}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key, **self.headers}
        last = ""
        for attempt in range(self.attempts):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
                self.url, data=body, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                    response.read()
                    return
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRYABLE_STATUS:
                    raise DeliveryError(
                        f"webhook {self.url} refused alert {key}: HTTP {exc.code}"
                    ) from None
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
        raise TransientError(f"webhook {self.url} failed {self.attempts} times: {last}")
