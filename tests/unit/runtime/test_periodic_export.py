"""The detector's alert export to the lake runs beside detection, not between batches."""

from __future__ import annotations

import logging
import threading

import pytest

from petrostream.runtime.detector import _PeriodicExport


class Export:
    """An export that returns the given row counts (raising for an exception) and says when."""

    def __init__(self, *results: int | Exception) -> None:
        self.results = list(results)
        self.calls: list[str] = []
        self.done = threading.Semaphore(0)

    def __call__(self) -> int:
        self.calls.append(threading.current_thread().name)
        try:
            result = self.results.pop(0)
            if isinstance(result, Exception):
                raise result
            return result
        finally:
            self.done.release()


def test_a_poke_exports_in_its_own_thread_and_close_returns_the_rows() -> None:
    export = Export(3, 4)
    periodic = _PeriodicExport(export, interval_s=0.0)
    periodic.poke()
    assert export.done.acquire(timeout=10)
    periodic.poke()
    assert export.done.acquire(timeout=10)
    assert periodic.close() == 7
    assert export.calls == ["alerts-export", "alerts-export"]


def test_no_poke_no_export() -> None:
    export = Export()
    periodic = _PeriodicExport(export, interval_s=0.0)
    assert periodic.close() == 0
    assert export.calls == []


def test_a_failed_export_is_logged_and_the_next_round_exports(
    caplog: pytest.LogCaptureFixture,
) -> None:
    export = Export(OSError("lake unreachable"), 5)
    periodic = _PeriodicExport(export, interval_s=0.0)
    with caplog.at_level(logging.ERROR, logger="petrostream.runtime.detector"):
        periodic.poke()
        assert export.done.acquire(timeout=10)
        periodic.poke()
        assert export.done.acquire(timeout=10)
        assert periodic.close() == 5
    assert "alerts not exported to the lake yet" in caplog.text
