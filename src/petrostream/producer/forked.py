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
from collections.abc import Callable, Generator, Iterable
from typing import Any, Final

from petrostream.errors import PetroStreamError
from petrostream.producer.merge import Chunk

_PR_SET_PDEATHSIG: Final = 1
_HANDOVER_POLL_S: Final = 0.5
RING_SLOTS: Final = 3
"""Chunks whose records wait in shared memory at once (two queued, one being put)."""
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
    when it asks for the chunk after the one it held.
    """

    def __init__(self, context: Any) -> None:
        self.memory = mmap.mmap(-1, RING_SLOTS * RING_SLOT_BYTES)
        self.free = context.Semaphore(RING_SLOTS)
        self.next = 0  # the child's next slot

    def view(self, where: _InRing) -> memoryview:
        start = where.slot * RING_SLOT_BYTES
        return memoryview(self.memory)[start : start + where.size]

    def store(self, payload: bytes | memoryview, parent: int) -> _InRing:
        """(child) Copy ``payload`` into the next slot once it is free."""
        while not self.free.acquire(timeout=_HANDOVER_POLL_S):
            if os.getppid() != parent:
                os._exit(1)  # the replay is gone: nobody will read this
        where = _InRing(self.next, len(payload))
        start = where.slot * RING_SLOT_BYTES
        self.memory[start : start + where.size] = payload
        self.next = (self.next + 1) % RING_SLOTS
        return where


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
                chunk, where = payload
                yield dataclasses.replace(chunk, payload=ring.view(where))
                ring.free.release()  # asked for the next one: this chunk is put
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
            if isinstance(item, Chunk) and 0 < len(item.payload) <= RING_SLOT_BYTES:
                where = ring.store(item.payload, parent)
                _hand_over(
                    channel, ("ring", (dataclasses.replace(item, payload=b""), where)), parent
                )
            else:
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
