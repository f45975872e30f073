"""Property tests of the SQL guard: every write, escape and file read is refused, whatever its
spelling, and nothing but the guard's own error ever comes out (issue 14)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from petrostream.query.athena_sql import to_duckdb
from petrostream.query.base import QueryError, QueryRefused
from petrostream.query.sqlguard import prepare

TABLES = {"sensors", "alerts", "rejects"}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WRITES = (
    "CREATE TABLE t AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "DROP TABLE sensors",
    "ALTER TABLE sensors ADD COLUMNS (x int)",
    "INSERT INTO sensors VALUES (1)",
    "UPDATE sensors SET p_pdg = 0",
    "DELETE FROM sensors",
    "MERGE INTO sensors USING alerts ON true WHEN MATCHED THEN DELETE",
    "TRUNCATE TABLE sensors",
    "COPY sensors TO 'out.csv'",
    "COPY (SELECT 1) TO '/tmp/x.parquet' (FORMAT parquet)",
    "ATTACH 'other.db' AS o",
    "DETACH o",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA enable_profiling",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "CALL pragma_version()",
    "EXPORT DATABASE '/tmp/dump'",
    "IMPORT DATABASE '/tmp/dump'",
    "UNLOAD (SELECT 1) TO 's3://b/x' WITH (format = 'PARQUET')",
    "CHECKPOINT",
    "VACUUM",
    "BEGIN TRANSACTION",
    "USE other",
    "MSCK REPAIR TABLE sensors",
    "SELECT * INTO t FROM sensors",
)

FILE_FUNCTIONS = (
    "read_csv",
    "read_csv_auto",
    "read_parquet",
    "read_json",
    "read_json_auto",
    "read_text",
    "read_blob",
    "read_ndjson",
    "parquet_scan",
    "parquet_metadata",
    "parquet_schema",
    "glob",
    "getenv",
    "query",
    "query_table",
    "sniff_csv",
    "sqlite_scan",
    "iceberg_scan",
    "delta_scan",
    "json_execute_serialized_sql",
    "arrow_scan",
    "duckdb_settings",
    "duckdb_secrets",
)

PATHS = st.sampled_from(["/etc/passwd", "../../etc/shadow", "~/.aws/credentials", "s3://b/k", "*"])


def spelled(word: str) -> st.SearchStrategy[str]:
    """``word`` in random case, sometimes double-quoted (an identifier)."""
    cased = st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda flips: "".join(
            c.upper() if f else c.lower() for c, f in zip(word, flips, strict=True)
        )
    )
    return st.one_of(cased, cased.map(lambda w: f'"{w.lower()}"'))


SPACE = st.sampled_from([" ", "  ", "\n", "\t", " /* c */ ", " -- c\n", "\r\n"])
LEAD = st.sampled_from(
    ["", " ", "\n\n", "/* x */ ", "-- note\n", ";", "; ", "SELECT 1;", "SELECT 1; "]
)


def _refused_only(sql: str) -> None:
    """The guard refuses ``sql``: QueryRefused, and never a Prepared statement."""
    with pytest.raises(QueryRefused):
        prepare(sql, tables=TABLES, translate=to_duckdb)


def _never_runs(sql: str) -> None:
    """``sql`` is refused or rejected as SQL; nothing but QueryError is raised."""
    with pytest.raises(QueryError):
        prepare(sql, tables=TABLES, translate=to_duckdb)


@FAST
@given(lead=LEAD, write=st.sampled_from(WRITES), data=st.data())
def test_every_write_is_refused_however_it_is_written(lead, write, data) -> None:
    keyword, _, rest = write.partition(" ")
    word = data.draw(st.sampled_from([keyword, keyword.lower(), keyword.title()]))
    space = data.draw(SPACE)
    sql = f"{lead}{word}{space}{rest}"
    if write.startswith("SELECT * INTO"):
        _never_runs(sql)
    else:
        _refused_only(sql)


@FAST
@given(
    fn=st.sampled_from(FILE_FUNCTIONS).flatmap(spelled),
    path=PATHS,
    where=st.sampled_from(
        [
            "SELECT * FROM {f}('{p}')",
            "SELECT {f}('{p}')",
            "SELECT count(*) FROM sensors WHERE well_id IN (SELECT {f}('{p}'))",
            "WITH x AS (SELECT * FROM {f}('{p}')) SELECT * FROM x",
            "SELECT transform(ARRAY[1], x -> {f}('{p}'))",
            "SELECT * FROM sensors, LATERAL (SELECT * FROM main.{f}('{p}'))",
            "SELECT * FROM sensors JOIN {f}('{p}') AS t ON true",
            "SELECT coalesce(NULL, {f}('{p}'))",
            "SELECT 1 UNION ALL SELECT * FROM {f}('{p}')",
        ]
    ),
)
def test_every_file_or_environment_read_is_refused_wherever_it_hides(fn, path, where) -> None:
    _never_runs(where.format(f=fn, p=path))


@FAST
@given(path=PATHS, quote=st.sampled_from(["'{p}'", '"{p}"']))
def test_a_path_in_place_of_a_table_is_an_unknown_table(path, quote) -> None:
    sql = f"SELECT * FROM {quote.format(p=path)}"
    with pytest.raises(QueryError, match="unknown table|SQL syntax error|refused"):
        prepare(sql, tables=TABLES, translate=to_duckdb)


FRAGMENTS = st.sampled_from(
    [
        "SELECT",
        "FROM",
        "WHERE",
        "sensors",
        "alerts",
        "(",
        ")",
        ",",
        "'",
        '"',
        "*",
        "1",
        "x",
        "->",
        "[",
        "]",
        "ARRAY",
        "MAP",
        "UNNEST",
        "AS",
        "t(a, b)",
        "CAST",
        "varchar",
        ";",
        "--",
        "/*",
        "*/",
        "JOIN",
        "ON",
        "WITH",
        "read_csv",
        "format_datetime",
        "'yyyy'",
        "?",
        ":p",
        "INTERVAL '1' DAY",
        "date '2024-01-01'",
        "+",
        "/",
        "||",
        "CASE",
        "WHEN",
        "THEN",
        "END",
        "reduce",
        "(s, x) -> s",
        "json_extract",
        "'$.a'",
        "\x00",
        "é",
        "\\",
        "$1",
        "NULL",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FRAGMENTS, max_size=30).map(" ".join) | st.text(max_size=200))
def test_any_input_gives_a_statement_or_the_guards_error_and_nothing_else(sql) -> None:
    try:
        prepared = prepare(sql, tables=TABLES, params={"p": "1"}, translate=to_duckdb)
    except QueryError as exc:
        assert str(exc)  # a message for the user, never empty
        return
    assert prepared.sql  # a statement the engine may run, checked again after translation
