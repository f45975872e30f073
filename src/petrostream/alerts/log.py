"""`LogNotifier`: every alert as a log line, and optionally as a JSON line in a file."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from petrostream.alerts.base import AlertLike, alert_payload, alert_subject

_LOG = logging.getLogger("petrostream.alerts")


class LogNotifier:
    """Writes each alert to the ``petrostream.alerts`` logger and to an append-only JSONL file.

    The file (e.g. ``<home>/alerts.jsonl``) is the local alert log: one JSON object
    per notification, flushed before `notify` returns. `notify_payloads` writes many
    alerts with one open and one write (the outbox hands it a batch's alerts).
    """

    name = "log"

    def __init__(self, path: Path | None = None, *, level: int = logging.WARNING) -> None:
        self.path = path
        self.level = level
        self._lock = threading.Lock()

    def notify(self, alert: AlertLike) -> None:
        """Log the alert; append it to the file if one was given. Never raises on content."""
        self.notify_payloads([alert], [alert_payload(alert)] if self.path is not None else [])

    def notify_payloads(
        self, alerts: Sequence[AlertLike], payloads: Sequence[Mapping[str, Any]]
    ) -> None:
        """`notify` each alert in order: a log line each, their JSON lines in one write.

        ``payloads[i]`` is ``alert_payload(alerts[i])`` (read only when a file was given).
        """
        if _LOG.isEnabledFor(self.level):
            for alert in alerts:
                _LOG.log(self.level, "%s: %s", alert_subject(alert), alert.message)
        if self.path is None or not alerts:
            return
        dumps = json.dumps
        text = "".join([dumps(p, separators=(",", ":"), sort_keys=True) + "\n" for p in payloads])
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(text)
