"""`AlertStore`: the local record of every alert and of its delivery to each notifier.

One SQLite file under the home (``<home>/alerts.db``, WAL). It is the outbox:
a delivery that failed past its retry budget stays ``pending`` here with its
next attempt time until `OutboxNotifier.redeliver` gets it through, so a
failing notifier never loses an alert. It also tracks which alerts were
exported to the lake's ``alerts`` table (exactly once, see `claim_export`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from petrostream.alerts.base import AlertLike, alert_payload, notification_key
from petrostream.sqlite import open_wal

DeliveryState = Literal["sent", "pending", "failed"]
_KEYS_PER_QUERY: Final = 500  # bound parameters per query, well under SQLite's limit

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS alerts (
    key TEXT PRIMARY KEY,          -- alert_id:status (one row per notification)
    alert_id TEXT NOT NULL,
    well_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,         -- alert_payload() as JSON
    recorded_at REAL NOT NULL,     -- epoch seconds
    export_batch INTEGER,          -- claimed by an export batch
    exported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS alerts_export ON alerts (exported, export_batch);
-- the summary's counts per alert and per rule scan these, not the rows and their payloads
CREATE INDEX IF NOT EXISTS alerts_by_id ON alerts (alert_id, status);
CREATE INDEX IF NOT EXISTS alerts_by_rule ON alerts (rule, alert_id);
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT NOT NULL,
    notifier TEXT NOT NULL,
    state TEXT NOT NULL,           -- sent | pending | failed
    attempts INTEGER NOT NULL,
    last_error TEXT,
    next_attempt_at REAL,          -- epoch seconds, for pending
    updated_at REAL NOT NULL,
    PRIMARY KEY (key, notifier)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS export_batches (
    batch INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class StoredAlert:
    """An alert read back from the store; satisfies `AlertLike` so notifiers accept it."""

    alert_id: str
    well_id: str
    rule: str
    severity: str
    status: str
    message: str
    payload: dict[str, Any] = field(repr=False)
    diagnosis: str | None = None
    confidence: float | None = None
    revision: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The alert's fields as recorded (timestamps as UTC strings)."""
        return dict(self.payload)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> StoredAlert:
        """Rebuild from `alert_payload` output."""
        return cls(
            alert_id=str(payload["alert_id"]),
            well_id=str(payload.get("well_id", "")),
            rule=str(payload.get("rule", "")),
            severity=str(payload.get("severity", "")),
            status=str(payload.get("status", "")),
            message=str(payload.get("message", "")),
            payload=payload,
            diagnosis=payload.get("diagnosis"),
            confidence=payload.get("confidence"),
            revision=int(payload.get("revision") or 0),
        )


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one delivery attempt pass gave, to record (`AlertStore.set_deliveries`)."""

    key: str
    notifier: str
    state: DeliveryState
    attempts: int
    error: str | None = None
    next_attempt_at: float | None = None  # epoch seconds, for pending


@dataclass(frozen=True)
class Delivery:
    """One notification's state at one notifier."""

    key: str
    notifier: str
    state: DeliveryState
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class AlertSummary:
    """Counts for `stream describe` and the dashboard."""

    alerts: int
    open_alerts: int
    by_rule: dict[str, int]
    pending_deliveries: int
    failed_deliveries: int
    not_exported: int


