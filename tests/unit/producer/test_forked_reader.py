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


def _arrays_of(lengths):
    def produce():
        for n, length in enumerate(lengths):
            yield ("raw", n, np.arange(length, dtype=np.int64) * (n + 1))

    return produce


def _finish_arrays(item):
    if item[0] == "raw":
        _, n, values = item
        values[:1] = -1  # the parent may write into what crossed, as into any unpickled array
        return ("done", n, values.copy(), os.getpid())
    return item


def test_unfinished_items_cross_in_shared_memory_whole_writable_and_in_order(monkeypatch):
    # given slots of 4 KiB and unfinished items carrying arrays below and above that
    monkeypatch.setattr(forked, "RING_SLOT_BYTES", 4096)
    lengths = [10, 512, 513, 0, 300, 5000, 1, 400, 401, 402, 403, 404]
    here = os.getpid()
    got = []

    # when the parent finishes them (slowly at first, so the child finishes some too)
    for item in read_forked(_arrays_of(lengths), finish=_finish_arrays):
        got.append(item)
        if len(got) <= 4:
            time.sleep(0.05)

    # then each arrived once, in order, its values intact whoever finished it
    assert [n for _, n, _, _ in got] == list(range(len(lengths)))
    for (_, n, values, _), length in zip(got, lengths, strict=True):
        expected = np.arange(length, dtype=np.int64) * (n + 1)
        expected[:1] = -1
        assert values.tolist() == expected.tolist()
    assert {pid == here for *_, pid in got} == {True, False}


def test_a_chunks_arrays_cross_with_its_records():
    # given chunks whose records and per-record arrays differ from one chunk to the next
    def produce():
        for n in range(8):
            payload = bytes([65 + n]) * (100 + n)
            bounds = np.array([0, 50, 100 + n], dtype=np.int64)
            owner = np.array([n, n + 1], dtype=np.int64)
            rows = np.array([10 * n, 10 * n + 1], dtype=np.int64)
            yield Chunk(None, memoryview(payload), bounds, ["W-1", "W-2"], owner, rows, owner)

    # when read through the forked reader
    got = [
        (bytes(c.payload), c.bounds.tolist(), c.owner.tolist(), c.rows.tolist(), c.keys)
        for c in read_forked(produce)
    ]

    # then every chunk's records and arrays are its own
    assert got == [
        (bytes([65 + n]) * (100 + n), [0, 50, 100 + n], [n, n + 1], [10 * n, 10 * n + 1],
         ["W-1", "W-2"])
        for n in range(8)
    ]  # fmt: skip
