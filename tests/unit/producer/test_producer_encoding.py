"""The column-wise record encoder: exact floats, omitted nulls, labels, timestamps."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st
from producer_fakes import make_file

from petrostream.producer import encode_tail, encoding, format_ms, record_head
from petrostream.record import decode, format_ts


def records_of(fake, ts: str = "2025-01-01 00:00:00.000") -> list[dict]:
    head = record_head(fake.instance)
    return [decode((head + ts + tail).encode()) for tail in encode_tail(fake.table).to_pylist()]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=200))
def test_floats_round_trip_exactly(values):
    # given arbitrary finite doubles
    fake = make_file("WELL-00001", len(values), sensors={"p_pdg": values})

    # when encoded and parsed back (stdlib and orjson alike)
    head = record_head(fake.instance) + "2025-01-01 00:00:00.000"
    texts = [head + tail for tail in encode_tail(fake.table).to_pylist()]

    # then each parses to the very same float
    for text, value in zip(texts, values, strict=True):
        for parsed in (json.loads(text)["p_pdg"], orjson.loads(text)["p_pdg"]):
            assert isinstance(parsed, float)
            assert parsed == value
            assert math.copysign(1, parsed) == math.copysign(1, value)


def test_floats_round_trip_at_scale():
    # given a million doubles across 60 orders of magnitude
    rng = np.random.default_rng(0)
    values = rng.standard_normal(1_000_000) * 10.0 ** rng.integers(-30, 30, 1_000_000)
    values[:5] = [38043600.0, 1e22, 5e-324, -0.0, 1.2345678901234568e17]
    fake = make_file("WELL-00001", len(values), sensors={"p_pdg": values.tolist()})

    # when the tails are encoded, then every value reads back equal
    tails = encode_tail(fake.table).to_pylist()
    parsed = [orjson.loads('{"a":"' + t)["p_pdg"] for t in tails]
    assert np.array_equal(np.array(parsed), values)


def test_record_matches_design_and_the_codec():
    # given a row with a null sensor, a transient label and a state
    fake = make_file(
        "WELL-00011",
        2,
        sensors={"p_pdg": [3.80436e7, 1.5], "qgl": [None, 0.25], "t_tpt": [111.8273, None]},
        labels=[106, None],
        states=[1, None],
    )

    # when encoded
    first, second = records_of(fake)

    # then keys come in DESIGN order, null sensors are left out
    assert list(first) == [
        "well_id", "instance_id", "ts", "source_ts", "p_pdg", "t_tpt",
        "event_class", "event_type", "state",
    ]  # fmt: skip
    assert first["p_pdg"] == 38043600.0
    assert first["event_class"] == 106
    assert first["event_type"] == "QUICK_RESTRICTION_IN_PCK"
    assert first["state"] == 1
    assert first["source_ts"] == "2014-05-30 10:00:00.000"
    # and an unlabelled row has no event_class nor event_type
    assert second == {
        "well_id": "WELL-00011",
        "instance_id": "WELL-00011_20140530100000",
        "ts": "2025-01-01 00:00:00.000",
        "source_ts": "2014-05-30 10:00:01.000",
        "p_pdg": 1.5,
        "qgl": 0.25,
    }


def test_non_finite_values_are_left_out_as_nulls():
    fake = make_file("WELL-00001", 3, sensors={"p_pdg": [math.nan, math.inf, 2.0]})
    assert [r.get("p_pdg") for r in records_of(fake)] == [None, None, 2.0]


def test_unknown_sensor_columns_are_kept():
    # schema evolution: a column the schema does not know yet still reaches the stream
    fake = make_file("WELL-00001", 1, sensors={"p_new_gauge": [4.5]})
    assert records_of(fake)[0]["p_new_gauge"] == 4.5


def test_labels_3w_does_not_define_get_no_event_type():
    fake = make_file("WELL-00001", 3, labels=[0, 42, 109])
    records = records_of(fake)
    assert [r.get("event_type") for r in records] == [
        "NORMAL",
        None,
        "HYDRATE_IN_SERVICE_LINE",
    ]


def test_format_ms_matches_the_record_codec():
    # given instants across days, hours and milliseconds (and a leap day)
    base = datetime(2024, 2, 28, 23, 59, 58, 999_000, tzinfo=UTC)
    moments = [base + timedelta(milliseconds=937 * i) for i in range(5000)]
    epoch_ms = np.array([int(m.timestamp() * 1000) for m in moments], dtype=np.int64)

    # when formatted column-wise, then they equal format_ts one by one
    assert format_ms(epoch_ms).to_pylist() == [format_ts(m) for m in moments]


def test_format_ms_agrees_with_arrow_strftime_on_one_day():
    epoch_ms = np.arange(1_401_444_015_000, 1_401_444_015_000 + 86_400_000, 86_399, dtype=np.int64)
    expected = pc.strftime(
        pa.array(epoch_ms, pa.timestamp("ms", "UTC")), format="%Y-%m-%d %H:%M:%S"
    )
    assert format_ms(epoch_ms).to_pylist() == expected.to_pylist()


def test_format_ms_writes_each_rows_own_day_when_first_and_last_share_one():
    # given stamps whose first and last fall on one day and a middle one on another
    day = 86_400_000
    stamps = np.array([10 * day + 5, 500 * day + 7, 10 * day + 9], dtype=np.int64)

    # then each row gets its own date
    assert format_ms(stamps).to_pylist() == [
        format_ts(datetime(1970, 1, 11, tzinfo=UTC) + timedelta(milliseconds=5)),
        format_ts(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=500, milliseconds=7)),
        format_ts(datetime(1970, 1, 11, tzinfo=UTC) + timedelta(milliseconds=9)),
    ]


def test_format_ms_matches_the_record_codec_over_centuries_and_before_the_epoch():
    # given random instants from 1100 to 9900 (before 1970 included), at any millisecond
    rng = np.random.default_rng(7)
    low, high = -27_000_000_000_000, 250_000_000_000_000
    epoch_ms = rng.integers(low, high, 3000)
    moments = [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(m)) for m in epoch_ms]

    # then each fixed-width stamp equals format_ts
    assert format_ms(epoch_ms).to_pylist() == [format_ts(m) for m in moments]


def test_whole_numbers_get_their_dot_zero_beside_nulls_and_large_whole_numbers(monkeypatch):
    # given columns mixing whole numbers, fractions and nulls; one also holds whole
    # numbers that Arrow writes with an exponent (1e+10 and up: no ".0" for those)
    small = [0.0, -0.0, 38043600.0, None, 1.5, 9_999_999_999.0, None, -7.0]
    large = [1e10, None, 2.0, 1.25e17, -3e22, 0.5, 4.0, None]
    fake = make_file("WELL-00001", len(small), sensors={"p_pdg": small, "qgl": large})

    # when encoded, with the magnitude rule and with every text scanned for an exponent
    fast = encode_tail(fake.table).to_pylist()
    monkeypatch.setattr(encoding, "_PLAIN_BELOW", None)
    scanned = encode_tail(fake.table).to_pylist()

    # then both write the same bytes; each number reads back as the same float and is
    # written as a float (a "." or an exponent), and an absent value is left out
    assert fast == scanned
    for tail, a, b in zip(fast, small, large, strict=True):
        record = orjson.loads('{"a":"' + tail)
        assert (record.get("p_pdg"), record.get("qgl")) == (a, b)
        for name, value in (("p_pdg", a), ("qgl", b)):
            if value is None:
                assert f'"{name}"' not in tail
            else:
                text = tail.split(f'"{name}":')[1].split(",")[0]
                assert "." in text or "e" in text
                assert isinstance(orjson.loads(text), float)
