"""The replay clock: which event time (``ts``) a reading gets and when it is due on the wall clock.

Every instance keeps its original spacing in ``ts`` whatever the speed; the
speed paces only the wall clock. The replay lays the fleet out on one timeline
(offsets in milliseconds) before it reads a row:

- ``--clock now`` (default): the instances of one well follow each other in the
  order of their source time, `INSTANCE_GAP` apart, so a well never holds two
  instances at once (a detector keeps one state per well). At ``speed`` 0 every
  well's timeline ends at the replay's start (history that catches up to now); at
  ``speed`` > 0 every well starts together, and ``ts`` is placed so that the
  longest well's last reading is stamped when it is put: at speed 1 ``ts`` is the
  wall clock (live), at N > 1 the span lies in the past and catches up.
- ``--clock source``: ``ts`` is the file's own timestamp (``source_ts``); the
  timeline is the fleet's source time, from its earliest reading.

No reading is stamped later than the moment it falls due. Each instance's shift
(``ts - source_ts``) is a whole number of minutes (`ALIGN`), the span placed up to
a minute earlier: detection buckets the same event time as on the file's clock.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol

import numpy as np

from petrostream.dataset.base import Instance
from petrostream.dataset.span import TimeSpan
from petrostream.errors import ConfigError

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
INSTANCE_GAP: Final = timedelta(minutes=15)
"""Event time between two instances of one well: longer than the detector's longest
window (10 min), so each instance starts from a fresh history, as `evaluate` runs it."""
ALIGN: Final = timedelta(minutes=1)
"""``ts - source_ts`` of every reading is a whole number of these: a detector that buckets
event time (10 s history samples) sees the same buckets as on the files' own time."""
MIN_SPEED: Final = 1e-3
"""Slowest pace accepted (1,000 times slower than real time); 0 means as fast as possible."""
MAX_SPEED: Final = 1e9


class ClockMode(StrEnum):
    """Which time a replayed reading carries as ``ts``."""

    NOW = "now"
    SOURCE = "source"


class Clock(Protocol):
    """Where replay gets the current time and how it waits (injectable for tests)."""

    def now(self) -> datetime:
        """Return the current time, aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a fake clock just advances)."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """Return `datetime.now(UTC)`."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        if seconds > 0:
            time.sleep(seconds)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def check_speed(speed: float) -> float:
    """``speed`` if it is a pace replay can keep, else `ConfigError` saying which are.

    Raises:
        ConfigError: not a number, negative, infinite, or absurdly small or large.
    """
    if not isinstance(speed, int | float) or math.isnan(speed):
        raise ConfigError(f"--speed {speed!r} is not a number: give 1 (real time), N or 0")
    if speed < 0:
        raise ConfigError(f"--speed {speed:g} is negative: give 1 (real time), N > 0 or 0")
    if speed == 0:
        return 0.0
    if math.isinf(speed) or speed > MAX_SPEED:
        raise ConfigError(f"--speed {speed:g} is too large: use 0 for as fast as possible")
    if speed < MIN_SPEED:
        raise ConfigError(
            f"--speed {speed:g} is too small (slowest is {MIN_SPEED:g}, 1,000 times slower "
            "than real time): give 1 for real time or 0 for as fast as possible"
        )
    return float(speed)


@dataclass(frozen=True)
class Schedule:
    """The fleet's timeline: each instance's lead, the event time and wall time of offset 0.

    Attributes:
        leads: per instance (input order), ms from timeline offset 0 to its first row.
        ends: per instance, the offset its last row should have (lead + span).
        ts0_ms: event time (``ts``) of offset 0; unused with ``ClockMode.SOURCE``.
        start_ms: wall time at which offset 0 is due.
        speed: wall-clock pace; 0 = no waiting.
        mode: which time ``ts`` carries.
    """

    leads: np.ndarray
    ends: np.ndarray
    ts0_ms: int
    start_ms: int
    speed: float
    mode: ClockMode

    @classmethod
    def lay_out(
        cls,
        instances: Sequence[Instance],
        spans: Sequence[TimeSpan | None],
        *,
        start_ms: int,
        speed: float,
        mode: ClockMode = ClockMode.NOW,
        gap_ms: int = int(INSTANCE_GAP / timedelta(milliseconds=1)),
    ) -> Schedule:
        """Place every instance on one timeline (see the module docstring).

        An instance whose span is unknown (a file the reader will reject) counts
        as one reading long.
        """
        n = len(instances)
        leads = np.zeros(n, dtype=np.int64)
        lengths = np.array([s.length_ms if s else 0 for s in spans], dtype=np.int64)
        if mode is ClockMode.SOURCE:
            firsts = [s.first_ms for s in spans if s is not None]
            origin = min(firsts) if firsts else start_ms
            for i, span in enumerate(spans):
                leads[i] = span.first_ms - origin if span is not None else 0
            return cls(leads, leads + lengths, origin, start_ms, speed, mode)
        wells: dict[str, list[int]] = defaultdict(list)
        for i, inst in enumerate(instances):
            wells[inst.well_id].append(i)
        totals: dict[str, int] = {}
        for well, members in wells.items():
            members.sort(key=lambda i: (_first(spans[i], instances[i]), instances[i].instance_id))
            at = 0
            for k, i in enumerate(members):
                if k:
                    at += gap_ms
                leads[i] = at
                at += int(lengths[i])
            totals[well] = at
        longest = max(totals.values(), default=0)
        if speed == 0:
            # Every well ends together, at the start of the replay.
            for well, members in wells.items():
                leads[members] += longest - totals[well]
            ts0 = start_ms - longest
        else:
            # All wells start together; the longest ends stamped when it is due.
            ts0 = start_ms - int(max(0.0, longest * (1.0 - 1.0 / speed)))
        # Whole-minute shifts: each instance moves up to a minute earlier (never later);
        # the timeline starts earlier by as much as the earliest lead went below zero.
        align = int(ALIGN / timedelta(milliseconds=1))
        first_ms = np.array([_first(s, i) for s, i in zip(spans, instances, strict=True)], np.int64)
        leads -= (ts0 + leads - first_ms) % align
        below = int(-leads.min()) if n and leads.min() < 0 else 0
        leads += below
        ts0 -= below
        return cls(leads, leads + lengths, ts0, start_ms, speed, mode)

    def due(self, offsets: np.ndarray) -> np.ndarray | None:
        """Wall-clock epoch ms each offset falls due; None at speed 0 (nothing waits)."""
        if self.speed == 0:
            return None
        return self.start_ms + np.rint(offsets / self.speed).astype(np.int64)

    def stamps(self, offsets: np.ndarray, due: np.ndarray | None) -> np.ndarray:
        """``ts`` of each offset (``ClockMode.NOW``): original spacing, never after it is due."""
        ts = self.ts0_ms + offsets.astype(np.int64, copy=False)
        limit = due if due is not None else self.start_ms
        return np.minimum(ts, limit)


def _first(span: TimeSpan | None, instance: Instance) -> int:
    if span is not None:
        return span.first_ms
    return to_ms(instance.start) if instance.start is not None else 0
