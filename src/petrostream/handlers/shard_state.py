"""`ShardStateStore`: the detection state of a shard's wells as one object, written once a batch.

Kinesis hands a shard to one invocation at a time (parallelization factor 1) and
keeps a well (its partition key) on one shard. So the state of all the wells of a
shard is read once when a process first sees the shard (a cold start), kept in
memory while warm, and written back as **one object per shard and batch**
(`flush`; it compresses only the wells the batch changed, see layout 3 below),
conditionally on the version (ETag) it was read at: a stale or retried invocation
gets `StateConflict` instead of overwriting newer state. A per-well store paid one
write per well and batch (DynamoDB: 5.3 G write units a month at 1,000 wells;
docs/realtime.md has the figures).

Inside the object each well keeps its own version and per-shard positions, as a
per-well store did, so a retried batch still skips the records a well already
covers while the wells that failed process them again.

Resharding: a child shard's object does not exist yet when it starts (Kinesis
delivers a parent's records before its children's). The first time a shard
misses a well, the store reads every other shard's object once and takes the
well's copy with the highest version (a closed parent's copy is final). State
written per well by an earlier release is read through ``legacy`` when no object
holds the well.

Pure (stdlib only): the Lambda zip carries it. The objects live in a `BlobStore`
(`handlers.s3_state.S3BlobStore` on AWS; `local_backends.SqliteBlobStore`
locally); notified markers in a `MarkerStore`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

from petrostream.handlers.base import StateConflict, StoredState

try:  # the index of a shard's 500 wells: ~0.1 vs ~0.6 ms a batch; optional in the Lambda zip
    import orjson

    def _dump_index(index: list[list[Any]]) -> bytes:
        return orjson.dumps(index)

    _load_index: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - exercised in a lean Lambda runtime
    _ENCODER: Final = json.JSONEncoder(separators=(",", ":"))

    def _dump_index(index: list[list[Any]]) -> bytes:
        return _ENCODER.encode(index).encode()

    _load_index = json.loads

# Layout 3: magic, then one or more sections, each a zlib stream of (the JSON index
# line, each well's state bytes): the first holds every well (the base), each later
# one the wells a batch changed since (a delta; a later section's copy of a well
# wins). A batch writes the base and deltas it holds compressed already, and
# compresses only its own wells: at 1,000 wells and 10,000 readings/s a live batch
# changes ~55 of a shard's 500 wells, and compressing all 500 every batch was a fifth
# of the detector's CPU (1.05 ms a batch). Once the deltas outweigh the base
# (``delta_budget``), the next write compresses every well into a new base.
# Layout 2 (release before): magic, one section. Layout 1: magic, the index line,
# each well's bytes zlib'd one by one. A whole shard compresses in one call at level 1
# about 3x faster than its wells one by one at level 6, and smaller (500 wells of the
# latency benchmark: 2.7 vs 8.5 ms, 101 vs 146 KB; each well's zlib call paid its
# set-up, and the keys repeat across wells).
_MAGIC: Final = b"PSSHARD3\n"
_MAGIC_2: Final = b"PSSHARD2\n"  # read only
_MAGIC_1: Final = b"PSSHARD1\n"  # read only
_LEVEL: Final = 1
# Deltas may add this fraction of the base's compressed size before a new base is
# written (S3 bills a PUT whatever its size; a DynamoDB item by the KB: 0 there).
DELTA_BUDGET: Final = 1.0


@runtime_checkable
class BlobStore(Protocol):
    """Objects of bytes by key, with conditional writes on a version tag (an S3 ETag)."""

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and tag, or None if there is none.

        Raises:
            TransientError: the store cannot be reached now.
        """
        ...

    def put(self, key: str, data: bytes, *, if_match: str | None) -> str:
        """Write the object if its tag is still ``if_match`` (None: if it does not exist).

        Returns the new tag.

        Raises:
            StateConflict: the object moved on (or exists, for None); nothing was written.
            TransientError: the store cannot be reached now (the write may have happened).
        """
        ...

    def list_keys(self) -> list[str]:
        """Every object's key (read when a shard misses a well: resharding)."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Group a batch's writes with the markers' (one commit locally; a no-op on S3)."""
        ...


