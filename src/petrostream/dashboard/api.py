"""The JSON API: one Starlette endpoint per route, and the OpenAPI document that lists them.

Errors are JSON ``{"error": <message>, "status": <code>}``: a bad parameter or
bad SQL is a 400 with the engine's user-facing message, an unknown well 404,
a refused statement 400, a query timeout 408, a query or answer too large 413,
a write that is not ``application/json`` 415, every query slot busy 503;
nothing returns a traceback. (Host, Origin, token and body size are checked
before any route, by `petrostream.dashboard.security.RequestGuard`.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from petrostream.dashboard.data import (
    DEFAULT_POINTS,
    READINGS_SPAN,
    BadRequest,
    DashboardData,
    NotFound,
    parse_time,
    to_json,
)
from petrostream.errors import PetroStreamError
from petrostream.query.base import (
    CatalogMissing,
    QueryBusy,
    QueryError,
    QueryRefused,
    QueryTimeout,
    QueryTooLarge,
)

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]

MAX_RESPONSE_BYTES: Final = 16_000_000
"""The largest answer the API sends (a query's rows are cut off before that, with a 413)."""
MAX_SPAN_S: Final = 100 * 365.25 * 86_400
"""The longest ``last=`` window, in seconds (a century)."""


class TooLarge(PetroStreamError):
    """An answer would be larger than `MAX_RESPONSE_BYTES`."""


class Unsupported(PetroStreamError):
    """A write came with a body that is not JSON."""


def error(status: int, message: str) -> JSONResponse:
    """The JSON error body every route uses."""
    return JSONResponse({"error": message, "status": status}, status_code=status)


def status_of(exc: PetroStreamError) -> int:
    """HTTP status of a PetroStream error."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, QueryTimeout):
        return 408
    if isinstance(exc, CatalogMissing):
        return 409
    if isinstance(exc, QueryTooLarge | TooLarge):
        return 413
    if isinstance(exc, Unsupported):
        return 415
    if isinstance(exc, QueryBusy):
        return 503
    if isinstance(exc, BadRequest | QueryRefused | QueryError):
        return 400
    return 500


def _int(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise BadRequest(f"{name}={text!r} is not a whole number") from exc


def _float(request: Request, name: str) -> float | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise BadRequest(f"{name}={text!r} is not a number of seconds") from exc
    if not math.isfinite(value) or value <= 0:
        raise BadRequest(f"{name}={text!r} must be a positive number of seconds")
    if value > MAX_SPAN_S:
        raise BadRequest(
            f"{name}={text!r} is more than a century; give at most {MAX_SPAN_S:.0f} seconds"
        )
    return value


def _time(request: Request, name: str) -> datetime | None:
    moment = parse_time(request.query_params.get(name), name)
    earliest, latest = READINGS_SPAN
    if moment is not None and not earliest <= moment < latest:
        raise BadRequest(
            f"{name}={request.query_params[name]!r} is outside {earliest:%Y} to {latest:%Y}; "
            "give a time within the lake's readings, e.g. 2024-05-01T12:00:00Z"
        )
    return moment


async def _sql_of(request: Request) -> tuple[str, int | None, str]:
    """SQL, limit and format from a JSON body ``{sql, limit?, format?}`` or the query string."""
    fmt = request.query_params.get("format", "json")
    limit: int | None = None
    if request.method == "POST":
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            # A cross-site form or text/plain POST (no CORS preflight) never runs a query.
            raise Unsupported(
                f"POST /api/query needs Content-Type: application/json (got {kind or 'none'}); "
                'send {"sql": "SELECT ..."}'
            )
        try:
            body = await request.json()
        except ValueError as exc:
            raise BadRequest('the body must be JSON: {"sql": "SELECT ..."}') from exc
        if not isinstance(body, dict) or not isinstance(body.get("sql"), str):
            raise BadRequest('the body must be a JSON object with a "sql" string')
        sql = body["sql"]
        if body.get("limit") is not None:
            if not isinstance(body["limit"], int) or isinstance(body["limit"], bool):
                raise BadRequest('"limit" must be a whole number')
            limit = body["limit"]
        fmt = str(body.get("format", fmt))
    else:
        sql = request.query_params.get("sql", "")
        if request.query_params.get("limit", "") != "":
            limit = _int(request, "limit", 0)
    if fmt not in ("json", "csv"):
        raise BadRequest(f"format={fmt!r}: use json or csv")
    return sql, limit, fmt


class Api:
    """The API's endpoints over one `DashboardData`."""

    def __init__(self, data: DashboardData) -> None:
        self.data = data

    async def _run(self, fn: Callable[[], Any]) -> Response:
        try:
            value = await run_in_threadpool(fn)
        except PetroStreamError as exc:
            status = status_of(exc)
            if status == 500:
                log.warning("dashboard: %s", exc)
            return error(status, str(exc))
        if isinstance(value, Response):
            size = len(value.body)
            body = value
        else:
            payload = to_json(value)
            size = len(payload)
            body = Response(payload, media_type="application/json")
        if size > MAX_RESPONSE_BYTES:
            return error(
                413,
                f"the answer is {size / 1e6:.0f} MB, more than the API sends "
                f"({MAX_RESPONSE_BYTES / 1e6:.0f} MB); ask for fewer rows (limit), columns "
                "or points",
            )
        return body

    async def fleet(self, request: Request) -> Response:
        """GET /api/fleet."""
        return await self._run(self.data.fleet)

    async def sensors(self, request: Request) -> Response:
        """GET /api/sensors."""
        return await self._run(lambda: {"sensors": [s.to_dict() for s in self.data.sensors()]})

    async def series(self, request: Request) -> Response:
        """GET /api/wells/{well_id}/series."""
        well_id = request.path_params["well_id"]

        def run() -> Any:
            q = request.query_params
            raw = q.get("sensors")
            sensors = [s.strip() for s in raw.split(",") if s.strip()] if raw else None
            return self.data.series(
                well_id,
                sensors=sensors,
                start=_time(request, "start"),
                end=_time(request, "end"),
                last_s=_float(request, "last"),
                points=_int(request, "points", DEFAULT_POINTS),
            )

        return await self._run(run)

    async def alerts(self, request: Request) -> Response:
        """GET /api/alerts."""

        def run() -> Any:
            well = request.query_params.get("well_id") or None
            return self.data.alerts(limit=_int(request, "limit", 100), well_id=well)

        return await self._run(run)

    async def query(self, request: Request) -> Response:
        """POST (or GET) /api/query: the SQL console; ``format=csv`` downloads a CSV file."""
        try:
            sql, limit, fmt = await _sql_of(request)
        except (BadRequest, Unsupported) as exc:
            return error(status_of(exc), str(exc))

        given = {} if limit is None else {"limit": limit}

        def run() -> Any:
            if fmt == "csv":
                text = self.data.query_csv(sql, **given)
                return Response(
                    text,
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="query.csv"'},
                )
            return self.data.query(sql, **given)

        return await self._run(run)

    async def queries(self, request: Request) -> Response:
        """GET /api/queries."""
        return await self._run(lambda: {"queries": self.data.named()})

    async def health(self, request: Request) -> Response:
        """GET /api/health."""
        return await self._run(self.data.health)

    async def openapi(self, request: Request) -> Response:
        """GET /api/openapi.json."""
        return JSONResponse(OPENAPI)

    def routes(self) -> list[Route]:
        """Every API route (each one is in `OPENAPI`; a test checks it)."""
        return [
            Route("/api/openapi.json", self.openapi, methods=["GET"]),
            Route("/api/fleet", self.fleet, methods=["GET"]),
            Route("/api/sensors", self.sensors, methods=["GET"]),
            Route("/api/wells/{well_id}/series", self.series, methods=["GET"]),
            Route("/api/alerts", self.alerts, methods=["GET"]),
            Route("/api/query", self.query, methods=["GET", "POST"]),
            Route("/api/queries", self.queries, methods=["GET"]),
            Route("/api/health", self.health, methods=["GET"]),
        ]


# ------------------------------------------------------------------ OpenAPI

_ERROR: Final = {"$ref": "#/components/schemas/Error"}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "bad parameter or bad SQL (message from the engine)",
        404: "no such well",
        408: "the query ran past its timeout",
        409: "nothing crawled yet",
        413: "the query needed more memory than allowed, or the answer is too large",
        415: "the body is not application/json",
        503: "every query slot is busy; retry",
    }
    return {str(c): _json(meaning[c], _ERROR) for c in codes}


