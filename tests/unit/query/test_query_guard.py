"""The SQL gate: read-only statements only, clear refusals, errors in the user's text."""

from __future__ import annotations

import pytest

from petrostream.query.base import QueryError, QueryRefused
from petrostream.query.sqlguard import locate_error, prepare

TABLES = {"sensors", "alerts", "rejects"}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE TABLE t AS SELECT 1", "CREATE statements are not allowed (DDL"),
        ("DROP TABLE sensors", "DROP statements are not allowed (DDL"),
        ("ALTER TABLE sensors ADD COLUMNS (x int)", "ALTER statements are not allowed"),
        ("INSERT INTO sensors VALUES (1)", "INSERT statements are not allowed (DML"),
        ("UPDATE sensors SET p_pdg = 0", "UPDATE statements are not allowed (DML"),
        ("DELETE FROM sensors", "DELETE statements are not allowed (DML"),
        ("COPY sensors TO 'out.csv'", "COPY statements are not allowed (COPY reads or writes"),
        ("ATTACH 'other.db'", "ATTACH statements are not allowed (ATTACH opens"),
        ("INSTALL httpfs", "INSTALL statements are not allowed (INSTALL downloads"),
        ("LOAD httpfs", "LOAD statements are not allowed (LOAD loads"),
        ("PRAGMA version", "PRAGMA statements are not allowed"),
        ("SET TimeZone = 'Europe/Paris'", "SET statements are not allowed (settings are fixed"),
        ("RESET TimeZone", "RESET statements are not allowed"),
        ("CALL pragma_version()", "CALL statements are not allowed"),
        ("EXPORT DATABASE 'dump'", "EXPORT statements are not allowed (EXPORT writes"),
        ("IMPORT DATABASE 'dump'", "IMPORT statements are not allowed (IMPORT reads"),
        ("UNLOAD (SELECT 1) TO 's3://b/x' WITH (format='PARQUET')", "UNLOAD statements"),
        ("SELECT * FROM read_csv('/etc/passwd')", "function read_csv() reads files"),
        ("SELECT * FROM read_parquet('x/*.parquet')", "function read_parquet() reads files"),
        ("SELECT * FROM read_json_auto('x.json')", "function read_json_auto() reads files"),
        ("SELECT * FROM glob('*')", "function glob() reads files"),
        ("SELECT read_text('/etc/passwd')", "function read_text() reads files"),
        ("SELECT getenv('HOME')", "function getenv() reads files or the environment"),
        ("SELECT * FROM query('SELECT 1')", "function query() reads files"),
        ("SELECT * FROM TABLE(sequence(1, 3))", "table function table() in FROM"),
        ("SELECT 1; DROP TABLE sensors", "DROP statements are not allowed"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("SELECT * INTO t FROM sensors", "SELECT INTO statements are not allowed"),
    ],
)
def test_non_query_statements_are_refused_with_a_clear_message(sql, message):
    with pytest.raises(QueryRefused) as info:
        prepare(sql, tables=TABLES)
    assert message in str(info.value)
    assert str(info.value).startswith("refused: ")


def test_refused_function_is_pointed_at_in_the_users_text():
    with pytest.raises(QueryRefused) as info:
        prepare("SELECT *\nFROM read_csv('/etc/passwd')", tables=TABLES)
    assert "at line 2, column 6:\n  FROM read_csv('/etc/passwd')\n       ^^^^^^^^" in str(
        info.value
    )


def test_queries_are_transpiled_and_qualified_for_duckdb():
    prepared = prepare(
        "SELECT well_id, max_by(p_pdg, ts) AS last_p FROM sensors "
        "WHERE ts > current_timestamp - INTERVAL '1' HOUR GROUP BY 1",
        tables=TABLES,
    )
    assert "ARG_MAX(p_pdg, ts)" in prepared.sql
    assert "FROM petrostream_db.sensors" in prepared.sql


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT count(*) FROM "petrostream_db"."sensors"',
        "SELECT count(*) FROM awsdatacatalog.petrostream_db.sensors",
        "WITH recent AS (SELECT * FROM sensors) SELECT count(*) FROM recent",
        "SELECT x FROM UNNEST(ARRAY[1, 2]) AS t(x)",
        "VALUES (1, 'a')",
        "SELECT 1 UNION ALL SELECT 2",
        "(SELECT 1)",
    ],
)
def test_read_only_queries_pass(sql):
    assert prepare(sql, tables=TABLES).sql


