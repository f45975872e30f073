"""What the dashboard shows, read from the pipeline's own stores; no web framework here.

Every read goes through the owners' library functions: the lake through the
read-only query engine (`DuckDBEngine`, Athena SQL) over a catalog this module
keeps fresh by crawling in memory (it never writes the catalog file), alerts
through `AlertStore`, consumer lag through `LocalStream.describe`, the last
flush through the lake's `flush_summary` (its snapshots), detector health through
`realtime_status`. Nothing here writes to the pipeline's state.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from petrostream import schema
from petrostream.alerts.base import notification_key
from petrostream.errors import PetroStreamError
from petrostream.query.base import (
    DEFAULT_LIMIT,
    QueryError,
    QueryLimits,
    QueryResult,
    json_value,
    named_queries,
    named_query,
)
from petrostream.query.output import format_result

if TYPE_CHECKING:
    from petrostream.catalog.base import Catalog
    from petrostream.catalog.crawler import Crawler
    from petrostream.query.duckdb_engine import DuckDBEngine
    from petrostream.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_POINTS: Final = 600
MAX_POINTS: Final = 5_000
MAX_SQL_ROWS: Final = DEFAULT_LIMIT
SQL_TIMEOUT_S: Final = 30.0
SERIES_TIMEOUT_S: Final = 20.0
CRAWL_INTERVAL_S: Final = 2.0
DEFAULT_SENSORS: Final[tuple[str, ...]] = ("p_pdg", "p_tpt", "t_tpt")
# The 3W 1.x variables first, in the order operators read them; then the rest of 3W 2.x.
_ORDER: Final[tuple[str, ...]] = (
    "p_pdg",
    "p_tpt",
    "t_tpt",
    "p_mon_ckp",
    "t_jus_ckp",
    "p_jus_ckgl",
    "t_jus_ckgl",
    "qgl",
)
_ALERT_SCAN: Final = 5_000
READINGS_SPAN: Final = (datetime(1900, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC))
"""Timestamps the dashboard charts and ages; a reading outside is shown in SQL only."""


class NotFound(PetroStreamError):  # noqa: N818 - says what happened
    """The thing asked for does not exist (a well with no readings, an unknown sensor)."""


class BadRequest(PetroStreamError):  # noqa: N818
    """A request parameter is wrong; the message says which and how to fix it."""


def sensor_kind(unit: str) -> str:
    """``pressure``, ``temperature``, ``flow`` or ``other``, from an SI unit."""
    return {"Pa": "pressure", "degC": "temperature", "m3/s": "flow"}.get(unit, "other")


def parse_time(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; zone-less means UTC), or None when absent.

    Raises:
        BadRequest: the text is not an ISO 8601 time.
    """
    if text is None or text == "":
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(
            f"{name}={text!r} is not an ISO 8601 time; write e.g. 2024-05-01T12:00:00Z"
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def nice_bucket(span_s: float, points: int) -> int:
    """Whole seconds per bucket so that ``span_s`` fits in at most ``points`` buckets."""
    raw = max(1.0, span_s / max(1, points))
    for step in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600):
        if step >= raw:
            return step
    return 86_400 * math.ceil(raw / 86_400)


def _iso(moment: datetime | None) -> str | None:
    value = json_value(moment)
    return value if isinstance(value, str) else None


def _age_s(ts: Any, now: datetime) -> float | None:
    """Seconds since a well's latest reading; None when that is no instant (year 0) or ahead."""
    if not isinstance(ts, datetime) or not READINGS_SPAN[0] <= ts <= now + timedelta(days=1):
        return None
    return round((now - ts).total_seconds(), 1)


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Sensor:
    """A sensor column of the lake with what the page needs to draw it."""

    column: str
    tag: str
    unit: str
    kind: str
    description: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {
            "column": self.column,
            "tag": self.tag,
            "unit": self.unit,
            "kind": self.kind,
            "description": self.description,
        }


