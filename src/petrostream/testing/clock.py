"""A fake clock: virtual time that only moves when the code under test sleeps.

Replay takes a `petrostream.producer.Clock`; give it a `FakeClock` and an hour of
data replays instantly at ``speed=1`` while the injected timestamps keep their
real spacing.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)


class FakeClock:
    """A `Clock` whose `sleep` advances virtual time instead of waiting.

    Attributes:
        sleeps: every duration passed to `sleep`, in call order (for assertions).
    """

    def __init__(self, start: datetime = DEFAULT_START, *, tick: float = 0.0) -> None:
        """Start the virtual time at ``start`` (aware).

        Args:
            start: the first value `now` returns.
            tick: seconds added after each `now` call, to model time passing while
                the code works (0 = time moves only in `sleep`).
        """
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._tick = timedelta(seconds=tick)
        self.sleeps: list[float] = []
        self._lock = threading.Lock()  # replay sleeps from its sender thread too

    def now(self) -> datetime:
        """Return the virtual time (aware UTC), then advance it by ``tick``."""
        with self._lock:
            current = self._now
            self._now += self._tick
            return current

    def sleep(self, seconds: float) -> None:
        """Advance the virtual time by ``seconds`` at once; negative values are ignored."""
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._now += timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        """Move the virtual time forward without recording a sleep."""
        with self._lock:
            self._now += timedelta(seconds=seconds)

    @property
    def slept(self) -> float:
        """Total seconds slept."""
        return sum(s for s in self.sleeps if s > 0)
