"""Bulk decoding of stream records: good records in bulk, each bad one a reject with its reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from petrostream.lake.decode import decode_records, rejects_table
from petrostream.record import MAX_NEW_FIELDS, ColumnBudget, encode
from petrostream.stream.base import StreamRecord
from petrostream.testing.lake import reading

ARRIVAL = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def records(payloads: list[bytes]) -> list[StreamRecord]:
    return [
        StreamRecord("shardId-000000000000", str(100 + i), "WELL-00001", data, ARRIVAL)
        for i, data in enumerate(payloads)
    ]


def test_good_records_decode_in_bulk_with_lake_types():
    # given
    payloads = [encode(reading(i)) for i in range(50)]
    # when
    batch = decode_records(records(payloads))
    # then
    assert batch.rejects == []
    table = batch.table
    assert table.num_rows == 50
    assert table.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("source_ts").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("p_pdg").type == pa.float64()
    assert table.schema.field("event_class").type == pa.int32()
    assert table.column("dt").to_pylist() == ["2024-05-01"] * 50
    assert table.column("p_pdg").to_pylist() == [2.5e7 + i for i in range(50)]
    assert table.column("ts")[3].as_py() == datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC)


BAD = [
    (b"not json", "bad_json"),
    (b"", "bad_json"),
    (b"[1, 2]", "not_an_object"),
    (b'{"ts": "2024-05-01 12:00:00.000"}', "missing_field"),
    (b'{"well_id": "WELL-00001"}', "missing_field"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01T12:00:00Z"}', "bad_timestamp"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", "p_pdg": "abc"}', "wrong_type"),
    (b'{"well_id": 7, "ts": "2024-05-01 12:00:00.000"}', "wrong_type"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", "event_class": 1.5}',
     "wrong_type"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", "p_new": "x"}', "wrong_type"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", "p_pdg": NaN}', "bad_json"),
    (b'{"well_id": "../../etc", "ts": "2024-05-01 12:00:00.000"}', "bad_well_id"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", "Bad Name": 1}', "bad_column"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", "dt": 1}', "bad_column"),
    (b'{"well_id": "WELL-00001", "ts": "2024-02-30 12:00:00.000"}', "bad_timestamp"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", "state": 99999999999}',
     "wrong_type"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000"}\n{"well_id": "WELL-00001"}',
     "bad_json"),
    (b"\xff\xfe{", "bad_json"),
    (b'{"well_id": "WELL-00001", "ts": "0000-01-01 00:00:00.000"}', "bad_timestamp"),
    (b'{"well_id": "WELL-00001", "ts": "9999-12-31 23:59:59.999"}', "bad_timestamp"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000",'
     b' "source_ts": "1969-12-31 23:59:59.999"}', "bad_timestamp"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", "foo\\n": 1}', "bad_column"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", "_x": 1}', "bad_column"),
    (b'{"well_id": "WELL-00001 weird name!", "ts": "2024-05-01 12:00:00.000"}', "bad_well_id"),
    (b'{"well_id": "WELL-00001", "ts": "2024-05-01 12:00:00.000", '
     + b", ".join(b'"f%d": 1' % i for i in range(MAX_NEW_FIELDS + 1)) + b"}", "too_many_fields"),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "reason"), BAD)
def test_each_bad_record_is_a_reject_with_its_reason_and_good_ones_survive(payload, reason):
    # given: a bad record between good ones
    payloads = [encode(reading(0)), payload, encode(reading(1))]
    # when
    batch = decode_records(records(payloads))
    # then
    assert [(r.reason, r.sequence_number, r.data) for r in batch.rejects] == [
        (reason, "101", payload)
    ]
    assert batch.rejects[0].detail
    assert batch.table.column("p_pdg").to_pylist() == [2.5e7, 2.5e7 + 1]


def test_new_numeric_field_becomes_a_double_column():
    # given: a sensor the canonical schema does not know, as an int then a float
    payloads = [encode(reading(0, p_future=3)), encode(reading(1, p_future=4.5))]
    # when
    batch = decode_records(records(payloads))
    # then
    assert batch.rejects == []
    assert batch.table.schema.field("p_future").type == pa.float64()
    assert batch.table.column("p_future").to_pylist() == [3.0, 4.5]


def test_type_conflict_on_a_known_sensor_is_never_cast():
    # given: a numeric string where a double is expected
    payloads = [encode(reading(0, p_pdg="12.5"))]
    # when
    batch = decode_records(records(payloads))
    # then
    assert batch.table is None
    assert [r.reason for r in batch.rejects] == ["wrong_type"]
    assert "p_pdg" in batch.rejects[0].detail


def test_chunks_keep_stream_order_when_one_chunk_falls_back():
    # given: 3 chunks of 4 records, the middle one holding a bad record
    payloads = [encode(reading(i)) for i in range(12)]
    payloads[5] = b"{oops"
    # when
    batch = decode_records(records(payloads), chunk=4)
    # then
    assert [r.sequence_number for r in batch.rejects] == ["105"]
    assert batch.table.column("p_pdg").to_pylist() == [2.5e7 + i for i in range(12) if i != 5]


def test_rejects_table_keeps_payload_text_or_base64():
    # given
    batch = decode_records(records([b"plain text", b"\xff\x00binary"]))
    # when
    table = rejects_table(batch.rejects, "lake-writer")
    # then
    rows = table.to_pylist()
    assert [(r["payload"], r["payload_encoding"]) for r in rows] == [
        ("plain text", "utf-8"),
        ("/wBiaW5hcnk=", "base64"),
    ]
    assert {r["consumer"] for r in rows} == {"lake-writer"}
    assert {r["dt"] for r in rows} == {"2024-05-01"}
    assert rows[0]["shard_id"] == "shardId-000000000000"
    assert rows[0]["arrival"] == ARRIVAL


def test_new_columns_past_the_budget_are_rejects_and_admitted_ones_still_pass():
    # given a budget of two new columns, one already in the table
    budget = ColumnBudget(limit=2, known=["g1"])
    payloads = [
        encode({**reading(0), "g1": 1.0}),
        encode({**reading(1), "g2": 2.0}),
        encode({**reading(2), "g3": 3.0}),  # the third new column: refused
        encode({**reading(3), "g2": 4.0}),
    ]
    # when
    batch = decode_records(records(payloads), budget=budget)
    # then
    assert [(r.reason, r.sequence_number) for r in batch.rejects] == [("too_many_columns", "102")]
    assert "g3" not in batch.table.column_names
    assert batch.table.column("g2").to_pylist() == [None, 2.0, 4.0]
    # and a later batch with the refused column alone is refused again
    again = decode_records(records([encode({**reading(4), "g3": 1.0})]), budget=budget)
    assert [r.reason for r in again.rejects] == ["too_many_columns"]