class LakeView:
    """The query engine over a catalog kept fresh by crawling the lake in memory.

    `engine()` crawls again when the last crawl is older than ``interval``
    seconds (reading only new footers), so a running pipeline shows up without
    `petrostream crawl`. Thread-safe; the engine runs queries side by side.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        interval: float = CRAWL_INTERVAL_S,
        limits: QueryLimits | None = None,
    ) -> None:
        self.settings = settings
        self.interval = interval
        self.limits = limits
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._engine: DuckDBEngine | None = None
        self._crawler: Crawler | None = None  # kept: it remembers the commits it has read
        self._crawled_at = float("-inf")
        self.crawled: datetime | None = None

    def catalog(self) -> Catalog:
        """The current catalog (crawling first if it is stale)."""
        self._refresh()
        assert self._catalog is not None  # noqa: S101 - set by _refresh
        return self._catalog

    def engine(self) -> DuckDBEngine:
        """The engine over the current catalog (crawling first if it is stale)."""
        self._refresh()
        assert self._engine is not None  # noqa: S101 - set by _refresh
        return self._engine

    def execute(self, sql: str, **kwargs: Any) -> QueryResult:
        """Run read-only Athena SQL on the lake; see `QueryEngine.execute`."""
        return self.engine().execute(sql, **kwargs)

    def close(self) -> None:
        """Close the engine."""
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None

    def _refresh(self) -> None:
        from petrostream.catalog.base import Catalog
        from petrostream.catalog.crawler import Crawler
        from petrostream.catalog.local import LocalCatalogStore
        from petrostream.query.duckdb_engine import DuckDBEngine

        with self._lock:
            if self._engine is not None and time.monotonic() - self._crawled_at < self.interval:
                return
            base = self._catalog
            if base is None:
                base = LocalCatalogStore(self.settings.catalog_path).load()
            # The crawler updates its argument in place: give it a copy, the engine
            # may be reading the current one in another thread.
            start = None if base is None else Catalog.from_dict(base.to_dict())
            try:
                if self._crawler is None:
                    self._crawler = Crawler(self.settings.lake_uri, home=self.settings.home)
                catalog, report = self._crawler.crawl(start)
            except PetroStreamError as exc:
                if base is not None:
                    catalog, changed = base, False
                    log.warning("dashboard: lake not crawled: %s", exc)
                else:  # no lake yet: an empty catalog, the API says so
                    catalog, changed = Catalog(lake_uri=self.settings.lake_uri), True
            else:
                changed = report.changed or self._catalog is None
            if self._engine is None:
                self._engine = DuckDBEngine(catalog, threads=2, limits=self.limits)
            elif changed:
                self._engine.refresh(catalog)
            self._catalog = catalog
            self._crawled_at = time.monotonic()
            self.crawled = datetime.now(UTC)


class DashboardData:
    """Everything the API serves, as JSON-ready dicts.

    Args:
        settings: where the pipeline's state lives (home, lake).
        crawl_interval: seconds between two crawls of the lake.
        limits: what each query may use (memory, concurrency, temporary folder).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        crawl_interval: float = CRAWL_INTERVAL_S,
        limits: QueryLimits | None = None,
    ) -> None:
        self.settings = settings
        self.lake = LakeView(settings, interval=crawl_interval, limits=limits)

    def close(self) -> None:
        """Release the query engine."""
        self.lake.close()

    # ---------------------------------------------------------------- sensors

    def sensors(self) -> list[Sensor]:
        """The sensor columns the lake's ``sensors`` table has, in canonical order."""
        table = self.lake.catalog().tables.get("sensors")
        present = {c.name for c in table.columns} if table else set()
        out = []
        ordered = dict.fromkeys([*_ORDER, *schema.SENSOR_COLUMNS])
        for column in ordered:
            if column in present:
                variable = schema.VARIABLES_BY_COLUMN[column]
                out.append(
                    Sensor(
                        column,
                        variable.tag,
                        variable.unit,
                        sensor_kind(variable.unit),
                        variable.description,
                    )
                )
        known = set(schema.SENSOR_COLUMNS) | set(schema.RECORD_COLUMNS) | {"dt"}
        for column in sorted(present - known):  # schema evolution: a new gauge
            out.append(Sensor(column, column.upper().replace("_", "-"), "", "other", ""))
        return out

    # ---------------------------------------------------------------- fleet

    def fleet(self) -> dict[str, Any]:
        """Wells with their latest reading, readings count, alerts, freshness, synthetic or not."""
        now = datetime.now(UTC)
        catalog = self.lake.catalog()
        sensors = catalog.tables.get("sensors")
        wells: dict[str, dict[str, Any]] = {}
        if sensors is not None and sensors.partitions:
            # Partitions are days x well buckets (Iceberg): the counts per well come
            # from one scan of the well_id and ts columns.
            counted = self.lake.execute(
                "SELECT well_id, count(*) AS n, max(dt) AS last_day FROM sensors GROUP BY well_id",
                limit=None,
            )
            rows_per_well: Counter[str] = Counter()
            last_day: dict[str, str] = {}
            for well, n, day in counted.rows:
                rows_per_well[str(well)] = int(n)
                last_day[str(well)] = str(day)
            # Every well's latest reading lies in its latest day: read only the days
            # from the oldest of those on (the lake may hold years).
            since = min(last_day.values()) if last_day else ""
            latest = named_query("latest_reading_per_well")
            result = self.lake.execute(
                latest.sql,
                params=latest.bind({"since": since}),
                limit=None,
                timeout=SERIES_TIMEOUT_S,
            )
            for record in result.records():
                ts = record.get("ts")
                wells[record["well_id"]] = {
                    **{k: json_value(v) for k, v in record.items()},
                    "readings": rows_per_well.get(record["well_id"], 0),
                    "age_s": _age_s(ts, now),
                    "alerts": 0,
                    "open_alerts": 0,
                }
        alerts = self._alert_states()
        for well_id, status in alerts.values():
            entry = wells.setdefault(
                well_id,
                {"well_id": well_id, "readings": 0, "ts": None, "age_s": None},
            )
            entry["alerts"] = entry.get("alerts", 0) + 1
            entry["open_alerts"] = entry.get("open_alerts", 0) + (status == "open")
        ordered = [wells[k] for k in sorted(wells)]
        for entry in ordered:  # WELL-90001 on: a synthetic well, tagged so on the dashboard
            entry["synthetic"] = schema.is_synthetic_well(entry["well_id"])
        ages = [w["age_s"] for w in ordered if w.get("age_s") is not None]
        return {
            "generated_at": _iso(now),
            "wells": ordered,
            "totals": {
                "wells": len(ordered),
                "readings": sum(w.get("readings", 0) for w in ordered),
                "alerts": sum(w.get("alerts", 0) for w in ordered),
                "open_alerts": sum(w.get("open_alerts", 0) for w in ordered),
                "freshest_age_s": min(ages) if ages else None,
                "stalest_age_s": max(ages) if ages else None,
            },
            "catalog_crawled_at": _iso(self.lake.crawled),
        }

    # ---------------------------------------------------------------- series

    def series(
        self,
        well_id: str,
        *,
        sensors: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        last_s: float | None = None,
        points: int = DEFAULT_POINTS,
    ) -> dict[str, Any]:
        """Sensor values of one well vs time, downsampled on the server to ``points`` buckets.

        Each bucket holds the mean, min and max of every sensor and the highest
        3W label in it; consecutive buckets with one label are merged into event
        spans; the well's alerts in the range come along as markers.

        Args:
            well_id: the well.
            sensors: sensor columns (default: P-PDG, P-TPT, T-TPT, those present).
            start: first instant (default: the well's first reading, or ``end - last_s``).
            end: last instant (default: the well's latest reading).
            last_s: with no ``start``: only the last ``last_s`` seconds before ``end``.
            points: at most this many buckets (1-5000).

        Raises:
            BadRequest: an unknown sensor, points out of range, start after end.
            NotFound: the well has no readings in the lake.
        """
        if not 1 <= points <= MAX_POINTS:
            raise BadRequest(f"points={points} is out of range: use 1 to {MAX_POINTS}")
        available = {s.column: s for s in self.sensors()}
        if sensors is None or not sensors:
            chosen = [c for c in DEFAULT_SENSORS if c in available]
        else:
            unknown = [c for c in sensors if c not in available]
            if unknown:
                raise BadRequest(
                    f"unknown sensor {unknown[0]!r}; the lake has: {', '.join(available)}"
                )
            chosen = list(dict.fromkeys(sensors))
        # Readings stamped outside READINGS_SPAN (year 0000 or 9999 in an old lake) are
        # left out of the chart: they are not instants a sensor measured.
        bounds = self.lake.execute(
            "SELECT min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS readings "
            "FROM petrostream_db.sensors WHERE well_id = :well_id "
            f"AND ts >= from_iso8601_timestamp('{READINGS_SPAN[0]:%Y-%m-%d}') "
            f"AND ts < from_iso8601_timestamp('{READINGS_SPAN[1]:%Y-%m-%d}')",
            params={"well_id": well_id},
            timeout=SERIES_TIMEOUT_S,
        )
        first, last, total = bounds.rows[0] if bounds.rows else (None, None, 0)
        if not total or first is None or last is None:
            raise NotFound(f"well {well_id!r} has no readings in the lake")
        end = end or last
        if start is None:
            start = end - timedelta(seconds=last_s) if last_s else first
        if start >= end:
            end = start + timedelta(seconds=1)
        span = (end - start).total_seconds()
        bucket = nice_bucket(span, points)
        first_bucket = math.floor(start.timestamp() / bucket) * bucket
        columns = ", ".join(
            f"avg({c}) AS {c}__avg, min({c}) AS {c}__min, max({c}) AS {c}__max" for c in chosen
        )
        sql = (
            f"SELECT floor(to_unixtime(ts) / :bucket) * :bucket AS bucket_s, count(*) AS n, "
            f"max(event_class) AS event_class{', ' + columns if columns else ''} "
            "FROM petrostream_db.sensors "
            "WHERE well_id = :well_id AND ts >= from_unixtime(:start_s) "
            "AND ts <= from_unixtime(:end_s) AND dt >= :dt_from AND dt <= :dt_to "
            "GROUP BY 1 ORDER BY 1"
        )
        params = {
            "well_id": well_id,
            "bucket": str(bucket),
            "start_s": repr(float(first_bucket)),
            "end_s": repr(end.timestamp()),
            "dt_from": f"{start:%Y-%m-%d}",
            "dt_to": f"{end:%Y-%m-%d}",
        }
        result = self.lake.execute(sql, params=params, limit=None, timeout=SERIES_TIMEOUT_S)
        records = result.records()
        t = [round(float(r["bucket_s"]) * 1000) for r in records]
        series = {
            c: {
                "unit": available[c].unit,
                "kind": available[c].kind,
                "tag": available[c].tag,
                "avg": [json_value(r[f"{c}__avg"]) for r in records],
                "min": [json_value(r[f"{c}__min"]) for r in records],
                "max": [json_value(r[f"{c}__max"]) for r in records],
            }
            for c in chosen
        }
        labels = [r["event_class"] for r in records]
        return {
            "well_id": well_id,
            "start": _iso(start),
            "end": _iso(end),
            "first_reading": _iso(first),
            "last_reading": _iso(last),
            "bucket_seconds": bucket,
            "readings": sum(int(r["n"]) for r in records),
            "t": t,
            "n": [int(r["n"]) for r in records],
            "series": series,
            "events": event_spans(t, labels, bucket * 1000),
            "alerts": [
                a
                for a in self.alerts(well_id=well_id, limit=500)["alerts"]
                if _within(a.get("ts"), start, end)
            ],
        }

    # ---------------------------------------------------------------- alerts

    def _store(self) -> Any:
        from petrostream.alerts.store import AlertStore
        from petrostream.runtime.detector import ALERTS_DB

        path = self.settings.home / ALERTS_DB
        return AlertStore(path) if path.exists() else None

    def _alert_states(self) -> dict[str, tuple[str, str]]:
        """alert_id -> (well, open|closed), from the newest notifications."""
        store = self._store()
        if store is None:
            return {}
        try:
            notes = store.list_alerts(limit=_ALERT_SCAN)
        finally:
            store.close()
        states: dict[str, tuple[str, str]] = {}
        for note in reversed(notes):  # oldest first: a closing wins over its opening
            if note.status == "update":
                continue  # a revised diagnosis: the alert stays as it was
            if states.get(note.alert_id, ("", ""))[1] != "closed":
                states[note.alert_id] = (note.well_id, note.status)
        return states

    def alerts(self, *, limit: int = 100, well_id: str | None = None) -> dict[str, Any]:
        """The newest alert notifications (openings and closings) and the alert counts."""
        if not 1 <= limit <= _ALERT_SCAN:
            raise BadRequest(f"limit={limit} is out of range: use 1 to {_ALERT_SCAN}")
        store = self._store()
        if store is None:
            return {"alerts": [], "summary": {"alerts": 0, "open_alerts": 0, "by_rule": {}}}
        try:
            notes = store.list_alerts(limit=limit, well_id=well_id)
            summary = store.summary()
        finally:
            store.close()
        return {
            "alerts": [
                {**n.to_dict(), "key": notification_key(n), "ts_ms": _alert_ms(n.to_dict())}
                for n in notes
            ],
            "summary": {
                "alerts": summary.alerts,
                "open_alerts": summary.open_alerts,
                "by_rule": summary.by_rule,
            },
        }

    # ---------------------------------------------------------------- SQL console

    def query(self, sql: str, *, limit: int = 1_000) -> dict[str, Any]:
        """Run one read-only Athena SQL query for the console.

        Raises:
            BadRequest: empty SQL or a limit out of range.
            QueryError: the engine's message (refused statement, bad SQL, timeout).
        """
        if not sql.strip():
            raise BadRequest("the SQL is empty: type a query, e.g. SELECT * FROM sensors LIMIT 10")
        if not 1 <= limit <= MAX_SQL_ROWS:
            raise BadRequest(f"limit={limit} is out of range: use 1 to {MAX_SQL_ROWS}")
        started = time.monotonic()
        result = self.lake.execute(sql, limit=limit, timeout=SQL_TIMEOUT_S)
        return {
            "columns": result.columns,
            "types": result.types,
            "rows": [[json_value(v) for v in row] for row in result.rows],
            "truncated": result.truncated,
            "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
        }

    def query_csv(self, sql: str, *, limit: int = MAX_SQL_ROWS) -> str:
        """The same query as CSV text with a header line (`format_result`)."""
        if not sql.strip():
            raise BadRequest("the SQL is empty: type a query, e.g. SELECT * FROM sensors LIMIT 10")
        if not 1 <= limit <= MAX_SQL_ROWS:
            raise BadRequest(f"limit={limit} is out of range: use 1 to {MAX_SQL_ROWS}")
        result = self.lake.execute(sql, limit=limit, timeout=SQL_TIMEOUT_S)
        return format_result(result, "csv") + "\n"

    @staticmethod
    def named() -> list[dict[str, Any]]:
        """The shipped named queries (examples for the console)."""
        return [
            {"name": q.name, "description": q.description, "sql": q.sql, "params": q.params}
            for q in named_queries().values()
        ]

    # ---------------------------------------------------------------- health

    def health(self) -> dict[str, Any]:
        """Stream lag per consumer, last lake flush, file counts, rejects, detector metrics."""
        from petrostream.runtime.detector import realtime_status

        status = realtime_status(self.settings)
        return {
            "generated_at": _iso(datetime.now(UTC)),
            "stream": self._stream_health(),
            "lake": self._lake_health(),
            "detector": status.to_dict(),
            "rejects": self._rejects(status.dead_letters_by_reason),
        }

    def _stream_health(self) -> dict[str, Any]:
        from petrostream.stream.local import LocalStream

        path = self.settings.stream_path
        if not path.exists():
            return {"exists": False, "records": 0, "shards": 0, "consumers": []}
        stream = LocalStream(path, create=False)
        try:
            described = stream.describe()
        finally:
            stream.close()
        lag: dict[str, int] = {}
        for row in described["consumers"]:
            lag[row["consumer"]] = lag.get(row["consumer"], 0) + int(row["lag_records"])
        return {
            "exists": True,
            "name": described["name"],
            "records": sum(int(s["records"]) for s in described["shards"]),
            "shards": len(described["shards"]),
            "retention_hours": described["retention_hours"],
            "consumers": [{"consumer": k, "lag_records": v} for k, v in sorted(lag.items())],
        }

    def _lake_health(self) -> dict[str, Any]:
        from petrostream.lake.tables import flush_summary
        from petrostream.lake.writer import CONSUMER

        catalog = self.lake.catalog()
        tables = {
            name: {
                "files": table.file_count,
                "rows": table.rows,
                "bytes": table.bytes,
                "partitions": len(table.partitions),
            }
            for name, table in sorted(catalog.tables.items())
        }
        last: dict[str, Any] | None = None
        commits = 0
        try:
            commits, last = flush_summary(
                self.settings.home, self.settings.lake_uri, CONSUMER, self.settings.lake_catalog
            )
        except (OSError, ValueError, KeyError) as exc:  # no lake yet, or one being written
            log.debug("dashboard: lake snapshots unreadable: %s", exc)
        return {
            "uri": self.settings.lake_uri,
            "tables": tables,
            "commits": commits,
            "last_flush": last,
            "catalog_crawled_at": _iso(self.lake.crawled),
        }

    def _rejects(self, dead: dict[str, int]) -> dict[str, Any]:
        lake_rows = 0
        table = self.lake.catalog().tables.get("rejects")
        if table is not None:
            lake_rows = table.rows
        replay = 0
        folder = self.settings.home / "rejects"
        if folder.is_dir():
            for path in folder.glob("*.jsonl"):
                with path.open(encoding="utf-8") as lines:
                    replay += sum(1 for line in lines if line.strip())
        return {
            "replay": replay,
            "lake": lake_rows,
            "dead_letters": sum(dead.values()),
            "dead_letters_by_reason": dead,
        }


