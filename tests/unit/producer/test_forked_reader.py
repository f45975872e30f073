"""The forked reader: chunks in order, the finishing work shared with the putting process."""

from __future__ import annotations

import os
import time

import pytest

from petrostream.producer.forked import can_fork, read_forked

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