@runtime_checkable
class MarkerStore(Protocol):
    """Delivered notification keys (``alert_id:status``), kept apart from the state.

    A marker is written right after its delivery, before the state is saved, so a
    batch whose state save then fails does not send the alert again on retry.
    """

    def was_notified(self, key: str) -> bool:
        """True if ``key`` was already delivered."""
        ...

    def mark_notified(self, key: str) -> None:
        """Remember that ``key`` was delivered (idempotent)."""
        ...


@dataclass
class _Well:
    version: int
    positions: dict[str, str]
    data: bytes


@dataclass
class _Shard:
    tag: str | None  # None: no object stored yet
    wells: dict[str, _Well]
    adopted: dict[str, int] = field(default_factory=dict)  # found elsewhere: version
    dirty: bool = False
    foreign: dict[str, _Well] | None = None  # other shards' wells, read once on a miss
    # the sections as last written (`_section`): None until this process writes a base
    base: bytes | None = None
    deltas: list[bytes] = field(default_factory=list)
    deltas_size: int = 0
    changed: set[str] = field(default_factory=set)  # wells saved since the last write


def _section(wells: Mapping[str, _Well]) -> bytes:
    """One zlib stream of a JSON index line and each well's state bytes."""
    index = [[w, e.version, e.positions, len(e.data)] for w, e in wells.items()]
    body = b"".join([_dump_index(index), b"\n", *[e.data for e in wells.values()]])
    return zlib.compress(body, _LEVEL)


def encode_shard(wells: Mapping[str, _Well], *deltas: bytes) -> bytes:
    """One shard's object: magic, the section of ``wells``, then ``deltas`` (later sections)."""
    return b"".join([_MAGIC, _section(wells), *deltas])


def _read_body(body: bytes, wells: dict[str, _Well]) -> None:
    end = body.index(b"\n")
    offset = end + 1
    for well, version, positions, length in _load_index(body[:end]):
        wells[well] = _Well(int(version), dict(positions), body[offset : offset + length])
        offset += length
    if offset != len(body):
        raise ValueError(f"stored shard state holds {len(body)} bytes, its index says {offset}")


def decode_shard(blob: bytes) -> dict[str, _Well]:
    """The wells of an object `encode_shard` wrote (this layout or the two before).

    Raises:
        ValueError: not such an object.
    """
    wells: dict[str, _Well] = {}
    if blob.startswith(_MAGIC_1):
        _read_body(blob[len(_MAGIC_1) :], wells)
        return wells
    if not blob.startswith((_MAGIC, _MAGIC_2)):
        raise ValueError("stored shard state does not start with its magic bytes")
    several = blob.startswith(_MAGIC)  # layout 2 holds exactly one section
    rest = memoryview(blob)[len(_MAGIC) :]
    first = True
    while True:
        unpack = zlib.decompressobj()
        try:
            body = unpack.decompress(rest)
        except zlib.error as exc:
            if not first:
                raise ValueError("stored shard state has bytes past its end") from None
            raise ValueError(f"stored shard state does not decompress ({exc})") from None
        if not unpack.eof:
            raise ValueError("stored shard state is cut short (or has bytes past its end)")
        _read_body(body, wells)
        first = False
        rest = rest[len(rest) - len(unpack.unused_data) :]
        if not rest:
            return wells
        if not several:
            raise ValueError("stored shard state has bytes past its end")


def shard_key(shard_id: str) -> str:
    """The object key of a shard's state (a shard id is ``shardId-`` and 12 digits)."""
    return f"{shard_id}.state"


