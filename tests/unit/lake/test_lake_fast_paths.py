"""The lake writer's fast paths give what the plain paths give: inferred JSON parse,
blob pages of the local stream, Parquet encodings read back by DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from petrostream.lake.base import parquet_encodings
from petrostream.lake.decode import _parse_explicit, _parse_inferred, _validate, decode_data
from petrostream.lake.writer import LakeWriter
from petrostream.record import encode
from petrostream.stream.base import IteratorType
from petrostream.stream.local import LocalStream
from petrostream.testing.lake import put_all, put_readings, read_table, reading


def _joined(readings: list[dict]) -> bytes:
    return b"\n".join(encode(r) for r in readings)


def test_inferred_parse_gives_the_explicit_parse_values_for_every_sensor_it_has():
    # given: 1.x and 2.x readings, integer-valued sensors, a new field, labels
    readings = [reading(i, version=1 + i % 2, p_new=i, qgl=0) for i in range(300)]
    joined = _joined(readings)
    # when
    fast = _validate(_parse_inferred(joined))
    slow = _validate(_parse_explicit(joined))
    # then: same columns where the fast one has them; the rest are all null in the slow one
    for name in slow.column_names:
        if name in fast.column_names:
            assert fast.column(name).type == slow.column(name).type, name
            assert fast.column(name).equals(slow.column(name)), name
        else:
            assert slow.column(name).null_count == len(readings), name
    assert fast.column("p_new").type == pa.float64()


@pytest.mark.parametrize(
    "field",
    [b'"p_pdg": "12"', b'"p_pdg": true', b'"event_class": 1.0', b'"instance_id": 5',
     b'"ts": "2024-05-01T12:00:00"', b'"p_pdg": {"a": 1}'],
)  # fmt: skip
def test_a_type_the_explicit_schema_would_not_give_is_not_inferred_away(field):
    # given: one record whose field has a type the canonical schema does not allow
    good = [encode(reading(i)) for i in range(5)]
    bad = b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", ' + field + b"}"
    # when
    batch = decode_data([*good, bad], lambda i: ("shardId-000000000000", str(i), datetime.now(UTC)))
    # then: the good records stay, the bad one is a reject (never a silent cast)
    assert batch.table is not None and batch.table.num_rows == 5
    assert [r.data for r in batch.rejects] == [bad]


def test_blob_pages_match_get_records(home):
    # given a stream whose clock stands still, so both reads compute the same lag
    now = datetime.now(UTC)
    stream = LocalStream(home / "frozen.db", shard_count=2, clock=lambda: now)
    put_readings(stream, [reading(i, well_id=f"WELL-0000{i % 4}") for i in range(120)])
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        # when
        page = stream.get_records(it, limit=25)
        blobs = stream.get_record_blobs(it, limit=25)
        # then
        assert blobs.next_iterator == page.next_iterator
        assert blobs.millis_behind_latest == page.millis_behind_latest
        assert blobs.data == [r.data for r in page.records]
        assert [blobs.record(i, r.partition_key) for i, r in enumerate(page.records)] == (
            page.records
        )
    empty = stream.get_record_blobs(
        stream.get_shard_iterator(stream.list_shards()[0].shard_id, IteratorType.LATEST)
    )
    assert (empty.data, empty.sequence_numbers, empty.millis_behind_latest) == ([], [], 0)


class PlainStream:
    """A stream with only the `Stream` protocol (no blob pages): the generic path."""

    def __init__(self, inner):
        self._inner = inner

    def list_shards(self):
        return self._inner.list_shards()

    def get_shard_iterator(self, *args, **kwargs):
        return self._inner.get_shard_iterator(*args, **kwargs)

    def get_records(self, iterator, *, limit=10_000):
        return self._inner.get_records(iterator, limit=limit)


def test_generic_streams_and_blob_pages_land_the_same_rows_and_rejects(stream, catalog, tmp_path):
    # given: good readings of 3 wells and two bad records, consumed through both paths
    put_readings(stream, [reading(i, well_id=f"WELL-0000{i % 3}") for i in range(900)])
    put_all(stream, [("WELL-00001", b"not json"), ("WELL-00002", b'{"well_id": "WELL-00002"}')])
    from petrostream.lake.tables import open_catalog

    other = open_catalog(tmp_path / "other-lake", str(tmp_path / "other-lake" / "lake"))
    # when
    fast = LakeWriter(stream, catalog, buffer_bytes=40_000, page_limit=100).run(drain=True)
    plain = LakeWriter(PlainStream(stream), other, buffer_bytes=40_000, page_limit=100).run(
        drain=True
    )
    # then
    assert (fast.readings, fast.rejects) == (plain.readings, plain.rejects) == (900, 2)
    key = ["well_id", "instance_id", "source_ts"]
    a = read_table(catalog).sort_by([(k, "ascending") for k in key])
    b = read_table(other).sort_by([(k, "ascending") for k in key])
    assert a.select(sorted(a.column_names)).equals(b.select(sorted(b.column_names)))
    rejects_a = read_table(catalog, "rejects").sort_by("sequence_number")
    rejects_b = read_table(other, "rejects").sort_by("sequence_number")
    assert rejects_a.drop_columns(["arrival"]).equals(rejects_b.drop_columns(["arrival"]))


def test_plain_float_encoding_is_a_choice():
    # given
    schema = pa.schema(
        [("x", pa.float64()), ("ts", pa.timestamp("ms", tz="UTC")), ("s", pa.string())]
    )
    # when
    split = parquet_encodings(schema)
    plain = parquet_encodings(schema, "plain")
    # then
    assert split["column_encoding"] == {"x": "BYTE_STREAM_SPLIT", "ts": "DELTA_BINARY_PACKED"}
    assert plain["column_encoding"] == {"ts": "DELTA_BINARY_PACKED"}
    assert plain["use_dictionary"] == ["x", "s"]
    with pytest.raises(ValueError, match="float encoding"):
        parquet_encodings(schema, "gorilla")


def test_page_cache_size_is_set_and_checked(stream):
    # given / when
    stream.set_page_cache(8)
    # then
    assert stream.conn.execute("PRAGMA cache_size").fetchone()[0] == -8192
    with pytest.raises(ValueError, match="at least 1 MiB"):
        stream.set_page_cache(0)