def _param(name: str, where: str, description: str, kind: str = "string", **extra: Any) -> Any:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": {"type": kind, **extra},
    }


OPENAPI: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {
        "title": "PetroStream dashboard API",
        "version": "1",
        "description": (
            "Read-only JSON API over the local PetroStream pipeline: the lake (through the "
            "read-only Athena-SQL engine), the alert store, the stream and the lake's commit log. "
            "Times are ISO 8601 UTC; series times are epoch milliseconds."
        ),
    },
    "paths": {
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json("the OpenAPI document")},
            }
        },
        "/api/fleet": {
            "get": {
                "summary": "Fleet overview: wells, latest readings, alerts, data freshness",
                "responses": {
                    "200": _json(
                        "wells (well_id, ts, p_pdg, p_tpt, t_tpt, event_type, instance_id, "
                        "readings, age_s, alerts, open_alerts, synthetic: WELL-90001 on) "
                        "and totals"
                    )
                },
            }
        },
        "/api/sensors": {
            "get": {
                "summary": "Sensor columns of the lake with unit and kind",
                "responses": {"200": _json("sensors: [{column, tag, unit, kind, description}]")},
            }
        },
        "/api/wells/{well_id}/series": {
            "get": {
                "summary": "One well's sensors vs time, downsampled on the server",
                "parameters": [
                    _param("well_id", "path", "the well, e.g. WELL-00011"),
                    _param(
                        "sensors", "query", "comma-separated columns (default p_pdg,p_tpt,t_tpt)"
                    ),
                    _param("start", "query", "first instant, ISO 8601", format="date-time"),
                    _param("end", "query", "last instant, ISO 8601", format="date-time"),
                    _param("last", "query", "seconds before end (when start is absent)", "number"),
                    _param(
                        "points",
                        "query",
                        "maximum buckets (1-5000, default 600)",
                        "integer",
                    ),
                ],
                "responses": {
                    "200": _json(
                        "t (bucket starts, epoch ms), n (readings per bucket), series "
                        "{column: {unit, avg, min, max}}, events (3W label spans), alerts"
                    ),
                    **_errors(400, 404, 408, 413, 503),
                },
            }
        },
        "/api/alerts": {
            "get": {
                "summary": "Newest alert notifications (openings and closings) and counts",
                "parameters": [
                    _param("limit", "query", "at most this many (1-5000, default 100)", "integer"),
                    _param("well_id", "query", "only this well"),
                ],
                "responses": {"200": _json("alerts (newest first) and summary"), **_errors(400)},
            }
        },
        "/api/query": {
            "post": {
                "summary": "Run one read-only Athena SQL query (the SQL console)",
                "parameters": [_param("format", "query", "json (default) or csv")],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["sql"],
                                "properties": {
                                    "sql": {"type": "string"},
                                    "limit": {"type": "integer", "minimum": 1, "maximum": 10000},
                                    "format": {"type": "string", "enum": ["json", "csv"]},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "columns, types, rows, truncated, elapsed_ms; or CSV",
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors(400, 408, 409, 413, 415, 503),
                },
            },
            "get": {
                "summary": "The same, with the SQL in the query string (CSV download links)",
                "parameters": [
                    _param("sql", "query", "the SQL"),
                    _param("limit", "query", "maximum rows (1-10000)", "integer"),
                    _param("format", "query", "json (default) or csv"),
                ],
                "responses": {"200": _json("as POST"), **_errors(400, 408, 409, 413, 503)},
            },
        },
        "/api/queries": {
            "get": {
                "summary": "The shipped named queries (console examples)",
                "responses": {"200": _json("queries: [{name, description, sql, params}]")},
            }
        },
        "/api/health": {
            "get": {
                "summary": "Pipeline health: stream lag per consumer, last flush, files, rejects",
                "responses": {"200": _json("stream, lake, detector, rejects")},
            }
        },
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "status"],
                "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
            }
        }
    },
}