class ShardStateStore:
    """`StateStore` that keeps one object per shard (`BlobStore`) and markers apart.

    Args:
        blobs: where the shard objects live.
        markers: where delivered notification keys live.
        legacy: a well's state as an earlier release stored it (one row or item per
            well), read when no shard object holds the well; None: none.
        delta_budget: how much the changed wells' sections may add to an object, as a
            fraction of its base's size, before a write compresses every well again
            (0: every write compresses every well).
    """

    def __init__(
        self,
        blobs: BlobStore,
        markers: MarkerStore,
        legacy: Callable[[str], StoredState] | None = None,
        *,
        delta_budget: float = DELTA_BUDGET,
    ) -> None:
        self.blobs = blobs
        self.markers = markers
        self._legacy = legacy
        self._delta_budget = delta_budget
        self._shards: dict[str, _Shard] = {}

    def _shard(self, shard_id: str) -> _Shard:
        shard = self._shards.get(shard_id)
        if shard is None:
            got = self.blobs.get(shard_key(shard_id))
            shard = _Shard(None, {}) if got is None else _Shard(got[1], decode_shard(got[0]))
            self._shards[shard_id] = shard
        return shard

    def _elsewhere(self, shard_id: str, shard: _Shard, well_id: str) -> StoredState:
        """A well this shard's object lacks: its freshest copy in another shard's, or legacy."""
        if shard.foreign is None:
            shard.foreign = self._read_all(skip=shard_key(shard_id))
        found = shard.foreign.get(well_id)
        if found is not None:
            shard.adopted[well_id] = found.version
            return StoredState(found.data, found.version, dict(found.positions))
        if self._legacy is not None:
            old = self._legacy(well_id)
            if old.data is not None:
                shard.adopted[well_id] = old.version
                return old
        return StoredState()

    def _read_all(self, skip: str | None = None) -> dict[str, _Well]:
        """Every shard object's wells, the highest version of each well winning."""
        best: dict[str, _Well] = {}
        for key in self.blobs.list_keys():
            got = None if key == skip else self.blobs.get(key)
            for well, entry in decode_shard(got[0]).items() if got else ():
                if well not in best or entry.version > best[well].version:
                    best[well] = entry
        return best

    def load(self, well_id: str, shard_id: str | None = None) -> StoredState:
        """The well's state as its shard holds it (``StoredState()`` when none does).

        Without ``shard_id`` (inspection, tests): the freshest stored copy in any
        shard's object, read from the store now.

        Raises:
            TransientError: the store cannot be reached now.
        """
        if shard_id is None:
            entry = self._read_all().get(well_id)
            if entry is None:
                return self._legacy(well_id) if self._legacy else StoredState()
            return StoredState(entry.data, entry.version, dict(entry.positions))
        shard = self._shard(shard_id)
        entry = shard.wells.get(well_id)
        if entry is None:
            return self._elsewhere(shard_id, shard, well_id)
        return StoredState(entry.data, entry.version, dict(entry.positions))

    def save(
        self,
        well_id: str,
        data: bytes,
        positions: Mapping[str, str],
        *,
        expected_version: int,
        shard_id: str,
    ) -> int:
        """Stage the well's new state in its shard's object; `flush` writes it.

        Raises:
            StateConflict: the shard's copy of the well is not at ``expected_version``.
        """
        shard = self._shard(shard_id)
        entry = shard.wells.get(well_id)
        have = entry.version if entry is not None else shard.adopted.get(well_id, 0)
        if have != expected_version:
            raise StateConflict(f"state of {well_id} is at version {have}, not {expected_version}")
        shard.wells[well_id] = _Well(expected_version + 1, dict(positions), data)
        shard.changed.add(well_id)
        shard.dirty = True
        return expected_version + 1

    def flush(self) -> None:
        """Write each shard object that changed, conditionally on the tag it was read at.

        Raises:
            StateConflict: another invocation wrote the shard first; the shard's
                staged saves are dropped and it is read again next time.
            TransientError: the store cannot be reached; the same.
        """
        for shard_id, shard in list(self._shards.items()):
            if not shard.dirty:
                continue
            base, deltas, size = shard.base, shard.deltas, shard.deltas_size
            if base is not None:  # this process wrote the object last: add a delta
                delta = _section({w: shard.wells[w] for w in shard.changed})
                size += len(delta)
                if size <= self._delta_budget * len(base):
                    deltas = [*deltas, delta]
                else:
                    base = None
            if base is None:
                base, deltas, size = _section(shard.wells), [], 0
            try:
                shard.tag = self.blobs.put(
                    shard_key(shard_id), b"".join([_MAGIC, base, *deltas]), if_match=shard.tag
                )
            except BaseException:
                self.forget()
                raise
            shard.base, shard.deltas, shard.deltas_size = base, deltas, size
            shard.changed.clear()
            shard.dirty = False

    def forget(self) -> None:
        """Drop every shard read so far (after a failure): the next load reads the store."""
        self._shards.clear()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The blob store's grouping around one batch; a failure forgets what was read."""
        try:
            with self.blobs.transaction():
                yield
        except BaseException:
            self.forget()
            raise

    def was_notified(self, key: str) -> bool:
        """Whether the marker store holds ``key``."""
        return self.markers.was_notified(key)

    def mark_notified(self, key: str) -> None:
        """Write ``key`` to the marker store."""
        self.markers.mark_notified(key)