class AlertStore:
    """SQLite-backed alert log, outbox and export ledger. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = open_wal(path, _SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- alerts ---------------------------------------------------------------

    def record(self, alert: AlertLike) -> bool:
        """Store the notification if new; return True when it was not there yet. Idempotent."""
        return self.record_all([alert]) == 1

    def record_all(
        self,
        alerts: Sequence[AlertLike],
        *,
        payloads: Sequence[Mapping[str, Any]] | None = None,
    ) -> int:
        """`record` each notification, all in one transaction; return how many were new.

        ``payloads[i]``, when given, is ``alert_payload(alerts[i])`` (the outbox computes
        it once for the store and the log). All are stored or, if the store fails,
        none (the caller retries them all).
        """
        now = time.time()
        if payloads is None:
            payloads = [alert_payload(alert) for alert in alerts]
        rows = [
            (
                notification_key(alert),
                alert.alert_id,
                alert.well_id,
                alert.rule,
                alert.severity,
                alert.status,
                json.dumps(payload, sort_keys=True),
                now,
            )
            for alert, payload in zip(alerts, payloads, strict=True)
        ]
        if not rows:
            return 0
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO alerts (key, alert_id, well_id, rule, severity, status,"
                " payload, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return db.total_changes - before

    def get(self, key: str) -> StoredAlert | None:
        """The notification stored under ``key`` (``alert_id:status``), or None."""
        with self._lock:
            row = self._db.execute("SELECT payload FROM alerts WHERE key = ?", (key,)).fetchone()
        return None if row is None else StoredAlert.from_payload(json.loads(row[0]))

    def list_alerts(self, *, limit: int = 100, well_id: str | None = None) -> list[StoredAlert]:
        """The most recent notifications first."""
        sql = "SELECT payload FROM alerts"
        args: list[Any] = []
        if well_id is not None:
            sql += " WHERE well_id = ?"
            args.append(well_id)
        sql += " ORDER BY recorded_at DESC, key DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [StoredAlert.from_payload(json.loads(r[0])) for r in rows]

    # -- deliveries (the outbox) -------------------------------------------------

    def delivery_state(self, key: str, notifier: str) -> DeliveryState | None:
        """The delivery's state, or None if never attempted."""
        return self.delivery_states([key]).get((key, notifier))

    def delivery_states(self, keys: Sequence[str]) -> dict[tuple[str, str], DeliveryState]:
        """The state of every delivery of ``keys``: ``{(key, notifier): state}`` (absent: never)."""
        out: dict[tuple[str, str], DeliveryState] = {}
        distinct = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(distinct), _KEYS_PER_QUERY):
                chunk = distinct[start : start + _KEYS_PER_QUERY]
                rows = self._db.execute(
                    "SELECT key, notifier, state FROM deliveries"
                    f" WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                out.update(((key, notifier), state) for key, notifier, state in rows)
        return out

    def set_delivery(
        self,
        key: str,
        notifier: str,
        state: DeliveryState,
        *,
        attempts: int,
        error: str | None = None,
        next_attempt_at: float | None = None,
    ) -> None:
        """Record the outcome of delivering ``key`` to ``notifier``; attempts accumulate."""
        outcome = DeliveryOutcome(key, notifier, state, attempts, error, next_attempt_at)
        self.set_deliveries([outcome])

    def set_deliveries(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        """`set_delivery` for each outcome, in order, all in one transaction."""
        if not outcomes:
            return
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT INTO deliveries (key, notifier, state, attempts, last_error,"
                " next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (key, notifier) DO UPDATE SET state = excluded.state,"
                " attempts = deliveries.attempts + excluded.attempts,"
                " last_error = excluded.last_error, next_attempt_at = excluded.next_attempt_at,"
                " updated_at = excluded.updated_at",
                [
                    (o.key, o.notifier, o.state, o.attempts, o.error, o.next_attempt_at, now)
                    for o in outcomes
                ],
            )

    def deliveries(self, *, states: tuple[DeliveryState, ...] | None = None) -> list[Delivery]:
        """Every delivery (or those in ``states``), oldest first."""
        sql = "SELECT key, notifier, state, attempts, last_error, next_attempt_at FROM deliveries"
        args: list[Any] = []
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args.extend(states)
        sql += " ORDER BY updated_at, key"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            Delivery(
                key=r[0],
                notifier=r[1],
                state=r[2],
                attempts=r[3],
                last_error=r[4],
                next_attempt_at=None if r[5] is None else datetime.fromtimestamp(r[5], UTC),
            )
            for r in rows
        ]

    def due(self, now: float, *, include_failed: bool = False) -> list[tuple[StoredAlert, str]]:
        """Pending deliveries whose next attempt time has come: ``(alert, notifier)`` pairs."""
        states = ("pending", "failed") if include_failed else ("pending",)
        marks = ",".join("?" * len(states))
        with self._lock:
            rows = self._db.execute(
                "SELECT a.payload, d.notifier FROM deliveries d JOIN alerts a ON a.key = d.key"
                f" WHERE d.state IN ({marks}) AND (d.state = 'failed' OR d.next_attempt_at <= ?)"
                " ORDER BY a.recorded_at, d.key",
                (*states, now),
            ).fetchall()
        return [(StoredAlert.from_payload(json.loads(p)), n) for p, n in rows]

    # -- lake export ledger ---------------------------------------------------------

    def claim_export(self) -> tuple[int, list[dict[str, Any]]] | None:
        """Return the export batch to write: an unfinished one first, else a new one.

        Exactly-once protocol: a batch id is claimed for the alerts not exported
        yet (in one transaction), the writer writes ``part-<batch>`` (overwriting a
        file a crashed run may have left), then calls `mark_exported`. A crash at
        any point rewrites the same file under the same name: never a duplicate row.
        Returns None when there is nothing to export.
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT MIN(export_batch) FROM alerts WHERE exported = 0"
                " AND export_batch IS NOT NULL"
            ).fetchone()
            batch = row[0]
            if batch is None:
                fresh = db.execute(
                    "SELECT COUNT(*) FROM alerts WHERE exported = 0 AND export_batch IS NULL"
                ).fetchone()[0]
                if not fresh:
                    return None
                cur = db.execute(
                    "INSERT INTO export_batches (created_at) VALUES (?)", (time.time(),)
                )
                batch = int(cur.lastrowid or 0)
                db.execute(
                    "UPDATE alerts SET export_batch = ?"
                    " WHERE exported = 0 AND export_batch IS NULL",
                    (batch,),
                )
            rows = db.execute(
                "SELECT payload FROM alerts WHERE export_batch = ? ORDER BY recorded_at, key",
                (batch,),
            ).fetchall()
        return int(batch), [json.loads(r[0]) for r in rows]

    def mark_exported(self, batch: int) -> None:
        """Mark every alert of the export batch as written to the lake."""
        with self._tx() as db:
            db.execute("UPDATE alerts SET exported = 1 WHERE export_batch = ?", (batch,))

    # -- summary ----------------------------------------------------------------

    def pending_deliveries(self) -> int:
        """How many deliveries wait for `OutboxNotifier.redeliver` (an index count: cheap)."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'"
            ).fetchone()
        return int(row[0])

    def summary(self) -> AlertSummary:
        """Counts for `stream describe` / the dashboard."""
        with self._lock:
            db = self._db
            total = db.execute("SELECT COUNT(DISTINCT alert_id) FROM alerts").fetchone()[0]
            open_ = db.execute(
                "SELECT COUNT(*) FROM (SELECT alert_id FROM alerts GROUP BY alert_id"
                " HAVING SUM(status = 'closed') = 0)"
            ).fetchone()[0]
            by_rule = dict(
                db.execute(
                    "SELECT rule, COUNT(DISTINCT alert_id) FROM alerts GROUP BY rule ORDER BY rule"
                ).fetchall()
            )
            pending = db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'"
            ).fetchone()[0]
            failed = db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE state = 'failed'"
            ).fetchone()[0]
            not_exported = db.execute("SELECT COUNT(*) FROM alerts WHERE exported = 0").fetchone()[
                0
            ]
        return AlertSummary(total, open_, by_rule, pending, failed, not_exported)
