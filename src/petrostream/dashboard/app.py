"""The Starlette app (page + API) and the uvicorn server that runs it.

``create_app(settings)`` builds the app behind a `RequestGuard` (Host, Origin,
token, body size); ``serve(settings, host=..., port=...)`` runs it in the
foreground until Ctrl-C; `BackgroundServer` runs it in a thread (the demo serves
the dashboard while the pipeline runs). Queries of the API run side by side
within `dashboard_limits` (memory, concurrency, temporary files in the home).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from petrostream.dashboard.api import MAX_RESPONSE_BYTES, Api, error
from petrostream.dashboard.data import DashboardData
from petrostream.dashboard.security import AccessPolicy, RequestGuard
from petrostream.errors import ConfigError
from petrostream.query.base import QueryLimits

if TYPE_CHECKING:
    import uvicorn

    from petrostream.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8050
DEFAULT_QUERY_MEMORY: Final = "1GB"
DEFAULT_CONCURRENT_QUERIES: Final = 4


def dashboard_limits(
    settings: Settings,
    *,
    memory: str = DEFAULT_QUERY_MEMORY,
    concurrent: int = DEFAULT_CONCURRENT_QUERIES,
) -> QueryLimits:
    """What one API query may use: ``memory`` each, ``concurrent`` at once, spilling in the home."""
    return QueryLimits(
        memory=memory,
        concurrent=concurrent,
        temp_directory=settings.query_temp_dir,
        max_result_bytes=MAX_RESPONSE_BYTES,
    )


def static_dir() -> Path:
    """The folder of the page's files (``petrostream/dashboard/static``)."""
    return Path(str(resources.files("petrostream.dashboard").joinpath("static")))


def create_app(
    settings: Settings,
    *,
    data: DashboardData | None = None,
    access: AccessPolicy | None = None,
) -> Starlette:
    """The dashboard: the page at ``/``, its files under ``/static``, the API under ``/api``.

    Args:
        settings: where the pipeline's state lives.
        data: the data layer (default: a `DashboardData` over ``settings`` with
            `dashboard_limits`).
        access: who may connect (default: loopback names only, no token).
    """
    data = data or DashboardData(settings, limits=dashboard_limits(settings))
    api = Api(data)
    folder = static_dir()

    async def index(request: Request) -> Response:
        return FileResponse(folder / "index.html", headers={"Cache-Control": "no-cache"})

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if request.url.path.startswith("/api/") or status != 404:
            detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
            if status == 404:
                detail = f"no API route {request.method} {request.url.path}; see /api/openapi.json"
            return error(status, str(detail))
        return JSONResponse({"error": "not found", "status": 404}, status_code=404)

    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("dashboard: %s %s failed", request.method, request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); see the server log")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        data.close()

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            *api.routes(),
            Mount("/static", app=StaticFiles(directory=folder), name="static"),
        ],
        exception_handlers={HTTPException: not_found, Exception: crash},
        middleware=[Middleware(RequestGuard, policy=access or AccessPolicy())],
        lifespan=lifespan,
    )
    app.state.data = data
    return app


def _check_port(host: str, port: int) -> None:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {host!r} is not an address or a known host "
            "name; use --host 127.0.0.1 (the default) or an address of this machine"
        ) from exc
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port"
            ) from exc


def _server(
    settings: Settings,
    host: str,
    port: int,
    access: AccessPolicy | None,
    data: DashboardData | None = None,
) -> uvicorn.Server:
    import uvicorn

    _check_port(host, port)
    config = uvicorn.Config(
        create_app(settings, data=data, access=access or AccessPolicy.for_bind(host)),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    return uvicorn.Server(config)


def url_of(host: str, port: int) -> str:
    """The address a browser opens (an IPv6 address in brackets)."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def serve(
    settings: Settings,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    access: AccessPolicy | None = None,
    data: DashboardData | None = None,
) -> None:
    """Serve the dashboard in the foreground until Ctrl-C or SIGTERM.

    Args:
        settings: where the pipeline's state lives.
        host: address to bind (the caller decides whether a non-loopback one is allowed).
        port: TCP port.
        access: who may connect (default: `AccessPolicy.for_bind(host)`, no token).
        data: the data layer (default: `DashboardData` with `dashboard_limits`).

    Raises:
        ConfigError: the port is taken or the host cannot be bound.
    """
    _server(settings, host, port, access, data).run()


class BackgroundServer:
    """The dashboard served from a daemon thread; `stop` shuts it down cleanly."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        access: AccessPolicy | None = None,
        data: DashboardData | None = None,
    ):
        self.url = url_of(host, port)
        self._server = _server(settings, host, port, access, data)
        self._thread = threading.Thread(target=self._server.run, name="dashboard", daemon=True)

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        """Start serving; return once the server listens (or raise ConfigError)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the dashboard did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for it."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
