"""The one record validator (`petrostream.record`): what is a valid record, with which reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from petrostream import record
from petrostream.errors import InvalidRecord

GOOD: dict[str, Any] = {"well_id": "WELL-00011", "ts": "2024-02-28 00:00:00.000", "p_pdg": 1.0}


def reason_of(obj: Any) -> str | None:
    try:
        record.decode(json.dumps(obj).encode())
    except InvalidRecord as exc:
        return exc.reason
    return None


def test_a_good_record_decodes_to_itself() -> None:
    assert record.decode(record.encode(GOOD)) == GOOD


@pytest.mark.parametrize(
    "ts",
    [
        "2024-02-30 00:00:00.000",  # a date the calendar has not
        "2023-02-29 00:00:00.000",  # not a leap year
        "2024-13-01 00:00:00.000",
        "2024-01-01 24:00:00.000",
        "2024-01-01 23:60:00.000",
        "2024-01-01 23:59:60.000",
        "0000-01-01 00:00:00.000",  # outside the years
        "9999-12-31 23:59:59.999",
        "1969-12-31 23:59:59.999",
        "2100-01-01 00:00:00.000",
    ],
)
def test_an_impossible_or_out_of_range_instant_is_a_bad_timestamp(ts: str) -> None:
    assert reason_of({**GOOD, "ts": ts}) == "bad_timestamp"
    assert reason_of({**GOOD, "source_ts": ts}) == "bad_timestamp"


def test_the_year_bounds_themselves_are_valid() -> None:
    assert reason_of({**GOOD, "ts": "1970-01-01 00:00:00.000"}) is None
    assert reason_of({**GOOD, "ts": "2099-12-31 23:59:59.999"}) is None
    assert reason_of({**GOOD, "ts": "2024-02-29 12:00:00.000"}) is None


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({**GOOD, "well_id": "../../etc"}, "bad_well_id"),
        ({**GOOD, "well_id": "WELL-00013 weird name!"}, "bad_well_id"),
        ({**GOOD, "well_id": ".hidden"}, "bad_well_id"),
        ({**GOOD, "foo\n": 1.0}, "bad_column"),
        ({**GOOD, "Foo": 1.0}, "bad_column"),
        ({**GOOD, "_foo": 1.0}, "bad_column"),
        ({**GOOD, "9lives": 1.0}, "bad_column"),
        ({**GOOD, "a" * 64: 1.0}, "bad_column"),
        ({**GOOD, "dt": 1.0}, "bad_column"),
        ({**GOOD, "new_gauge": "x"}, "wrong_type"),
        ({**GOOD, "event_class": 1.5}, "wrong_type"),
        ({"ts": GOOD["ts"]}, "missing_field"),
    ],
)
def test_each_rule_has_its_reason(obj: dict[str, Any], reason: str) -> None:
    assert reason_of(obj) == reason


def test_a_new_column_name_within_the_rule_is_kept() -> None:
    obj = {**GOOD, "a" * 63: 2.0, "gauge_2": 3.0}
    assert record.decode(json.dumps(obj).encode()) == obj


def test_more_unknown_fields_than_the_limit_is_too_many_fields() -> None:
    at_limit = {**GOOD, **{f"x{i}": 1.0 for i in range(record.MAX_NEW_FIELDS)}}
    assert reason_of(at_limit) is None
    assert reason_of({**at_limit, "one_more": 1.0}) == "too_many_fields"
    assert record.decode(json.dumps(at_limit).encode(), max_new_fields=100) == at_limit


def test_a_column_budget_refuses_new_columns_past_its_limit_and_keeps_admitted_ones() -> None:
    budget = record.ColumnBudget(limit=2, known=["a1"])
    budget.admit({**GOOD, "a1": 1.0, "a2": 1.0})  # a1 known, a2 the second
    with pytest.raises(InvalidRecord) as caught:
        budget.admit({**GOOD, "a3": 1.0})
    assert caught.value.reason == "too_many_columns"
    budget.admit({**GOOD, "a2": 5.0})  # already admitted: free


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
        max_size=6,
    )
)
def test_any_object_is_decoded_or_refused_with_a_reason(extra: dict[str, Any]) -> None:
    obj = {**GOOD, **extra}
    try:
        data = json.dumps(obj).encode()
    except ValueError:
        return
    try:
        out = record.decode(data)
    except InvalidRecord as exc:
        assert exc.reason and exc.detail
    else:  # what passes is safe downstream: a real instant, a folder-safe well id
        assert record.parse_ts(out["ts"]).year in range(record.MIN_YEAR, record.MAX_YEAR + 1)
        assert "/" not in out["well_id"]


@given(st.text(alphabet="0123456789-: .", min_size=23, max_size=23))
def test_any_timestamp_text_is_a_real_instant_or_a_bad_timestamp(ts: str) -> None:
    reason = reason_of({**GOOD, "ts": ts})
    if reason is None:
        parsed = record.parse_ts(ts)
        assert record.MIN_YEAR <= parsed.year <= record.MAX_YEAR
    else:
        assert reason == "bad_timestamp"
