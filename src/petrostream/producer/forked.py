"""The forked reader: read, merge and encode in a second process while the first one puts.

Putting costs as much CPU as reading and encoding, and threads would share one
GIL: a second process lets both run on two cores. Chunks come back through a
short queue (bounded memory), in order. The child never outlives its parent:
on Linux the kernel kills it when the parent dies (``PR_SET_PDEATHSIG``, so a
``kill -9`` of the replay too), and everywhere it stops once its parent's pid
changes while it waits to hand over a chunk.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import mmap
import multiprocessing
import os
import pickle
import queue
import signal
import sys
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any, Final

from petrostream.errors import PetroStreamError
from petrostream.producer.merge import Chunk

_PR_SET_PDEATHSIG: Final = 1
_HANDOVER_POLL_S: Final = 0.5
RING_SLOTS: Final = 5
"""Chunks whose records wait in shared memory at once (four queued, one being put).

Five, not three: with room to run ahead while the putting process is busy, the
reader waits less on a full queue and the putting process less on an empty one
(real set, 7 pairs alternated at load 1-4.5: wall 3.88 -> 2.90 s, CPU 3.56 -> 3.34
s, medians); the two slots more cost ~15 MB of resident pages, in both processes.
"""
RING_SLOT_BYTES: Final = 16 * 1024 * 1024
"""Room for one chunk's records (16,384 of ~400 bytes take ~7 MB); larger ones are pickled."""


@dataclasses.dataclass(frozen=True)
class _InRing:
    """Where a chunk's records wait in the shared ring: slot and length."""

    slot: int
    size: int


class _Ring:
    """Shared memory (an anonymous mapping made before the fork) for the chunks' records.

    The child copies a chunk's records into the next slot and sends only the rest of
    the chunk through the queue; this process puts them straight from the mapping:
    no pickling, pipe or copies of ~400 MB of records. The slots go round in order,
    and a semaphore counts the free ones: the child waits for one (its oldest) to be
    given back before it writes there, and this process gives a slot back only
    when it asks for the chunk after the one it held. An unfinished item (merged
    rows to encode here) crosses the same way: its pickle's large buffers (protocol
    5, out of band) go into a slot, which this process copies out and gives back at
    once.
    """

    def __init__(self, context: Any) -> None:
        self.memory = mmap.mmap(-1, RING_SLOTS * RING_SLOT_BYTES)
        self.free = context.Semaphore(RING_SLOTS)
        self.next = 0  # the child's next slot

    def view(self, where: _InRing) -> memoryview:
        start = where.slot * RING_SLOT_BYTES
        return memoryview(self.memory)[start : start + where.size]

    def store_parts(self, parts: Sequence[bytes | memoryview], parent: int) -> _InRing:
        """(child) Copy ``parts`` one after the other into the next slot once it is free."""
        while not self.free.acquire(timeout=_HANDOVER_POLL_S):
            if os.getppid() != parent:
                os._exit(1)  # the replay is gone: nobody will read this
        at = start = self.next * RING_SLOT_BYTES
        for part in parts:
            size = memoryview(part).nbytes
            self.memory[at : at + size] = part
            at += size
        where = _InRing(self.next, at - start)
        self.next = (self.next + 1) % RING_SLOTS
        return where


