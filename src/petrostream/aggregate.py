"""KPL aggregated records: several readings of one well in one stream record.

Kinesis bills PUT payload units of 25 KB and Firehose bills every record as at
least 5 KB, so one 400-byte reading per record pays for bytes it does not carry
(issue 16). The Kinesis Producer Library's aggregation format is what AWS tools
already understand (the KCL, ``aws-kinesis-agg`` in a Lambda, Firehose's
de-aggregation of KPL records):

    magic 0xF3 0x89 0x9A 0xC2 | protobuf AggregatedRecord | md5(protobuf), 16 bytes

    message AggregatedRecord {
      repeated string partition_key_table = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records = 3;
    }
    message Record {
      required uint64 partition_key_index = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes data = 3;
      repeated Tag tags = 4;
    }

(https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md).
Each inner ``data`` is one record as `petrostream.record` defines it, under its own
partition key (its well) in the key table. At 1 Hz a well has one reading a second,
so an aggregate packs the readings of *all the wells bound for one shard* (as the
KPL does): `pack` groups by shard, keeps each well's readings in order, and puts
each aggregate with a partition key of its group, so it lands on the shard each of
its wells maps to and a well's readings stay on one shard, in order. A record
without the magic is a single reading and stays valid.

Pure Python (the Lambda zip carries it); a small protobuf reader and writer of
just these two messages, no protobuf dependency.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Final

from petrostream.errors import InvalidRecord

MAGIC: Final = b"\xf3\x89\x9a\xc2"
_DIGEST: Final = 16
# A Kinesis record's data blob is at most 1 MiB; the KPL keeps aggregates below it.
MAX_AGGREGATE_BYTES: Final = 1024 * 1024 - 64
_VARINT, _LEN = 0, 2


def is_aggregated(data: bytes) -> bool:
    """True if ``data`` is a KPL aggregated record (starts with the magic)."""
    return data[:4] == MAGIC


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _field(number, _LEN) + _varint(len(payload)) + payload


def aggregate(entries: Sequence[tuple[str, bytes]]) -> bytes:
    """One KPL aggregated record of ``(partition_key, data)`` entries, in order.

    The entries' keys must map to one shard (`pack` sees to it); the aggregate is put
    with any of them.

    Raises:
        ValueError: no entry, or the aggregate would exceed a Kinesis record's size.
    """
    if not entries:
        raise ValueError("an aggregated record needs at least one reading")
    keys: dict[str, int] = {}
    for key, _ in entries:
        keys.setdefault(key, len(keys))
    body = bytearray()
    for key in keys:
        body += _bytes_field(1, key.encode())
    for key, data in entries:
        inner = _field(1, _VARINT) + _varint(keys[key]) + _bytes_field(3, data)
        body += _bytes_field(3, inner)
    out = MAGIC + bytes(body) + hashlib.md5(body, usedforsecurity=False).digest()
    if len(out) > MAX_AGGREGATE_BYTES:
        raise ValueError(f"aggregated record is {len(out)} bytes, the limit is 1 MiB")
    return out


ShardOf = Callable[[str], Hashable]


def shard_router(ranges: Iterable[tuple[str, int, int]]) -> ShardOf:
    """``partition_key -> shard_id`` over ``(shard_id, starting, ending hash key)`` ranges.

    The mapping Kinesis applies (MD5 of the key, big-endian, in an inclusive range);
    give it the stream's open shards (``Stream.list_shards()``).
    """
    table = sorted((start, end, shard) for shard, start, end in ranges)
    starts = [start for start, _, _ in table]
    cache: dict[str, Hashable] = {}

    def shard_of(key: str) -> Hashable:
        shard = cache.get(key)
        if shard is None:
            h = int.from_bytes(hashlib.md5(key.encode(), usedforsecurity=False).digest(), "big")
            i = bisect.bisect_right(starts, h) - 1
            if i < 0 or h > table[i][1]:
                raise ValueError(f"no shard owns the hash key of {key!r}")
            shard = cache[key] = table[i][2]
        return shard

    return shard_of


def pack(
    entries: Iterable[tuple[str, bytes]],
    shard_of: ShardOf | None = None,
    *,
    max_bytes: int = 25_000,
) -> list[tuple[str, bytes]]:
    """Aggregate ``(partition_key, data)`` entries per shard into records to put.

    Returns ``(partition_key, data)`` pairs in the order they fill up (each well's
    readings keep their order); each record is at most ``max_bytes`` (default one
    Kinesis PUT payload unit, 25 KB) unless one reading alone is bigger, and is never
    split. A group of one entry is put as it is (a single-reading record).
    ``shard_of`` maps a key to its shard (`shard_router`); None: one shard for all
    (e.g. a one-shard stream).
    """
    route: ShardOf = shard_of if shard_of is not None else (lambda _key: None)
    groups: dict[Hashable, list[tuple[str, bytes]]] = {}
    sizes: dict[Hashable, int] = {}
    out: list[tuple[str, bytes]] = []

    def flush(shard: Hashable) -> None:
        group = groups.pop(shard)
        sizes.pop(shard)
        key = group[0][0]
        out.append((key, group[0][1] if len(group) == 1 else aggregate(group)))

    for key, data in entries:
        shard = route(key)
        cost = len(data) + len(key) + 16  # field headers, varints and the key, generously
        if shard in groups and sizes[shard] + cost > max_bytes:
            flush(shard)
        if shard not in groups:
            groups[shard], sizes[shard] = [], len(MAGIC) + _DIGEST
        groups[shard].append((key, data))
        sizes[shard] += cost
    for shard in list(groups):
        flush(shard)
    return out


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise InvalidRecord("bad_aggregate", "a protobuf varint is truncated")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> Iterable[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: an int or the bytes of a LEN field."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _read_varint(buf, pos)
            yield number, value
        elif wire == _LEN:
            size, pos = _read_varint(buf, pos)
            if pos + size > len(buf):
                raise InvalidRecord("bad_aggregate", "a protobuf field runs past the record")
            yield number, buf[pos : pos + size]
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise InvalidRecord("bad_aggregate", f"protobuf wire type {wire} is not supported")
    if pos != len(buf):
        raise InvalidRecord("bad_aggregate", "a protobuf field runs past the record")


def deaggregate(data: bytes) -> list[bytes]:
    """The inner records of a KPL aggregated record, in order; ``[data]`` for a plain one.

    Raises:
        InvalidRecord: ``bad_aggregate`` -- the digest does not match, the protobuf is
            broken, or the aggregate holds no record (the whole stream record is one
            dead letter; its inner readings cannot be trusted).
    """
    if not is_aggregated(data):
        return [data]
    if len(data) < len(MAGIC) + _DIGEST:
        raise InvalidRecord("bad_aggregate", "aggregated record is shorter than its header")
    body, digest = data[len(MAGIC) : -_DIGEST], data[-_DIGEST:]
    if hashlib.md5(body, usedforsecurity=False).digest() != digest:
        raise InvalidRecord("bad_aggregate", "aggregated record's md5 does not match its body")
    out: list[bytes] = []
    for number, value in _fields(body):
        if number != 3:
            continue
        if not isinstance(value, bytes):
            raise InvalidRecord("bad_aggregate", "a record entry is not a message")
        inner = [v for n, v in _fields(value) if n == 3]
        if len(inner) != 1 or not isinstance(inner[0], bytes):
            raise InvalidRecord("bad_aggregate", "a record entry has no data")
        out.append(inner[0])
    if not out:
        raise InvalidRecord("bad_aggregate", "aggregated record holds no record")
    return out
