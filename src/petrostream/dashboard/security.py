"""Who may talk to the dashboard: Host and Origin checks, a token, a cap on request bodies.

`RequestGuard` is ASGI middleware in front of the whole app:

- **Host** must name this server (loopback names, the bound address, or a name
  given with ``--allow-host``): a DNS-rebinding page, whose requests carry its own
  host name, is refused with 421 before any route runs.
- **Origin** (browsers send it on cross-origin and POST requests) must be this
  server's own origin; ``Sec-Fetch-Site: cross-site`` requests to ``/api/`` are
  refused too, so another site can neither read the API nor run queries through it.
- **Token**: when the server listens beyond loopback (``serve --allow-remote``),
  every request needs the token, as ``Authorization: Bearer <token>`` or the
  ``petrostream_token`` cookie; opening ``/?token=<token>`` once sets that cookie
  (HttpOnly, SameSite=Strict) and redirects to ``/``, so the page works unchanged.
- **Body**: requests with a body larger than ``max_body_bytes`` get 413 without
  being read further.

Every refusal is the API's JSON error ``{"error": ..., "status": ...}`` saying
what to do. Pure ASGI, so it also guards the static files.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, Final
from urllib.parse import parse_qs

from petrostream.errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE: Final = "petrostream_token"  # noqa: S105 - the cookie's name, not a secret
MAX_BODY_BYTES: Final = 1_000_000
LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) resolves only to loopback addresses.

    Raises:
        ConfigError: ``host`` is neither an address nor a name this machine resolves.
    """
    name = host.strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError as exc:
        raise ConfigError(
            f"--host {host!r} is not an address or a host name this machine knows; "
            "use 127.0.0.1 (the default) or one of this machine's addresses"
        ) from exc
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


@dataclass(frozen=True)
class AccessPolicy:
    """What `RequestGuard` lets through.

    Attributes:
        allowed_hosts: host names (no port) requests may address; empty means any
            (only with a token: a rebinding page cannot know it).
        token: the secret every request must carry; None on a loopback-only server.
        max_body_bytes: the largest request body accepted.
    """

    allowed_hosts: frozenset[str] = field(default=LOOPBACK_NAMES)
    token: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES

    @classmethod
    def for_bind(
        cls,
        host: str,
        *,
        token: str | None = None,
        extra_hosts: tuple[str, ...] = (),
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> AccessPolicy:
        """The policy of a server bound to ``host``.

        A loopback server answers the loopback names and ``host``; a server on all
        interfaces (``0.0.0.0``, ``::``) with a token answers any name unless
        ``extra_hosts`` narrows it; a specific address answers that address too.
        """
        names = {h.lower().strip("[]") for h in extra_hosts}
        wildcard = host in ("0.0.0.0", "::", "")  # noqa: S104 - recognising, not binding
        if token is not None and wildcard and not names:
            return cls(frozenset(), token, max_body_bytes)
        names |= {n.strip("[]") for n in LOOPBACK_NAMES}
        if not wildcard:
            names.add(host.lower().strip("[]"))
        return cls(frozenset(names), token, max_body_bytes)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _host_name(host: str) -> str:
    """``Host`` header -> host name without port (``[::1]:8050`` -> ``::1``)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _reply(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"error": message, "status": status}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware enforcing an `AccessPolicy` on every HTTP request."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request with a JSON error, or pass it (body buffered) to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, message, extra = refusal
            await _reply(send, status, message, extra)
            return
        if self.policy.token and self._bootstraps_cookie(scope):
            await self._set_cookie(send)
            return
        body = await self._read_body(headers, receive, send)
        if body is None:
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # the client's disconnect, if it comes
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _refusal(
        self, scope: Scope, headers: dict[str, str]
    ) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        host = headers.get("host", "")
        name = _host_name(host).lower()
        allowed = self.policy.allowed_hosts
        if not host or (allowed and name not in allowed):
            shown = ", ".join(sorted(allowed)) or "any"
            return (
                421,
                f"this server does not answer for host {host or '(none)'!r}; open it by one "
                f"of its names ({shown}), or start `petrostream serve --allow-host NAME`",
                [],
            )
        origin = headers.get("origin")
        scheme = scope.get("scheme", "http")
        if origin is not None and origin != f"{scheme}://{host}":
            return (
                403,
                f"cross-origin request from {origin} refused: the dashboard answers only "
                "its own page",
                [],
            )
        path = scope.get("path", "")
        if path.startswith("/api/") and headers.get("sec-fetch-site") in (
            "cross-site",
            "same-site",
        ):
            return (403, "cross-site request to the API refused: open the dashboard itself", [])
        if self.policy.token and not self._authorised(scope, headers):
            return (
                401,
                "this dashboard needs its token: open /?token=TOKEN once in the browser, or "
                "send 'Authorization: Bearer TOKEN' (`petrostream serve` printed the token)",
                [(b"www-authenticate", b'Bearer realm="petrostream"')],
            )
        return None

    def _authorised(self, scope: Scope, headers: dict[str, str]) -> bool:
        token = self.policy.token or ""
        given = ""
        auth = headers.get("authorization", "")
        if scope.get("path") == "/" and _query_token(scope) is not None:
            given = _query_token(scope) or ""  # the link that sets the cookie: judge its token
        elif auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        elif "cookie" in headers:
            cookie = SimpleCookie()
            try:
                cookie.load(headers["cookie"])
            except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
                cookie = SimpleCookie()
            morsel = cookie.get(TOKEN_COOKIE)
            given = morsel.value if morsel else ""
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())

    def _bootstraps_cookie(self, scope: Scope) -> bool:
        return scope.get("path") == "/" and _query_token(scope) is not None

    async def _set_cookie(self, send: Send) -> None:
        cookie = f"{TOKEN_COOKIE}={self.policy.token}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", b"/"),
                    (b"set-cookie", cookie.encode()),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _read_body(
        self, headers: dict[str, str], receive: Receive, send: Send
    ) -> bytes | None:
        """The whole body, or None after answering 413 (the rest is never read)."""
        limit = self.policy.max_body_bytes
        too_big = (
            f"request body larger than {limit:,} bytes; send one SQL statement "
            "(the console's queries are far smaller)"
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _reply(send, 413, too_big, [(b"connection", b"close")])
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _reply(send, 413, too_big, [(b"connection", b"close")])
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _query_token(scope: Scope) -> str | None:
    query = scope.get("query_string", b"").decode("latin-1")
    values = parse_qs(query).get("token")
    return values[0] if values else None