def _out_of_band(item: Any) -> tuple[bytes, list[memoryview]]:
    """``item`` pickled (protocol 5) with its large buffers (Arrow, NumPy) left out of band."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(item, protocol=5, buffer_callback=buffers.append)
    return data, [buffer.raw() for buffer in buffers]


def _in_band(data: bytes, sizes: Sequence[int], view: memoryview) -> Any:
    """The item `_out_of_band` pickled, its buffers copied out of ``view`` (so the slot is free)."""
    parts, at = [], 0
    for size in sizes:
        parts.append(bytearray(view[at : at + size]))  # writable, as an in-band unpickle gives
        at += size
    return pickle.loads(data, buffers=parts)  # noqa: S301 - our own child's bytes


def can_fork() -> bool:
    """Whether this platform can fork a reader."""
    return "fork" in multiprocessing.get_all_start_methods()


def read_forked(
    produce: Callable[[], Iterable[Any]], finish: Callable[[Any], Chunk] | None = None
) -> Generator[Chunk, None, None]:
    """Run ``produce`` in a forked process and yield its chunks here, in order.

    With ``finish``, ``produce`` may yield unfinished items (merged rows not yet
    encoded): the child finishes an item itself while this process is busy, and
    hands it over unfinished when this process waits for work (its queue is empty),
    so that this process finishes it. The work is shared between the two processes
    by how busy each one is; ``finish`` must give the same chunk in either process
    (and return a finished chunk as it is).

    Closing the generator (or this process dying) stops the child.

    Raises:
        PetroStreamError: the reader process died; or what ``produce`` raised there.
    """
    # pyarrow imports numpy.ma on its first conversion of a NumPy array (~10 ms): import
    # it once here, before the fork, rather than in both processes after it.
    import numpy.ma  # noqa: F401

    context = multiprocessing.get_context("fork")
    channel: multiprocessing.Queue[tuple[str, Any]] = context.Queue(maxsize=RING_SLOTS - 1)
    ring = _Ring(context)
    worker = context.Process(
        target=_work,
        args=(produce, finish, channel, ring, os.getpid()),
        name="replay-reader",
        daemon=True,
    )
    worker.start()
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=1.0)
            except queue.Empty:
                if not worker.is_alive():
                    raise PetroStreamError(
                        f"the replay reader process died (exit code {worker.exitcode})"
                    ) from None
                continue
            if kind == "chunk":
                yield payload if finish is None else finish(payload)
            elif kind == "ring":
                data, kept, sizes, where = payload
                view = ring.view(where)
                item = _in_band(data, sizes, view[kept:])
                if kept:  # a chunk whose records stay in the slot until it is put
                    yield dataclasses.replace(item, payload=view[:kept])
                    ring.free.release()  # asked for the next one: this chunk is put
                else:
                    ring.free.release()  # all copied out: the child may refill the slot
                    yield item if finish is None else finish(item)
            elif kind == "error":
                raise payload
            else:
                return
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()
        channel.close()


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _hand_over(
    channel: multiprocessing.Queue[tuple[str, Any]], item: tuple[str, Any], parent: int
) -> None:
    while True:
        try:
            channel.put(item, timeout=_HANDOVER_POLL_S)
            return
        except queue.Full:
            if os.getppid() != parent:
                os._exit(1)  # the replay is gone: nobody will read this


def _parent_waits(channel: multiprocessing.Queue[tuple[str, Any]]) -> bool:
    """Whether the parent has taken every item handed over (so it waits for the next)."""
    try:
        return channel.qsize() == 0
    except NotImplementedError:  # macOS has no sem_getvalue: the child does the work
        return False


def _work(
    produce: Callable[[], Iterable[Any]],
    finish: Callable[[Any], Chunk] | None,
    channel: multiprocessing.Queue[tuple[str, Any]],
    ring: _Ring,
    parent: int,
) -> None:
    """The child: send chunks, then ``done``, or the error that stopped it."""
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the putting process's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        for item in produce():
            if finish is not None and not _parent_waits(channel):
                item = finish(item)
            if isinstance(item, Chunk) or finish is not None:
                # The records of a chunk, and the large buffers (Arrow, NumPy) of the
                # rest of it or of an unfinished item, cross in the ring: through the
                # pipe (64 KiB at a time, each write waiting for this process's GIL in
                # the queue's feeder thread) the parent spent ~0.3 s blocked in reads.
                kept = len(item.payload) if isinstance(item, Chunk) else 0
                data, buffers = _out_of_band(
                    dataclasses.replace(item, payload=b"") if isinstance(item, Chunk) else item
                )
                sizes = [buffer.nbytes for buffer in buffers]
                if 0 < kept + sum(sizes) <= RING_SLOT_BYTES:
                    parts = [item.payload, *buffers] if kept else buffers
                    where = ring.store_parts(parts, parent)
                    _hand_over(channel, ("ring", (data, kept, sizes, where)), parent)
                    continue
            if isinstance(item, Chunk) and not isinstance(item.payload, bytes):
                item = dataclasses.replace(item, payload=bytes(item.payload))
            _hand_over(channel, ("chunk", item), parent)
        _hand_over(channel, ("done", None), parent)
    except BaseException as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            exc = PetroStreamError(f"{type(exc).__name__}: {exc}")
        _hand_over(channel, ("error", exc), parent)
