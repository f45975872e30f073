"""Contracts of the handler's backends: detection state, dead letters, the detection engine.

Pure (stdlib only): the Lambda zip carries it. Backends live in their own
modules: `shard_state` (the state store over a blob store), `local_backends`
(SQLite under the home), `s3_state` (state objects on AWS), `dynamodb`
(notified markers on AWS), `sqs` (dead letters on AWS).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

from petrostream.alerts.base import AlertLike
from petrostream.errors import PetroStreamError


class StateConflict(PetroStreamError):  # noqa: N818 - a condition, as DynamoDB names it
    """Another invocation saved newer state first (a conditional write failed).

    The handler reports the well's records as batch item failures; the retry
    reloads the newer state and skips the records it already covers.
    """


@dataclass(frozen=True)
class StoredState:
    """A well's detection state as stored.

    Attributes:
        data: the detector's serialized state (``DetectionState.to_bytes()``), None if new.
        version: incremented by every save; 0 when nothing was stored yet.
        positions: per shard, the last sequence number the state already covers.
            Records at or before it are duplicates (a retried batch) and are skipped.
    """

    data: bytes | None = None
    version: int = 0
    positions: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class StateStore(Protocol):
    """Detection state across invocations: per well, stored per shard, with optimistic concurrency.

    Kinesis gives one well (one partition key) to one shard and one shard to one
    invocation at a time, so conflicts come only from a stale retry, a container
    change or a misconfigured parallelization factor; a version check turns them
    into a retry instead of a lost update. Saves are staged and written by
    `flush`, once per batch (`handlers.shard_state.ShardStateStore`: one object
    per shard).
    """

    def load(self, well_id: str, shard_id: str | None = None) -> StoredState:
        """Return the well's state (``StoredState()`` when there is none).

        ``shard_id`` is the shard the well's records came from; None (inspection):
        the freshest copy stored for any shard.

        Raises:
            TransientError: the store cannot be reached now.
        """
        ...

    def save(
        self,
        well_id: str,
        data: bytes,
        positions: Mapping[str, str],
        *,
        expected_version: int,
        shard_id: str,
    ) -> int:
        """Stage new state if the well is still at ``expected_version``; return the new one.

        Nothing is durable before `flush` returns.

        Raises:
            StateConflict: the stored version moved on (nothing was staged).
            TransientError: the store cannot be reached now (nothing promised).
        """
        ...

    def flush(self) -> None:
        """Write the batch's staged saves (one conditional write per shard that changed).

        Called once per batch, inside `transaction`, after every well was processed.

        Raises:
            StateConflict: another invocation wrote first; none of the staged saves
                of that shard is durable (their records must be retried).
            TransientError: the store cannot be reached (the same).
        """
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Group a batch's writes (one commit locally; a no-op on S3).

        Called once around all wells of a batch; it commits before the handler
        returns, so before the event source checkpoints.
        """
        ...

    def was_notified(self, key: str) -> bool:
        """True if the notification ``key`` (``alert_id:status``) was already delivered."""
        ...

    def mark_notified(self, key: str) -> None:
        """Remember that ``key`` was delivered, so a retried batch does not send it again."""
        ...


@dataclass(frozen=True)
class DeadLetter:
    """A record that cannot be processed, with why and where it came from."""

    reason: str
    detail: str
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: float  # epoch seconds (approximateArrivalTimestamp)
    event_source_arn: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``data`` as latin-1 text would corrupt; it is base64 encoded)."""
        import base64

        return {
            "reason": self.reason,
            "detail": self.detail,
            "shard_id": self.shard_id,
            "sequence_number": self.sequence_number,
            "partition_key": self.partition_key,
            "data_base64": base64.b64encode(self.data).decode(),
            "approximate_arrival_timestamp": self.arrival,
            "event_source_arn": self.event_source_arn,
        }


@runtime_checkable
class DeadLetterSink(Protocol):
    """Where undecodable records go (the SQS dead-letter queue on AWS, a table locally)."""

    def put(self, letters: Sequence[DeadLetter]) -> None:
        """Store the dead letters durably before returning.

        Idempotent per (shard_id, sequence_number) where the backend allows it; a
        retried batch may send a letter twice to SQS (consumers dedupe on those).

        Raises:
            TransientError: not stored; the handler fails those records so Lambda retries.
        """
        ...


@runtime_checkable
class DetectionEngine(Protocol):
    """The handler's view of detection: state (de)serialization plus the pure step."""

    def load_state(self, data: bytes | None) -> Any:
        """Rebuild a well's state from bytes (None: a fresh state)."""
        ...

    def dump_state(self, state: Any) -> bytes:
        """Serialize a well's state."""
        ...

    def detect(
        self, state: Any, readings: Sequence[Mapping[str, Any]]
    ) -> tuple[Any, list[AlertLike]]:
        """Run detection over one well's readings in order; return the new state and alerts."""
        ...


