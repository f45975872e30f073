"""The JSON API: one Starlette endpoint per route, and the OpenAPI document that lists them.

Errors are JSON ``{"error": <message>, "status": <code>}``: a bad parameter or
bad SQL is a 400 with the engine's user-facing message, an unknown well 404,
a refused statement 400, a query timeout 408; nothing returns a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from petrostream.dashboard.data import (
    DEFAULT_POINTS,
    BadRequest,
    DashboardData,
    NotFound,
    parse_time,
)
from petrostream.errors import PetroStreamError
from petrostream.query.base import CatalogMissing, QueryError, QueryRefused, QueryTimeout

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


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
    if value <= 0:
        raise BadRequest(f"{name}={text!r} must be positive")
    return value


async def _sql_of(request: Request) -> tuple[str, int | None, str]:
    """SQL, limit and format from a JSON body ``{sql, limit?, format?}`` or the query string."""
    fmt = request.query_params.get("format", "json")
    limit: int | None = None
    if request.method == "POST":
        try:
            body = await request.json()
        except ValueError as exc:
            raise BadRequest('the body must be JSON: {"sql": "SELECT ..."}') from exc
        if not isinstance(body, dict) or not isinstance(body.get("sql"), str):
            raise BadRequest('the body must be a JSON object with a "sql" string')
        sql = body["sql"]
        if body.get("limit") is not None:
            if not isinstance(body["limit"], int):
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
            return value
        return JSONResponse(value)

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
                start=parse_time(q.get("start"), "start"),
                end=parse_time(q.get("end"), "end"),
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
        except BadRequest as exc:
            return error(400, str(exc))

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
                        "readings, age_s, alerts, open_alerts) and totals"
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
                    **_errors(400, 404, 408),
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
                    **_errors(400, 408, 409),
                },
            },
            "get": {
                "summary": "The same, with the SQL in the query string (CSV download links)",
                "parameters": [
                    _param("sql", "query", "the SQL"),
                    _param("limit", "query", "maximum rows (1-10000)", "integer"),
                    _param("format", "query", "json (default) or csv"),
                ],
                "responses": {"200": _json("as POST"), **_errors(400, 408, 409)},
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
