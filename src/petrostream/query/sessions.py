"""A pool of DuckDB connections so that queries run side by side, each within its limits.

One DuckDB connection runs one query at a time, and ``memory_limit`` is a
setting of a whole database: one connection shared by every query would make a
slow cross join hold up ``SELECT 1`` and let one query take all the memory.
`SessionPool` gives each running query its own in-memory database (built by the
engine's ``connect``, so it has the views, the macros and the locked
configuration), up to ``limits.concurrent`` at a time; a query beyond that
waits for a free session until its own timeout. Idle sessions are kept for the
next query; `renew` (a new catalog) retires every session built before it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb

from petrostream.query.base import QueryBusy, QueryLimits


@dataclass
class _Session:
    con: duckdb.DuckDBPyConnection
    generation: int


class SessionPool:
    """At most ``limits.concurrent`` DuckDB connections, each serving one query at a time.

    Args:
        connect: builds a ready connection (views, macros, locked settings).
        limits: how many sessions may run at once.
    """

    def __init__(
        self, connect: Callable[[], duckdb.DuckDBPyConnection], limits: QueryLimits
    ) -> None:
        self._connect = connect
        self._slots = threading.BoundedSemaphore(max(1, limits.concurrent))
        self._concurrent = max(1, limits.concurrent)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._idle: list[_Session] = []
        self._busy: list[_Session] = []
        self._generation = 0
        self._closed = False

    def warm(self) -> None:
        """Build one session now, so that a broken catalog fails here, not at the first query."""
        with self._lock:
            generation = self._generation
        session = _Session(self._connect(), generation)
        self._release(session)

    @contextlib.contextmanager
    def session(self, timeout: float | None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one query; waits up to ``timeout`` seconds for a free one.

        Raises:
            QueryBusy: every session stayed busy for ``timeout`` seconds.
        """
        waited = time.monotonic()
        if not self._slots.acquire(timeout=timeout if timeout else None):
            raise QueryBusy(
                f"the engine is busy: {self._concurrent} queries were still running after "
                f"{time.monotonic() - waited:.0f} s; try again, or narrow the running ones"
            )
        session: _Session | None = None
        try:
            session = self._take()
            with self._changed:
                self._busy.append(session)
                self._changed.notify_all()
            yield session.con
        finally:
            if session is not None:
                with self._changed:
                    self._busy.remove(session)
                    self._changed.notify_all()
                self._release(session)
            self._slots.release()

    @property
    def running(self) -> int:
        """How many queries hold a session right now."""
        with self._lock:
            return len(self._busy)

    def wait_running(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` queries run (or ``timeout`` passes); True if they do."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._busy) >= count, timeout)

    def renew(self) -> None:
        """Retire every session (a new catalog): idle ones now, busy ones when they finish."""
        with self._lock:
            self._generation += 1
            stale, self._idle = self._idle, []
        for session in stale:
            session.con.close()

    def close(self) -> None:
        """Close the idle sessions and interrupt the running queries (they fail, then close)."""
        with self._lock:
            self._closed = True
            stale, self._idle = self._idle, []
            running = list(self._busy)
        for session in running:
            session.con.interrupt()
        for session in stale:
            session.con.close()

    def _take(self) -> _Session:
        with self._lock:
            generation = self._generation
            while self._idle:
                session = self._idle.pop()
                if session.generation == generation:
                    return session
                session.con.close()
        return _Session(self._connect(), generation)

    def _release(self, session: _Session) -> None:
        with self._lock:
            keep = (
                not self._closed
                and session.generation == self._generation
                and len(self._idle) < self._concurrent
            )
            if keep:
                self._idle.append(session)
        if not keep:
            session.con.close()