# A well's state after an event is 2,484 bytes of JSON with the diagnosis's history
# and 1,156 as zlib (measured in tests/unit/handlers/test_state_compression.py: the
# keys compress, the 17-digit noise of float baselines does not). Releases before
# stored each well's state zlib'd (`compress_state`); the state is now stored plain
# and the shard's object is compressed as a whole (`handlers.shard_state`), which is
# smaller and ~3x cheaper than a zlib call per well and batch.
_STATE_LEVEL: Final = 6


def compress_state(plain: bytes) -> bytes:
    """A state as releases before stored it: zlib (first byte 0x78, never JSON's ``{``)."""
    return zlib.compress(plain, _STATE_LEVEL)


def decompress_state(stored: bytes) -> bytes:
    """The serialized state of ``stored`` (zlib, or plain JSON as stored before).

    Raises:
        ValueError: neither form.
    """
    if stored[:1] == b"{":
        return stored
    try:
        return zlib.decompress(stored)
    except zlib.error as exc:
        raise ValueError(f"stored detection state is neither JSON nor zlib ({exc})") from None


class PureDetectionEngine:
    """`DetectionEngine` over `petrostream.detect.base` (``Detector`` + ``DetectionState``)."""

    def __init__(self, rules_file: str | None = None) -> None:
        from petrostream.detect.base import DetectionState, Detector, load_rules

        self._state_type = DetectionState
        self._detector = Detector(rules=load_rules(rules_file))

    def load_state(self, data: bytes | None) -> Any:
        """``DetectionState.from_bytes`` or a fresh ``DetectionState()``.

        Reads every form a release has stored: plain JSON (this one and the first
        ones) and zlib-compressed (the ones between), so a state stored before an
        upgrade stays readable.
        """
        if not data:
            return self._state_type()
        return self._state_type.from_bytes(decompress_state(data))

    def dump_state(self, state: Any) -> bytes:
        """``state.to_bytes()``, plain: the state store compresses a shard's wells at once."""
        return bytes(state.to_bytes())

    def detect(
        self, state: Any, readings: Sequence[Mapping[str, Any]]
    ) -> tuple[Any, list[AlertLike]]:
        """``Detector.detect``."""
        new_state, alerts = self._detector.detect(state, readings)
        return new_state, list(alerts)


COLUMNAR_MIN_ROWS = 256  # below this many readings of one well, the per-record path is faster
# The same crossover for readings that come as columns already (a bulk-decoded batch,
# `handlers.columnar.WellRows`: no dict-to-column pass), measured: 7.0 vs 6.6 us/reading at
# 128, 7.2 vs 11.9 at 64.
COLUMNAR_MIN_ROWS_AS_COLUMNS = 128


class ColumnarDetectionEngine(PureDetectionEngine):
    """`PureDetectionEngine` that detects a well's larger batches with the columnar detector.

    `petrostream.detect.vectorized` reads and writes the same `DetectionState` and
    raises the same alerts (its tests assert it), so the two paths mix on one well.
    It pays a fixed cost per call: measured on this machine, it overtakes the
    per-record loop at ~250 readings of one well per batch (2x at 1,000), so a
    backlog drained in large batches goes columnar and live trickles stay per record.
    Needs numpy: `build_backends` picks it only where numpy imports (not in the
    lean Lambda zip).
    """

    def __init__(
        self,
        rules_file: str | None = None,
        *,
        min_rows: int = COLUMNAR_MIN_ROWS,
        min_rows_as_columns: int = COLUMNAR_MIN_ROWS_AS_COLUMNS,
    ) -> None:
        super().__init__(rules_file)
        from petrostream.detect.vectorized import VectorizedDetector, columns_of

        self.min_rows = min_rows
        self.min_rows_as_columns = min_rows_as_columns
        self._columnar = VectorizedDetector(rules=self._detector.rules)
        self._columns_of = columns_of
        self._sensors = [sp.column for sp in self._columnar.plan.sensors]

    def detect(
        self, state: Any, readings: Sequence[Mapping[str, Any]]
    ) -> tuple[Any, list[AlertLike]]:
        """Columnar ``detect_table`` for ``min_rows`` readings or more, else ``Detector.detect``.

        Readings that are columns already (``columns(sensors)``, a bulk-decoded batch)
        go columnar from ``min_rows_as_columns``.
        """
        columns = getattr(readings, "columns", None)  # bulk-decoded: already columns
        if len(readings) < (self.min_rows_as_columns if columns else self.min_rows):
            return super().detect(state, readings)
        new_state, alerts = self._columnar.detect_table(
            state,
            columns(self._sensors) if columns else self._columns_of(readings, self._sensors),
        )
        return new_state, list(alerts)


def detection_engine(rules_file: str | None = None) -> PureDetectionEngine:
    """The fastest engine this runtime can run: columnar where numpy imports, else pure."""
    try:
        import numpy  # noqa: F401
    except ImportError:  # the lean Lambda zip
        return PureDetectionEngine(rules_file)
    return ColumnarDetectionEngine(rules_file)