def event_spans(t: list[int], labels: list[Any], width_ms: int) -> list[dict[str, Any]]:
    """Merge consecutive buckets with one 3W label into spans ``{from, to, event_class, ...}``.

    Normal (0) and unlabelled buckets make no span.
    """
    spans: list[dict[str, Any]] = []
    for moment, label in zip(t, labels, strict=True):
        if label is None or int(label) == 0:
            continue
        label = int(label)
        last = spans[-1] if spans else None
        if last and last["event_class"] == label and last["to"] >= moment:
            last["to"] = moment + width_ms
            continue
        spans.append(
            {
                "from": moment,
                "to": moment + width_ms,
                "event_class": label,
                "event_type": schema.event_type(label),
                "transient": schema.is_transient(label),
            }
        )
    return spans


def _alert_time(ts: Any) -> datetime | None:
    if not isinstance(ts, str):
        return None
    try:
        return parse_time(ts.replace(" ", "T"), "ts")
    except BadRequest:
        return None


def _alert_ms(payload: dict[str, Any]) -> int | None:
    moment = _alert_time(payload.get("ts"))
    return None if moment is None else _ms(moment)


def _within(ts: Any, start: datetime, end: datetime) -> bool:
    moment = _alert_time(ts)
    return moment is not None and start <= moment <= end + timedelta(seconds=1)


def to_json(value: Any) -> bytes:
    """Compact JSON bytes of an API answer."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


__all__ = [
    "BadRequest",
    "DashboardData",
    "LakeView",
    "NotFound",
    "QueryError",
    "Sensor",
    "event_spans",
    "nice_bucket",
    "parse_time",
]
