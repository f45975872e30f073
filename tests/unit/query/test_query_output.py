"""Values printed as Athena prints them: Java's double text, times, collections, CSV quoting."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from petrostream.query.athena_sql import configure
from petrostream.query.base import QueryResult
from petrostream.query.output import athena_text, format_result, java_float_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.5, "1.5"),
        (100.0, "100.0"),
        (1e7, "1.0E7"),
        (12345678.9, "1.23456789E7"),
        (1e-3, "0.001"),
        (1e-4, "1.0E-4"),
        (-3e7, "-3.0E7"),
        (1234567.0, "1234567.0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (-0.0, "-0.0"),
    ],
)
def test_doubles_print_as_javas_double_to_string(value, text):
    assert java_float_text(value) == text


def test_reals_print_as_javas_float_to_string():
    assert java_float_text(12345678.9, single=True) == "1.2345679E7"
    assert java_float_text(0.1, single=True) == "0.1"
    assert java_float_text(1e300, single=True) == "Infinity"


@pytest.fixture(scope="module")
def con():
    """One DuckDB connection with the Athena macros, shared by the property tests."""
    connection = duckdb.connect()
    configure(connection)
    yield connection
    connection.close()


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e7, 1e-3, 9999999.5]))
def test_the_sql_cast_and_the_printed_value_agree(con, value):
    # CAST(x AS varchar) in SQL (a macro) and the CLI's output (Python) print a double alike
    (sql_text,) = con.execute("SELECT athena_varchar(?::DOUBLE)", [value]).fetchone()
    if value == 0:  # DuckDB's parameter binding may drop the sign of zero
        assert sql_text in ("0.0", "-0.0")
        return
    assert sql_text == java_float_text(value)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
@example(53062128.0)  # a tie: Java prints 5.306213E7, DuckDB's cast every digit
def test_sql_and_python_agree_on_reals(con, value):
    (sql_text,) = con.execute("SELECT athena_varchar(CAST(? AS REAL))", [value]).fetchone()
    if value == 0:
        return
    single = struct.unpack("f", struct.pack("f", value))[0]
    assert sql_text == java_float_text(single, single=True)


@pytest.mark.parametrize(
    ("value", "athena_type", "text"),
    [
        (True, "boolean", "true"),
        (Decimal("1.50"), "decimal(3,2)", "1.50"),
        (
            datetime(2026, 12, 6, 10, 30, 0, 123456, tzinfo=UTC),
            "timestamp",
            "2026-12-06 10:30:00.123",
        ),
        (datetime(2026, 12, 6, 10, 30, tzinfo=UTC), "timestamp", "2026-12-06 10:30:00.000"),
        (date(2026, 12, 6), "date", "2026-12-06"),
        (time(4, 0), "time", "04:00:00.000"),
        (timedelta(days=2, hours=3), "interval day to second", "2 03:00:00.000"),
        (timedelta(hours=-3), "interval day to second", "-0 03:00:00.000"),
        (b"ab", "varbinary", "61 62"),
        ([1, None, 3], "array(integer)", "[1, null, 3]"),
        ([1.5e7], "array(double)", "[1.5E7]"),
        ({"a": 1, "b": None}, "map(varchar, integer)", "{a=1, b=null}"),
        ({"x": [1, 2]}, "row(x array(integer))", "{x=[1, 2]}"),
        (None, "varchar", None),
    ],
)
def test_values_print_as_athena_prints_them(value, athena_type, text):
    assert athena_text(value, athena_type) == text


def test_csv_quotes_values_and_leaves_null_empty_so_null_and_empty_differ():
    result = QueryResult(columns=["a", "b"], types=["varchar", "varchar"], rows=[("", None)])
    assert format_result(result, "csv").splitlines() == ['"a","b"', '"",']
    quoted = QueryResult(columns=["q"], types=["varchar"], rows=[('say "hi", then\nleave',)])
    assert format_result(quoted, "csv") == '"q"\n"say ""hi"", then\nleave"'