def test_unknown_table_lists_the_catalog_and_points_at_it():
    with pytest.raises(QueryError) as info:
        prepare("SELECT *\nFROM sensorz", tables=TABLES)
    text = str(info.value)
    assert "unknown table sensorz: petrostream_db has alerts, rejects, sensors" in text
    assert "at line 2, column 6:\n  FROM sensorz\n       ^^^^^^^" in text


def test_a_file_path_as_table_is_an_unknown_table():
    with pytest.raises(QueryError, match="unknown table /etc/hostname"):
        prepare("SELECT * FROM '/etc/hostname'", tables=TABLES)


def test_syntax_error_points_at_line_and_column_of_the_users_sql():
    with pytest.raises(QueryError) as info:
        prepare("SELECT p_pdg,\n  avg(p_tpt\nFROM sensors", tables=TABLES)
    text = str(info.value)
    assert text.startswith("SQL syntax error:")
    assert "at line 3" in text
    assert "FROM sensors" in text and "^" in text


def test_placeholders_become_literals_numbers_stay_numbers():
    prepared = prepare(
        "SELECT * FROM sensors WHERE well_id = :well AND p_pdg > :floor",
        tables=TABLES,
        params={"well": "WELL-00001", "floor": "1e6"},
    )
    assert "well_id = 'WELL-00001'" in prepared.sql
    assert "p_pdg > 1e6" in prepared.sql


def test_string_params_cannot_inject_sql():
    prepared = prepare(
        "SELECT * FROM sensors WHERE well_id = :well",
        tables=TABLES,
        params={"well": "x'; DROP TABLE sensors; --"},
    )
    assert "well_id = 'x''; DROP TABLE sensors; --'" in prepared.sql


def test_missing_param_says_how_to_pass_it():
    with pytest.raises(QueryError, match="pass --param well=VALUE"):
        prepare("SELECT * FROM sensors WHERE well_id = :well", tables=TABLES)


def test_athena_output_keeps_trino_functions():
    prepared = prepare("SELECT max_by(p_pdg, ts) FROM sensors", tables=TABLES, dialect="athena")
    assert "MAX_BY(p_pdg, ts)" in prepared.sql


def test_engine_errors_are_located_in_the_users_sql_not_the_transpiled_one():
    user = "SELECT well_id,\n       max_by(p_pgd, ts)\nFROM sensors\nGROUP BY 1"
    duck_message = (
        'Binder Error: Referenced column "p_pgd" not found in FROM clause!\n'
        'Candidate bindings: "p_pdg"\n\nLINE 1: SELECT well_id, ARG_MAX(p_pgd, ts) FROM ...\n'
        "                                ^"
    )
    text = locate_error(user, duck_message)
    assert text.startswith('SQL error: Referenced column "p_pgd" not found')
    assert 'Candidate bindings: "p_pdg"' in text
    assert "at line 2, column 15:\n         max_by(p_pgd, ts)\n                ^^^^^" in text
    assert "ARG_MAX" not in text


def test_the_translated_sql_is_checked_again():
    # a translation that would call a file-reading function is refused
    def bad_translation(ast):
        return "SELECT * FROM read_csv('/etc/passwd')"

    with pytest.raises(QueryRefused, match="read_csv"):
        prepare("SELECT 1", tables=TABLES, translate=bad_translation)


def test_a_translation_bug_is_a_sentence_not_a_traceback():
    def broken(ast):
        raise AttributeError("'bool' object has no attribute 'name'")

    with pytest.raises(QueryError, match="could not translate this SQL .*--engine athena"):
        prepare("SELECT 1", tables=TABLES, translate=broken)
