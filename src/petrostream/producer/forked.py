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
    context = multiprocessing.get_context("fork")
    channel: multiprocessing.Queue[tuple[str, Any]] = context.Queue(maxsize=2)
    worker = context.Process(
        target=_work,
        args=(produce, finish, channel, os.getpid()),
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
            _hand_over(channel, ("chunk", item), parent)
        _hand_over(channel, ("done", None), parent)
    except BaseException as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            exc = PetroStreamError(f"{type(exc).__name__}: {exc}")
        _hand_over(channel, ("error", exc), parent)
