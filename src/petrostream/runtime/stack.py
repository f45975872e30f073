"""The local stack's consumers: the lake writer and the detector, each in a thread.

`petrostream run` and `petrostream demo` both run them through `Stack` (or
`run_stack`, which starts a stack and waits for it). Nothing here touches
signals: a caller stops the stack by setting its ``stop`` event (``run``
does it from its SIGINT/SIGTERM handlers, the demo once the consumers have
caught up with the stream).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from petrostream.lake.writer import WriterStats
    from petrostream.runtime.detector import DetectorSummary
    from petrostream.settings import Settings

LAKE: Final = "lake"
DETECTOR: Final = "detector"
COMPONENTS: Final[tuple[str, ...]] = (LAKE, DETECTOR)
JOIN_SECONDS: Final = 0.2  # the waiting thread wakes this often (a Ctrl-C reaches it)

# Called from a consumer's thread with its name and its running summary
# (`WriterStats` for the lake, `DetectorSummary` for the detector).
StackProgress = Callable[[str, Any], None]


@dataclass
class StackSummary:
    """What each consumer did (None: it did not run, or has not reported yet)."""

    lake: WriterStats | None = None
    detector: DetectorSummary | None = None


def _runner(name: str) -> Callable[..., Any]:
    if name == LAKE:
        from petrostream.lake.service import run_lake_writer

        return run_lake_writer
    from petrostream.runtime.detector import run_detector

    return run_detector


class Stack:
    """The chosen consumers, each in a daemon thread, from their committed checkpoints.

    Args:
        settings: home, stream, lake and buffer settings the consumers read.
        drain: each consumer returns once it has caught up with the stream.
        stop: set it to stop them: the lake writer flushes and commits what it
            read, the detector finishes its batch. A consumer that fails sets it
            too, so the other one stops.
        only: ``"lake"`` or ``"detector"`` to run one (default both).
        progress: called from the consumers' threads (see `StackProgress`).

    Raises:
        ValueError: ``only`` names no consumer.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        drain: bool,
        stop: threading.Event,
        only: str | None = None,
        progress: StackProgress | None = None,
    ) -> None:
        if only is not None and only not in COMPONENTS:
            raise ValueError(f"unknown consumer {only!r}: use one of {', '.join(COMPONENTS)}")
        self.settings = settings
        self.drain = drain
        self.stop_event = stop
        self.components = tuple(c for c in COMPONENTS if only in (None, c))
        self.summary = StackSummary()
        self.errors: dict[str, BaseException] = {}
        self._progress = progress
        self._threads: list[threading.Thread] = []

    def start(self) -> Stack:
        """Start the consumers' threads; returns the stack."""
        for name in self.components:
            thread = threading.Thread(
                target=self._work, args=(name,), name=f"stack-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return self

    def running(self) -> bool:
        """True while some consumer still runs."""
        return any(t.is_alive() for t in self._threads)

    def raise_errors(self) -> None:
        """Raise the error of the first consumer that failed, if any."""
        for exc in self.errors.values():
            raise exc

    def join(self) -> StackSummary:
        """Wait until every consumer has returned (drained, stopped or failed).

        Wakes every `JOIN_SECONDS`, so a KeyboardInterrupt reaches the waiting
        (main) thread. Safe to call twice.

        Raises:
            the error of a consumer that failed, once all have stopped.
        """
        for thread in self._threads:
            while thread.is_alive():
                thread.join(JOIN_SECONDS)
        self.raise_errors()
        return self.summary

    def stop(self) -> StackSummary:
        """Set the stop event, then `join`."""
        self.stop_event.set()
        return self.join()

    def _work(self, name: str) -> None:
        def report(value: Any) -> None:
            setattr(self.summary, name, value)
            if self._progress is not None:
                self._progress(name, value)

        try:
            result = _runner(name)(
                self.settings, drain=self.drain, stop=self.stop_event, progress=report
            )
            setattr(self.summary, name, result)
        except BaseException as exc:  # noqa: BLE001 - re-raised by join() in the caller's thread
            self.errors[name] = exc
            self.stop_event.set()


def run_stack(
    settings: Settings,
    *,
    drain: bool,
    stop: threading.Event,
    only: str | None = None,
    progress: StackProgress | None = None,
) -> StackSummary:
    """Run the lake writer and the detector (or ``only`` one) until ``stop`` is set or drained.

    See `Stack` for the arguments. Returns each consumer's final summary.

    Raises:
        the error of a consumer that failed (the other one is stopped first).
    """
    return Stack(settings, drain=drain, stop=stop, only=only, progress=progress).start().join()
