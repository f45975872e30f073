"""`LogNotifier`: every alert as a log line, and optionally as a JSON line in a file."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from petrostream.alerts.base import AlertLike, alert_payload, alert_subject

_LOG = logging.getLogger("petrostream.alerts")


class LogNotifier:
    """Writes each alert to the ``petrostream.alerts`` logger and to an append-only JSONL file.

    The file (e.g. ``<home>/alerts.jsonl``) is the local alert log: one JSON object
    per notification, flushed before `notify` returns.
    """

    name = "log"

    def __init__(self, path: Path | None = None, *, level: int = logging.WARNING) -> None:
        self.path = path
        self.level = level
        self._lock = threading.Lock()

    def notify(self, alert: AlertLike) -> None:
        """Log the alert; append it to the file if one was given. Never raises on content."""
        _LOG.log(self.level, "%s: %s", alert_subject(alert), alert.message)
        if self.path is None:
            return
        line = json.dumps(alert_payload(alert), separators=(",", ":"), sort_keys=True)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
