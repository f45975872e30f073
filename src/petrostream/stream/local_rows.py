"""How the local stream stores records: one SQLite row per shard and put, many records each.

A row holds the records one put stored on one shard, in put order, with
consecutive sequence numbers ``first_seq .. last_seq``::

    keys       the partition key of every record, or a JSON array of the distinct keys
    key_index  NULL (one key for all), else one little-endian uint16 per record into keys
    ends       NULL (one record), else one little-endian uint32 per record: where it ends in data
    data       the records' data, concatenated

Inserting one row per put instead of one per record moves the cost of a put from
SQLite's per-row work (~2 us a record: binding, B-tree insert, index) to copying
bytes. A record's sequence number is ``first_seq + its place in the row``, so
reading from any sequence number is exact: the row that holds it is the first with
``last_seq`` past the position, and the records before the position are skipped.
"""

from __future__ import annotations

import json
from itertools import compress
from typing import NamedTuple

import numpy as np

_KEY_INDEX = np.dtype("<u2")  # a put holds at most 500 records, so at most 500 keys
_ENDS = np.dtype("<u4")  # a put holds at most 5 MiB


class PackedRow(NamedTuple):
    """The columns of one stored row (the shard and sequence numbers aside)."""

    keys: str
    key_index: bytes | None
    ends: bytes | None
    data: bytes | memoryview  # a view only until the row is inserted


def pack(keys: list[str], data: list[bytes]) -> PackedRow:
    """One row holding ``data[i]`` under partition key ``keys[i]``, in order."""
    if len(data) == 1:
        return PackedRow(keys[0], None, None, bytes(data[0]))
    text, key_index = _pack_keys(keys)
    ends = np.cumsum(np.fromiter(map(len, data), np.int64, len(data))).astype(_ENDS)
    return PackedRow(text, key_index, ends.tobytes(), b"".join(data))


def pack_by_shard(
    targets: list[int], keys: list[str], data: list[bytes]
) -> dict[int, tuple[int, PackedRow]]:
    """Per shard of ``targets``: how many records it gets and their row, in request order."""
    shards = set(targets)
    if len(shards) == 1:
        (only,) = shards
        return {only: (len(data), pack(keys, data))}
    rows = {}
    for num in shards:
        mine = list(map(num.__eq__, targets))
        part = list(compress(data, mine))
        rows[num] = (len(part), pack(list(compress(keys, mine)), part))
    return rows


def unpack_data(ends: bytes | None, data: bytes, start: int, stop: int) -> list[bytes]:
    """The data of the row's records ``start`` to ``stop`` (excluded)."""
    if ends is None:
        return [data][start:stop]
    bounds = [0, *np.frombuffer(ends, _ENDS).tolist()]
    return list(map(data.__getitem__, map(slice, bounds[start:stop], bounds[start + 1 : stop + 1])))


def unpack_keys(keys: str, key_index: bytes | None, start: int, stop: int) -> list[str]:
    """The partition keys of the row's records ``start`` to ``stop`` (excluded)."""
    if key_index is None:
        return [keys] * (stop - start)
    distinct = json.loads(keys)
    places = np.frombuffer(key_index, _KEY_INDEX)[start:stop].tolist()
    return list(map(distinct.__getitem__, places))


def row_count(ends: bytes | None) -> int:
    """How many records a row holds."""
    return 1 if ends is None else len(ends) // _ENDS.itemsize


def pack_spans_by_shard(
    targets: list[int], keys: list[str], data: bytes | memoryview, ends: np.ndarray
) -> dict[int, tuple[int, PackedRow]]:
    """`pack_by_shard` for records held as one buffer: record ``i`` is ``data[ends[i-1]:ends[i]]``.

    The records of a shard that stand together in the request become its row's data
    with one copy (none at all when one shard gets the whole request); only a shard
    whose records are interleaved with another's is gathered record by record.
    """
    view = memoryview(data)
    if len(set(targets)) == 1:
        return {targets[0]: (len(keys), _pack_span(keys, view, ends))}
    where = np.asarray(targets)
    starts = np.concatenate(([0], ends[:-1]))
    rows = {}
    for num in dict.fromkeys(targets):
        mine = np.flatnonzero(where == num)
        first, last = int(mine[0]), int(mine[-1])
        part_keys = list(map(keys.__getitem__, mine.tolist()))
        if last - first + 1 == len(mine):  # one run: a slice
            base = int(starts[first])
            row = _pack_span(part_keys, view[base : int(ends[last])], ends[first : last + 1] - base)
        else:
            pieces = map(view.__getitem__, map(slice, starts[mine].tolist(), ends[mine].tolist()))
            row = _pack_span(part_keys, b"".join(pieces), np.cumsum(ends[mine] - starts[mine]))
        rows[num] = (len(mine), row)
    return rows


def _pack_span(keys: list[str], data: bytes | memoryview, ends: np.ndarray) -> PackedRow:
    """`pack` of records already concatenated (``ends`` relative to ``data``).

    ``data`` may stay a view of the caller's buffer: SQLite copies it when the row
    is inserted, which happens before the put returns.
    """
    if len(keys) == 1:
        return PackedRow(keys[0], None, None, data)
    text, key_index = _pack_keys(keys)
    return PackedRow(text, key_index, ends.astype(_ENDS).tobytes(), data)


def _pack_keys(keys: list[str]) -> tuple[str, bytes | None]:
    """A row's partition keys: the one key, or the distinct keys as JSON and an index per record."""
    distinct = dict.fromkeys(keys)
    if len(distinct) == 1:
        return keys[0], None
    for place, key in enumerate(distinct):
        distinct[key] = place
    text = json.dumps(list(distinct), ensure_ascii=False)
    return text, np.fromiter(map(distinct.__getitem__, keys), _KEY_INDEX, len(keys)).tobytes()
