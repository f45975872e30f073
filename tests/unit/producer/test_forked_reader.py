"""The forked reader: chunks in order, the finishing work shared with the putting process."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from petrostream.producer import forked
from petrostream.producer.forked import can_fork, read_forked
from petrostream.producer.merge import Chunk

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs fork")


def _produce():
    for n in range(12):
        yield ("raw", n)


def _finish(item):
    if item[0] == "raw":  # finished where it runs: say which process that was
        return ("done", item[1], os.getpid())
    return item


def test_items_come_in_order_finished_once_whichever_process_finishes_them():
    # given a child that produces unfinished items, and a parent slow for the first half
    here = os.getpid()
    got = []

    # when the parent reads them all, sleeping on the first six
    for item in read_forked(_produce, finish=_finish):
        got.append(item)
        if len(got) <= 6:
            time.sleep(0.05)

    # then every item came once, in order, finished
    assert [(kind, n) for kind, n, _ in got] == [("done", n) for n in range(12)]
    # and the child finished some (while the parent was busy) and the parent others
    where = {pid == here for _, _, pid in got}
    assert where == {True, False}


def test_without_finish_the_items_come_as_produced():
    assert list(read_forked(_produce)) == [("raw", n) for n in range(12)]


def _chunks_of(sizes):
    def produce():
        for n, size in enumerate(sizes):
            payload = bytes([65 + n % 26]) * size
            bounds = np.array([0, size], dtype=np.int64)
            one = np.zeros(1, dtype=np.int64)
            yield Chunk(None, memoryview(payload), bounds, ["WELL-1"], one, one, one)

    return produce


def test_records_cross_in_shared_memory_and_chunks_too_big_for_a_slot_are_pickled(monkeypatch):
    # given slots of 1 KiB and chunks of records below, at and above that size
    monkeypatch.setattr(forked, "RING_SLOT_BYTES", 1024)
    sizes = [10, 1024, 5000, 0, 700, 1025, 3, 900, 901, 902]

    # when read through the forked reader, the parent keeping each chunk's bytes
    got = [bytes(chunk.payload) for chunk in read_forked(_chunks_of(sizes))]

    # then every chunk's records arrive whole, in order, though the slots went round
    assert got == [bytes([65 + n % 26]) * size for n, size in enumerate(sizes)]
