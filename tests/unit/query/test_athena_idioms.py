# ruff: noqa: E501 - the idioms are quoted whole, one per line
"""Athena (Trino) idioms on the local engine, each with the answer Athena documents.

The expected values are the text Athena prints (`petrostream.query.output.athena_text`),
taken from the Trino documentation Athena engine 3 follows
(https://trino.io/docs/current/functions/*.html: datetime, string, regexp, array, map,
lambda, json, aggregate, window, conversion, math) and the Athena user guide
(https://docs.aws.amazon.com/athena/latest/ug/: querying arrays, maps, JSON, UNNEST).
Where a document shows no answer, the expected value is Trino's by its definition.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from petrostream.catalog.base import Catalog
from petrostream.query.base import QueryError
from petrostream.query.duckdb_engine import DuckDBEngine
from petrostream.query.output import athena_text, format_result
from petrostream.testing.lakefiles import sensor_rows, write_lake_file


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    """The local engine over an empty lake: the idioms read only literals."""
    lake: Path = tmp_path_factory.mktemp("lake")
    engine = DuckDBEngine(Catalog(lake_uri=str(lake)), threads=1)
    yield engine
    engine.close()


def answer(engine: DuckDBEngine, sql: str) -> list:
    """One row as a list of Athena texts; several rows as a list of such lists."""
    result = engine.execute(sql)
    rows = [
        [athena_text(v, t) for v, t in zip(row, result.types, strict=True)] for row in result.rows
    ]
    return rows[0] if len(rows) == 1 else rows


# ---------------------------------------------------------------- date and time: Joda and MySQL formats, intervals, zones

DATETIME_IDIOMS = [
    (
        "SELECT format_datetime(TIMESTAMP '2026-12-06 10:30:05.123', 'yyyy-MM-dd HH:mm:ss.SSS')",
        ["2026-12-06 10:30:05.123"],
    ),
    (
        "SELECT format_datetime(TIMESTAMP '2026-12-06 10:30:05', 'EEE, dd MMM yyyy hh:mm a Z')",
        ["Sun, 06 Dec 2026 10:30 AM +0000"],
    ),
    ("SELECT format_datetime(DATE '2026-12-06', 'yyyy''w''ww')", ["2026w49"]),
    ("SELECT parse_datetime('2026-12-06 10:30', 'yyyy-MM-dd HH:mm')", ["2026-12-06 10:30:00.000"]),
    ("SELECT date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H')", ["10-20-2022 05"]),
    ("SELECT date_parse('2022/10/20/05', '%Y/%m/%d/%H')", ["2022-10-20 05:00:00.000"]),
    (
        "SELECT date_format(TIMESTAMP '2026-12-06 10:30:05', '%W %M %e %c %T %p %h %j %a %b %i %s')",
        ["Sunday December 6 12 10:30:05 AM 10 340 Sun Dec 30 05"],
    ),
    (
        "SELECT to_iso8601(TIMESTAMP '2026-12-06 10:30:00'), to_iso8601(DATE '2026-12-06')",
        ["2026-12-06T10:30:00.000", "2026-12-06"],
    ),
    ("SELECT from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00')", ["2020-05-11 10:15:05.055"]),
    ("SELECT from_iso8601_date('2020-05-11')", ["2020-05-11"]),
    (
        "SELECT CAST(TIMESTAMP '2026-12-06 10:30:00' AS varchar), CAST(DATE '2026-12-06' AS varchar)",
        ["2026-12-06 10:30:00.000", "2026-12-06"],
    ),
    ("SELECT date '2012-08-08' + interval '2' day", ["2012-08-10"]),
    ("SELECT date '2012-08-08' - interval '2' day", ["2012-08-06"]),
    ("SELECT typeof(date '2012-08-08' + interval '2' day)", ["date"]),
    ("SELECT timestamp '2012-08-08 01:00' + interval '29' hour", ["2012-08-09 06:00:00.000"]),
    ("SELECT timestamp '2012-10-31 01:00' + interval '1' month", ["2012-11-30 01:00:00.000"]),
    ("SELECT interval '2' day + interval '3' hour", ["2 03:00:00.000"]),
    ("SELECT CAST(interval '3' year + interval '5' month AS varchar)", ["3-5"]),
    ("SELECT interval '2' day - interval '3' hour", ["1 21:00:00.000"]),
    ("SELECT date_add('second', 86, TIMESTAMP '2020-03-01 00:00:00')", ["2020-03-01 00:01:26.000"]),
    ("SELECT date_add('day', -1, DATE '2020-03-01')", ["2020-02-29"]),
    (
        "SELECT date_diff('second', TIMESTAMP '2020-03-01 00:00:00', TIMESTAMP '2020-03-02 00:00:00')",
        ["86400"],
    ),
    ("SELECT date_diff('day', DATE '2020-03-01', DATE '2020-03-02')", ["1"]),
    ("SELECT date_trunc('day' , TIMESTAMP '2022-10-20 05:10:00')", ["2022-10-20 00:00:00.000"]),
    ("SELECT date_trunc('month' , TIMESTAMP '2022-10-20 05:10:00')", ["2022-10-01 00:00:00.000"]),
    ("SELECT date_trunc('week', TIMESTAMP '2001-08-22 03:04:05.321')", ["2001-08-20 00:00:00.000"]),
    (
        "SELECT date_trunc('quarter', TIMESTAMP '2001-08-22 03:04:05.321')",
        ["2001-07-01 00:00:00.000"],
    ),
    ("SELECT extract(YEAR FROM TIMESTAMP '2022-10-20 05:10:00')", ["2022"]),
    (
        "SELECT day_of_week(DATE '2026-12-06'), day_of_year(DATE '2026-12-06'), week(DATE '2026-12-06'), year_of_week(DATE '2021-01-01')",
        ["7", "340", "49", "2020"],
    ),
    (
        "SELECT millisecond(TIMESTAMP '2026-12-06 10:30:05.123'), second(TIMESTAMP '2026-12-06 10:30:05.123')",
        ["123", "5"],
    ),
    ("SELECT last_day_of_month(DATE '2024-02-06')", ["2024-02-29"]),
    (
        "SELECT timestamp '2012-10-31 01:00 UTC' AT TIME ZONE 'America/Los_Angeles'",
        ["2012-10-30 18:00:00.000"],
    ),
    ("SELECT hour(TIMESTAMP '2026-12-06 10:30:00' AT TIME ZONE 'America/Sao_Paulo')", ["7"]),
    ("SELECT from_unixtime(1593648000)", ["2020-07-02 00:00:00.000"]),
    ("SELECT to_unixtime(TIMESTAMP '2020-07-02 00:00:00')", ["1.593648E9"]),
    (
        "SELECT human_readable_seconds(96), human_readable_seconds(3762), human_readable_seconds(56363463)",
        [
            "1 minute, 36 seconds",
            "1 hour, 2 minutes, 42 seconds",
            "93 weeks, 1 day, 8 hours, 31 minutes, 3 seconds",
        ],
    ),
    (
        "SELECT parse_duration('42.8ms'), parse_duration('3.81 d'), parse_duration('5m')",
        ["0 00:00:00.043", "3 19:26:24.000", "0 00:05:00.000"],
    ),
    ("SELECT to_milliseconds(interval '1' day)", ["86400000"]),
    ("SELECT current_timezone()", ["UTC"]),
    (
        "SELECT at_timezone(TIMESTAMP '2022-11-01 09:08:07.321', 'America/Los_Angeles')",
        ["2022-11-01 02:08:07.321"],
    ),
    ("SELECT CAST('2026-12-06 10:30:00' AS timestamp)", ["2026-12-06 10:30:00.000"]),
    ("SELECT date(TIMESTAMP '2026-12-06 10:30:00')", ["2026-12-06"]),
    (
        "SELECT sequence(DATE '2026-12-01', DATE '2026-12-03')",
        ["[2026-12-01, 2026-12-02, 2026-12-03]"],
    ),
]


@pytest.mark.parametrize(("sql", "athena"), DATETIME_IDIOMS)
def test_datetime_idioms(engine, sql, athena):
    assert answer(engine, sql) == athena


# ---------------------------------------------------------------- strings, regular expressions, URLs, binary

STRING_IDIOMS = [
    ("SELECT regexp_extract('1a 2b 14m', '\\d+')", ["1"]),
    ("SELECT regexp_extract('1a 2b 14m', '(\\d+)([a-z]+)', 2)", ["a"]),
    ("SELECT regexp_extract('abc', '\\d+')", [None]),
    ("SELECT regexp_extract_all('1a 2b 14m', '\\d+')", ["[1, 2, 14]"]),
    ("SELECT regexp_like('1a 2b 14m', '\\d+b')", ["true"]),
    ("SELECT regexp_replace('1a 2b 14m', '\\d+[ab] ')", ["14m"]),
    ("SELECT regexp_replace('1a 2b 14m', '(\\d+)([ab]) ', '3c$2 ')", ["3ca 3cb 14m"]),
    ("SELECT regexp_count('1a 2b 14m', '\\s*[a-z]+\\s*')", ["3"]),
    ("SELECT regexp_position('I have 23 apples, 5 pears and 13 oranges', '\\b\\d+\\b')", ["8"]),
    (
        "SELECT regexp_position('I have 23 apples, 5 pears and 13 oranges', '\\b\\d+\\b', 12)",
        ["19"],
    ),
    ("SELECT regexp_split('1a 2b 14m', '\\s*[a-z]+\\s*')", ["[1, 2, 14, ]"]),
    (
        "SELECT split('a.b.c', '.'), split('a.b.c', '.', 2), split_part('a.b.c', '.', 2)",
        ["[a, b, c]", "[a, b.c]", "b"],
    ),
    (
        "SELECT strpos('abcabc', 'b'), strpos('abcabc', 'b', 2), strpos('abcabc', 'b', -1), position('c' IN 'abc')",
        ["2", "5", "5", "3"],
    ),
    (
        "SELECT substr('hello', 2, 3), substr('hello', -3), length('héllo'), lpad('7', 3, '0'), rpad('ab', 4, '-')",
        ["ell", "llo", "5", "007", "ab--"],
    ),
    (
        "SELECT concat('a', 'b', 'c'), 'a' || 'b', reverse('abc'), upper('a'), lower('A'), trim('  x  ')",
        ["abc", "ab", "cba", "A", "a", "x"],
    ),
    (
        "SELECT replace('banana', 'a', 'o'), replace('banana', 'a'), starts_with('banana', 'ban')",
        ["bonono", "bnn", "true"],
    ),
    (
        "SELECT levenshtein_distance('kitten', 'sitting'), hamming_distance('abc', 'abd')",
        ["3", "1"],
    ),
    ("SELECT chr(65), codepoint('A'), concat_ws(',', 'a', NULL, 'b')", ["A", "65", "a,b"]),
    (
        "SELECT format('%s%%', 123), format('%.5f', pi()), format('%03d', 8), format('%-7s,%7s', 'hello', 'world')",
        ["123%", "3.14159", "008", "hello  ,  world"],
    ),
    ("SELECT split_to_map('a=1,b=2', ',', '=')", ["{a=1, b=2}"]),
    (
        "SELECT url_extract_host('http://example.com:80/a/b?q=1&r=x#f'), url_extract_port('http://example.com:80/a/b?q=1&r=x#f'), url_extract_path('http://example.com:80/a/b?q=1&r=x#f'), url_extract_query('http://example.com:80/a/b?q=1&r=x#f'), url_extract_fragment('http://example.com:80/a/b?q=1&r=x#f'), url_extract_protocol('http://example.com:80/a/b?q=1&r=x#f'), url_extract_parameter('http://example.com:80/a/b?q=1&r=x#f', 'r')",
        ["example.com", "80", "/a/b", "q=1&r=x", "f", "http", "x"],
    ),
    ("SELECT url_encode('a b&c'), url_decode('a%20b')", ["a%20b%26c", "a b"]),
    (
        "SELECT to_hex(to_utf8('ab')), from_utf8(from_hex('6162')), to_base64(to_utf8('ab')), md5(to_utf8('a'))",
        ["6162", "ab", "YWI=", "0c c1 75 b9 c0 f1 b6 a8 31 c3 99 e2 69 77 26 61"],
    ),
    ("SELECT normalize('é'), translate('abc', 'ab', 'xy')", ["é", "xyc"]),
]


@pytest.mark.parametrize(("sql", "athena"), STRING_IDIOMS)
def test_string_idioms(engine, sql, athena):
    assert answer(engine, sql) == athena


# ---------------------------------------------------------------- arrays, maps and lambdas

ARRAY_MAP_LAMBDA_IDIOMS = [
    (
        "SELECT array_sort(shuffle(ARRAY[3, 1, 2])), cardinality(shuffle(ARRAY[1, 2]))",
        ["[1, 2, 3]", "2"],
    ),
    (
        "SELECT ARRAY[1, 2, 3], cardinality(ARRAY[1, 2, 3]), element_at(ARRAY[1, 2, 3], -1), element_at(ARRAY[1, 2, 3], 5), contains(ARRAY[1, 2], 2), ARRAY[1, 2, 3][2]",
        ["[1, 2, 3]", "3", "3", None, "true", "2"],
    ),
    (
        "SELECT ARRAY[1] || ARRAY[2], ARRAY[1] || 2, 2 || ARRAY[1], concat(ARRAY[1], ARRAY[2, 3])",
        ["[1, 2]", "[1, 2]", "[2, 1]", "[1, 2, 3]"],
    ),
    (
        "SELECT array_join(ARRAY['a', NULL, 'c'], ',', 'x'), array_join(ARRAY['a', 'b'], '-')",
        ["a,x,c", "a-b"],
    ),
    (
        "SELECT array_distinct(ARRAY[3, 1, 3, 2, 1]), array_max(ARRAY[1, 5, 2]), array_min(ARRAY[3, 1])",
        ["[3, 1, 2]", "5", "1"],
    ),
    (
        "SELECT array_position(ARRAY[5, 6, 7], 7), array_position(ARRAY[5, 6], 9), array_remove(ARRAY[1, 2, 1], 1)",
        ["3", "0", "[2]"],
    ),
    (
        "SELECT array_sort(ARRAY[3, NULL, 1]), flatten(ARRAY[ARRAY[1], ARRAY[2, 3]]), reverse(ARRAY[1, 2, 3])",
        ["[1, 3, null]", "[1, 2, 3]", "[3, 2, 1]"],
    ),
    (
        "SELECT array_intersect(ARRAY[1, 2, 3], ARRAY[2, 3, 4]), array_union(ARRAY[1, 2], ARRAY[2, 3]), array_except(ARRAY[1, 2, 3], ARRAY[2])",
        ["[2, 3]", "[1, 2, 3]", "[1, 3]"],
    ),
    (
        "SELECT arrays_overlap(ARRAY[1, 2], ARRAY[2, 9]), arrays_overlap(ARRAY[1], ARRAY[2])",
        ["true", "false"],
    ),
    (
        "SELECT sequence(1, 5), sequence(5, 1), sequence(1, 10, 3)",
        ["[1, 2, 3, 4, 5]", "[5, 4, 3, 2, 1]", "[1, 4, 7, 10]"],
    ),
    (
        "SELECT slice(ARRAY[1, 2, 3, 4], 2, 2), slice(ARRAY[1, 2, 3, 4], -2, 2), trim_array(ARRAY[1, 2, 3, 4], 1)",
        ["[2, 3]", "[3, 4]", "[1, 2, 3]"],
    ),
    ("SELECT repeat('ab', 2), repeat(7, 3)", ["[ab, ab]", "[7, 7, 7]"]),
    (
        "SELECT ngrams(ARRAY['foo', 'bar', 'baz', 'foo'], 2), ngrams(ARRAY[1, 2, 3, 4], 5)",
        ["[[foo, bar], [bar, baz], [baz, foo]]", "[[1, 2, 3, 4]]"],
    ),
    (
        "SELECT contains_sequence(ARRAY[1, 2, 3], ARRAY[2, 3]), array_histogram(ARRAY[42, 7, 42, NULL])",
        ["true", "{7=1, 42=2}"],
    ),
    (
        "SELECT transform(ARRAY[5, 6], x -> x + 1), transform(ARRAY[5, NULL, 6], x -> coalesce(x, 0) + 1)",
        ["[6, 7]", "[6, 1, 7]"],
    ),
    ("SELECT transform(ARRAY['x', 'abc', 'z'], x -> x || '0')", ["[x0, abc0, z0]"]),
    (
        "SELECT filter(ARRAY[5, -6, NULL, 7], x -> x > 0), filter(ARRAY[5, NULL, 7, NULL], x -> x IS NOT NULL)",
        ["[5, 7]", "[5, 7]"],
    ),
    ("SELECT reduce(ARRAY[5, 20, 50], 0, (s, x) -> s + x, s -> s)", ["75"]),
    ("SELECT reduce(ARRAY[5, 20, NULL, 50], 0, (s, x) -> s + x, s -> s)", [None]),
    ("SELECT reduce(ARRAY[5, 20, NULL, 50], 0, (s, x) -> s + coalesce(x, 0), s -> s)", ["75"]),
    ("SELECT reduce(ARRAY[2147483647, 1], BIGINT '0', (s, x) -> s + x, s -> s)", ["2147483648"]),
    ("SELECT reduce(ARRAY[5, 20, 50], 0, (s, x) -> s + x, s -> s * 10)", ["750"]),
    (
        "SELECT any_match(ARRAY[1, 2], x -> x > 1), all_match(ARRAY[1, 2], x -> x > 1), none_match(ARRAY[1, 2], x -> x > 5)",
        ["true", "false", "true"],
    ),
    ("SELECT zip_with(ARRAY[1, 2], ARRAY[3, 4], (x, y) -> x + y)", ["[4, 6]"]),
    (
        "SELECT zip_with(ARRAY['a', 'b', 'c'], ARRAY['d', 'e', 'f'], (x, y) -> concat(x, y))",
        ["[ad, be, cf]"],
    ),
    (
        "SELECT zip_with(ARRAY['a'], ARRAY['d', null, 'f'], (x, y) -> coalesce(x, y))",
        ["[a, null, f]"],
    ),
    (
        "SELECT map(ARRAY[1, 3], ARRAY[2, 4]), map_from_entries(ARRAY[(1, 'x'), (2, 'y')])",
        ["{1=2, 3=4}", "{1=x, 2=y}"],
    ),
    (
        "SELECT element_at(map(ARRAY['a'], ARRAY[1]), 'a'), map(ARRAY['a'], ARRAY[1])['a'], cardinality(map(ARRAY['a'], ARRAY[1]))",
        ["1", "1", "1"],
    ),
    (
        "SELECT map_keys(map(ARRAY['a', 'b'], ARRAY[1, 2])), map_values(map(ARRAY['a', 'b'], ARRAY[1, 2]))",
        ["[a, b]", "[1, 2]"],
    ),
    (
        "SELECT map_concat(map(ARRAY['a'], ARRAY[1]), map(ARRAY['a', 'b'], ARRAY[2, 3]))",
        ["{a=2, b=3}"],
    ),
    (
        "SELECT map_filter(MAP(ARRAY[10, 20, 30], ARRAY['a', NULL, 'c']), (k, v) -> v IS NOT NULL)",
        ["{10=a, 30=c}"],
    ),
    (
        "SELECT map_filter(MAP(ARRAY['k1', 'k2', 'k3'], ARRAY[20, 3, 15]), (k, v) -> v > 10)",
        ["{k1=20, k3=15}"],
    ),
    (
        "SELECT transform_keys(MAP(ARRAY [1, 2, 3], ARRAY ['a', 'b', 'c']), (k, v) -> k + 1)",
        ["{2=a, 3=b, 4=c}"],
    ),
    (
        "SELECT transform_keys(MAP(ARRAY ['a', 'b'], ARRAY [1, 2]), (k, v) -> k || CAST(v as VARCHAR))",
        ["{a1=1, b2=2}"],
    ),
    (
        "SELECT transform_values(MAP(ARRAY [1, 2, 3], ARRAY [10, 20, 30]), (k, v) -> v + k)",
        ["{1=11, 2=22, 3=33}"],
    ),
    (
        "SELECT transform_values(MAP(ARRAY ['a', 'b'], ARRAY [1, 2]), (k, v) -> k || CAST(v as VARCHAR))",
        ["{a=a1, b=b2}"],
    ),
    (
        "SELECT map_zip_with(MAP(ARRAY[1, 2, 3], ARRAY['a', 'b', 'c']), MAP(ARRAY[1, 2, 3], ARRAY['d', 'e', 'f']), (k, v1, v2) -> concat(v1, v2))",
        ["{1=ad, 2=be, 3=cf}"],
    ),
    (
        "SELECT map_zip_with(MAP(ARRAY['a', 'b', 'c'], ARRAY[1, 8, 27]), MAP(ARRAY['a', 'b', 'c'], ARRAY[1, 2, 3]), (k, v1, v2) -> k || CAST(v1 / v2 AS VARCHAR))",
        ["{a=a1, b=b4, c=c9}"],
    ),
    ("SELECT map_agg(k, v) FROM (VALUES ('a', 1), ('b', 2)) AS t(k, v)", ["{a=1, b=2}"]),
    (
        "SELECT multimap_agg(k, v) FROM (VALUES ('a', 1), ('b', 2), ('a', 3)) AS t(k, v)",
        ["{a=[1, 3], b=[2]}"],
    ),
    ("SELECT histogram(x) FROM (VALUES 'a', 'b', 'a') AS t(x)", ["{a=2, b=1}"]),
]


@pytest.mark.parametrize(("sql", "athena"), ARRAY_MAP_LAMBDA_IDIOMS)
def test_array_map_lambda_idioms(engine, sql, athena):
    assert answer(engine, sql) == athena


# ---------------------------------------------------------------- JSON

JSON_IDIOMS = [
    (
        "SELECT json_extract('{\"a\": {\"b\": [1, 2]}}', '$.a.b'), json_extract_scalar('{\"a\": {\"b\": \"x\"}}', '$.a.b'), json_extract_scalar('[1, 2, 3]', '$[2]')",
        ["[1,2]", "x", "3"],
    ),
    ("SELECT json_extract_scalar('{\"a\": {\"b\": 1}}', '$.a')", [None]),
    (
        "SELECT json_format(json_parse('{\"a\": 1, \"b\": 2}')), json_parse('[1, 2, 3]'), json_format(JSON '\"a\"')",
        ['{"a":1,"b":2}', "[1,2,3]", '"a"'],
    ),
    (
        "SELECT json_array_length('[1, 2, 3]'), json_array_contains('[1, 2, 3]', 2), json_size('{\"x\": {\"a\": 1, \"b\": 2}}', '$.x'), json_size('{\"x\": [1, 2, 3]}', '$.x'), json_size('{\"x\": {\"a\": 1, \"b\": 2}}', '$.x.a')",
        ["3", "true", "2", "3", "0"],
    ),
    (
        "SELECT is_json_scalar('1'), is_json_scalar('[1, 2, 3]'), json_array_get('[\"a\", [3, 9], \"c\"]', 1), json_array_get('[\"c\", [3, 9], \"a\"]', -2), json_array_get('[]', 0)",
        ["true", "false", "[3,9]", "[3,9]", None],
    ),
    (
        "SELECT CAST(1 AS JSON), CAST('abc' AS JSON), CAST(true AS JSON), CAST(ARRAY[1, NULL, 456] AS JSON), CAST(MAP(ARRAY['k1', 'k2', 'k3'], ARRAY[1, 23, 456]) AS JSON)",
        ["1", '"abc"', "true", "[1,null,456]", '{"k1":1,"k2":23,"k3":456}'],
    ),
    (
        "SELECT CAST(JSON '[1,23,456]' AS ARRAY(INTEGER)), CAST(JSON '\"abc\"' AS VARCHAR), CAST(JSON '42' AS VARCHAR), CAST(JSON 'null' AS VARCHAR)",
        ["[1, 23, 456]", "abc", "42", None],
    ),
    (
        'SELECT CAST(JSON \'{"k1":1,"k2":23,"k3":456}\' AS MAP(VARCHAR, INTEGER))',
        ["{k1=1, k2=23, k3=456}"],
    ),
    (
        "SELECT json_query('{\"a\": [1, 2]}', 'lax $.a'), json_value('{\"a\": 5}', 'lax $.a'), json_exists('{\"a\": 5}', 'lax $.a'), json_exists('{\"a\": 5}', 'lax $.b')",
        ["[1,2]", "5", "true", "false"],
    ),
]


@pytest.mark.parametrize(("sql", "athena"), JSON_IDIOMS)
def test_json_idioms(engine, sql, athena):
    assert answer(engine, sql) == athena


# ---------------------------------------------------------------- approximate, conditional and statistical aggregates

AGGREGATE_IDIOMS = [
    (
        "SELECT approx_distinct(x), approx_percentile(x, 0.5), count_if(x > 2), bool_and(x > 0), bool_or(x > 4), every(x > 1) FROM (VALUES 1, 2, 3, 4, 5) AS t(x)",
        ["5", "3", "3", "true", "true", "false"],
    ),
    ("SELECT approx_percentile(x, ARRAY[0.5]) FROM (VALUES 1, 2, 3, 4, 5) AS t(x)", ["[3]"]),
    (
        "SELECT max_by(x, y), min_by(x, y), arbitrary(x) IS NOT NULL, geometric_mean(y) > 0 FROM (VALUES (1, 2.0), (2, 4.0), (3, 7.0)) AS t(x, y)",
        ["3", "1", "true", "true"],
    ),
    (
        "SELECT sum(x) FILTER (WHERE x > 1), array_agg(x ORDER BY x DESC), max(x, 2), min_by(x, x, 2) FROM (VALUES 1, 2, 3, 4, 5) AS t(x)",
        ["14", "[5, 4, 3, 2, 1]", "[5, 4]", "[1, 2]"],
    ),
    (
        "SELECT listagg(value, ',') WITHIN GROUP (ORDER BY value) csv_value FROM (VALUES 'a', 'c', 'b') t(value)",
        ["a,b,c"],
    ),
    (
        "SELECT id, LISTAGG(value, ',') WITHIN GROUP (ORDER BY o) csv_value FROM (VALUES (100, 1, 'a'), (200, 3, 'c'), (200, 2, 'b')) t(id, o, value) GROUP BY id ORDER BY id",
        [["100", "a"], ["200", "b,c"]],
    ),
    (
        "SELECT stddev(x), stddev_pop(x), variance(x), var_pop(x) FROM (VALUES 1, 2, 3, 4, 5) AS t(x)",
        ["1.5811388300841898", "1.4142135623730951", "2.5", "2.0"],
    ),
    (
        "SELECT corr(x, y), covar_samp(x, y), regr_slope(y, x), regr_intercept(y, x) FROM (VALUES (1, 2), (2, 4), (3, 6)) AS t(x, y)",
        ["1.0", "2.0", "2.0", "0.0"],
    ),
    (
        "SELECT approx_most_frequent(2, x, 10) FROM (VALUES 'a', 'b', 'a', 'c', 'c', 'c') AS t(x)",
        ["{c=3, a=2}"],
    ),
    ("SELECT bitwise_and_agg(x), bitwise_or_agg(x) FROM (VALUES 12, 10) AS t(x)", ["8", "14"]),
    (
        "SELECT avg(x), sum(x), count(*), count(DISTINCT x) FROM (VALUES 1, 2, 2) AS t(x)",
        ["1.6666666666666667", "5", "3", "2"],
    ),
    (
        "SELECT species, count(*) FILTER (where petal_length_cm > 4) AS count FROM (VALUES ('setosa', 1.4), ('virginica', 5.1), ('versicolor', 4.5), ('versicolor', 3.9)) AS iris(species, petal_length_cm) GROUP BY species ORDER BY species",
        [["setosa", "0"], ["versicolor", "1"], ["virginica", "1"]],
    ),
]


@pytest.mark.parametrize(("sql", "athena"), AGGREGATE_IDIOMS)
def test_aggregate_idioms(engine, sql, athena):
    assert answer(engine, sql) == athena


# ---------------------------------------------------------------- window functions

WINDOW_IDIOMS = [
    (
        "SELECT x, row_number() OVER (ORDER BY x), rank() OVER (ORDER BY x), dense_rank() OVER (ORDER BY x), ntile(2) OVER (ORDER BY x), percent_rank() OVER (ORDER BY x), cume_dist() OVER (ORDER BY x) FROM (VALUES 1, 2, 2, 3) AS t(x) ORDER BY 2",
        [
            ["1", "1", "1", "1", "1", "0.0", "0.25"],
            ["2", "2", "2", "2", "1", "0.3333333333333333", "0.75"],
            ["2", "3", "2", "2", "2", "0.3333333333333333", "0.75"],
            ["3", "4", "4", "3", "2", "1.0", "1.0"],
        ],
    ),
    (
        "SELECT x, lag(x) OVER (ORDER BY x), lead(x, 1, 0) OVER (ORDER BY x), first_value(x) OVER (ORDER BY x), last_value(x) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), nth_value(x, 2) OVER (ORDER BY x) FROM (VALUES 1, 2, 3) AS t(x) ORDER BY x",
        [
            ["1", None, "2", "1", "3", None],
            ["2", "1", "3", "1", "3", "2"],
            ["3", "2", "0", "1", "3", "2"],
        ],
    ),
    (
        "SELECT x, avg(x) OVER (ORDER BY x ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), sum(x) OVER (PARTITION BY x % 2 ORDER BY x) FROM (VALUES 1, 2, 3, 4) AS t(x) ORDER BY x",
        [["1", "1.0", "1"], ["2", "1.5", "2"], ["3", "2.5", "4"], ["4", "3.5", "6"]],
    ),
    (
        "SELECT count(*) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW) FROM (VALUES TIMESTAMP '2026-12-06 10:00:00', TIMESTAMP '2026-12-06 10:00:30', TIMESTAMP '2026-12-06 10:02:00') AS t(ts) ORDER BY ts",
        [["1"], ["2"], ["1"]],
    ),
    (
        "SELECT lag(x) IGNORE NULLS OVER (ORDER BY i) FROM (VALUES (1, 1), (2, NULL), (3, 3)) AS t(i, x) ORDER BY i",
        [[None], ["1"], ["1"]],
    ),
]


@pytest.mark.parametrize(("sql", "athena"), WINDOW_IDIOMS)
def test_window_idioms(engine, sql, athena):
    assert answer(engine, sql) == athena


# ---------------------------------------------------------------- UNNEST

UNNEST_IDIOMS = [
    ("SELECT x FROM UNNEST(ARRAY[1, 2, 3]) AS t(x)", [["1"], ["2"], ["3"]]),
    (
        "SELECT x, n FROM UNNEST(ARRAY['a', 'b']) WITH ORDINALITY AS t(x, n)",
        [["a", "1"], ["b", "2"]],
    ),
    (
        "SELECT k, v FROM UNNEST(MAP(ARRAY['a', 'b'], ARRAY[1, 2])) AS t(k, v) ORDER BY k",
        [["a", "1"], ["b", "2"]],
    ),
    (
        "SELECT a, b FROM UNNEST(ARRAY[1, 2], ARRAY['x', 'y', 'z']) AS t(a, b) ORDER BY b",
        [["1", "x"], ["2", "y"], [None, "z"]],
    ),
    (
        "SELECT id, x FROM (VALUES (1, ARRAY[10, 20]), (2, ARRAY[30])) AS s(id, arr) CROSS JOIN UNNEST(arr) AS t(x) ORDER BY x",
        [["1", "10"], ["1", "20"], ["2", "30"]],
    ),
    (
        "SELECT id, x FROM (VALUES (1, ARRAY[10]), (2, ARRAY[])) AS s(id, arr) LEFT JOIN UNNEST(arr) AS t(x) ON true ORDER BY id",
        [["1", "10"], ["2", None]],
    ),
    (
        "SELECT name, age FROM UNNEST(ARRAY[ROW('a', 1), ROW('b', 2)]) AS r(name, age) ORDER BY name",
        [["a", "1"], ["b", "2"]],
    ),
    (
        "WITH m AS (SELECT map_agg(k, v) AS pairs FROM (VALUES ('a', 1), ('b', 2)) AS t(k, v)) SELECT key, value FROM m CROSS JOIN UNNEST(pairs) AS u(key, value) ORDER BY key",
        [["a", "1"], ["b", "2"]],
    ),
    (
        "SELECT s.id, u.k, u.v FROM (VALUES (1, MAP(ARRAY['a'], ARRAY[5]))) AS s(id, m) CROSS JOIN UNNEST(s.m) AS u(k, v)",
        ["1", "a", "5"],
    ),
    (
        "SELECT x, i FROM UNNEST(ARRAY[7, 8], ARRAY[1]) WITH ORDINALITY AS t(x, y, i) ORDER BY i",
        [["7", "1"], ["8", "2"]],
    ),
]


@pytest.mark.parametrize(("sql", "athena"), UNNEST_IDIOMS)
def test_unnest_idioms(engine, sql, athena):
    assert answer(engine, sql) == athena


# ---------------------------------------------------------------- TRY, conditionals, arithmetic, casts, types

SCALAR_IDIOMS = [
    (
        "SELECT try(1 / 0), try_cast('x' AS integer), try(CAST('x' AS integer)), try_cast('1.5' AS double)",
        [None, None, None, "1.5"],
    ),
    (
        "SELECT if(1 > 0, 'y', 'n'), if(1 < 0, 'y'), coalesce(NULL, 1), nullif(1, 1), greatest(1, 5, 3), least(1, 5, 3)",
        ["y", None, "1", None, "5", "1"],
    ),
    (
        "SELECT 7 / 2, -7 / 2, 7 % -3, -7 % 3, 7.0 / 2, CAST(7 AS double) / 2, 7 / 2e0",
        ["3", "-3", "1", "-1", "3.5", "3.5", "3.5"],
    ),
    (
        "SELECT round(2.567, 2), round(2.5), round(-2.5), truncate(2.567), ceil(1.2), floor(1.8), mod(7, 3), pow(2, 10), sqrt(16), cbrt(27)",
        ["2.57", "3", "-3", "2", "2", "1", "1", "1024.0", "4.0", "3.0"],
    ),
    ("SELECT round(2.567e0, 2), round(1e7 + 0.5e0)", ["2.57", "1.0000001E7"]),
    (
        "SELECT ln(e()), log10(1000), log2(8), log(2, 8), sign(-3), abs(-3), degrees(pi()), radians(180)",
        ["1.0", "3.0", "3.0", "3.0", "-1", "3", "180.0", "3.141592653589793"],
    ),
    (
        "SELECT infinity(), -infinity(), nan(), is_nan(nan()), is_finite(1.0e0), is_infinite(infinity())",
        ["Infinity", "-Infinity", "NaN", "true", "true", "true"],
    ),
    (
        "SELECT width_bucket(5.3, 0.2, 10.6, 5), from_base('ff', 16), to_base(255, 16), bitwise_and(12, 10), bitwise_or(12, 10), bitwise_xor(12, 10), bitwise_not(1)",
        ["3", "255", "ff", "8", "14", "6", "-2"],
    ),
    ("SELECT random(10) < 10, rand() < 1", ["true", "true"]),
    (
        "SELECT CAST(1.5 AS varchar), CAST(1.5e0 AS varchar), CAST(30000000.0e0 AS varchar), CAST(true AS varchar), CAST(1 AS varchar), CAST(0.0001e0 AS varchar)",
        ["1.5", "1.5", "3.0E7", "true", "1", "1.0E-4"],
    ),
    (
        "SELECT 30000000.0e0, 1e-5, true, DECIMAL '1.50', 0.1 + 0.2, 0.1e0 + 0.2e0",
        ["3.0E7", "1.0E-5", "true", "1.50", "0.3", "0.30000000000000004"],
    ),
    (
        "SELECT typeof(1), typeof(1.5), typeof(1e0), typeof(true), typeof(DATE '2020-01-01'), typeof(x) FROM (VALUES CAST('a' AS varchar)) t(x)",
        ["integer", "decimal(2,1)", "double", "boolean", "date", "varchar"],
    ),
    (
        "SELECT CAST(ROW(1, 'a') AS ROW(x integer, y varchar)), CAST(ROW(1, 'a') AS ROW(x integer, y varchar)).x",
        ["{x=1, y=a}", "1"],
    ),
    (
        'SELECT CAST(JSON \'{"v1":123,"v2":"abc","v3":true}\' AS ROW(v1 BIGINT, v2 VARCHAR, v3 BOOLEAN))',
        ["{v1=123, v2=abc, v3=true}"],
    ),
    (
        "SELECT x, count(*) FROM (VALUES 1, 2) AS t(x) GROUP BY ROLLUP (x) ORDER BY x NULLS LAST",
        [["1", "1"], ["2", "1"], [None, "2"]],
    ),
    (
        "SELECT x FROM (VALUES 1, 2, 3) AS t(x) ORDER BY x DESC OFFSET 1 ROWS FETCH FIRST 1 ROWS ONLY",
        ["2"],
    ),
    (
        "SELECT 'abc' LIKE 'a_c', 'a%c' LIKE 'a!%c' ESCAPE '!', 'x' IS DISTINCT FROM NULL, 2 BETWEEN 1 AND 3",
        ["true", "true", "true", "true"],
    ),
]


@pytest.mark.parametrize(("sql", "athena"), SCALAR_IDIOMS)
def test_scalar_idioms(engine, sql, athena):
    assert answer(engine, sql) == athena


# ---------------------------------------------------------------- what the local engine refuses


@pytest.mark.parametrize(
    ("sql", "needle"),
    [
        (
            "SELECT soundex('x')",
            "soundex() is not supported by the local engine (Athena runs it); alternative: levenshtein_distance",
        ),
        ("SELECT checksum(x) FROM (VALUES 1) t(x)", "checksum() is not supported"),
        (
            "SELECT numeric_histogram(2, x) FROM (VALUES 1) t(x)",
            "alternative: histogram(floor(x / width) * width)",
        ),
        (
            "SELECT array_sort(ARRAY[3, 2], (x, y) -> IF(x < y, 1, -1))",
            "alternative: array_sort(x) sorts ascending",
        ),
        (
            "SELECT approx_percentile(x, 1, 0.5) FROM (VALUES 1) t(x)",
            "approx_percentile() is not supported",
        ),
        ("SELECT regexp_replace('a', 'a', x -> 'b')", "regexp_replace() is not supported"),
        (
            "SELECT reduce_agg(x, 0, (s, x) -> s + x, (a, b) -> a + b) FROM (VALUES 1) t(x)",
            "alternative: reduce(array_agg(x)",
        ),
        ('SELECT "$path" FROM (VALUES 1) t(x)', 'the hidden column "$path" exists only on Athena'),
        ("SELECT format_datetime(now(), 'yyyy kk')", "format letter 'kk'"),
        ("SELECT date_format(now(), '%D')", "the specifier %D is not supported (as on Athena)"),
        ("SELECT date_format(now(), '%u')", "the specifier %u is not supported (as on Athena)"),
        (
            "SELECT format_datetime(now(), x) FROM (VALUES 'yyyy') t(x)",
            "needs its format as a string literal",
        ),
        ("SELECT ST_Point(1, 2)", "st_point() is not available on the local engine"),
    ],
)
def test_unsupported_idioms_name_the_function_and_an_alternative(engine, sql, needle):
    with pytest.raises(QueryError) as info:
        engine.execute(sql)
    assert needle in str(info.value)


# ---------------------------------------------------------------- the lake's own columns

T0 = datetime(2026, 12, 6, 10, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def lake_engine(tmp_path_factory: pytest.TempPathFactory):
    """The engine over a small lake: one well, 3 readings from 2026-12-06 10:30 UTC."""
    from petrostream.catalog.crawler import Crawler

    lake = tmp_path_factory.mktemp("home") / "lake"
    rows = sensor_rows(3, start=T0, base=3.0e7)
    write_lake_file(lake, "sensors", {"dt": "2026-12-06", "well_id": "WELL-00001"}, rows)
    catalog, _ = Crawler(str(lake)).crawl(None)
    engine = DuckDBEngine(catalog, threads=1)
    yield engine
    engine.close()


def test_the_lakes_timestamps_print_as_athena_prints_a_timestamp(lake_engine):
    result = lake_engine.execute(
        "SELECT ts, CAST(ts AS varchar) AS text, to_iso8601(ts) AS iso, "
        "format_datetime(ts, 'yyyy-MM-dd HH:mm') AS joda, date_format(ts, '%Y%m%d %H:%i') AS mysql, "
        "typeof(ts) AS t, CAST(ts AS date) + INTERVAL '1' DAY AS next_day "
        "FROM sensors ORDER BY ts LIMIT 1"
    )
    assert result.types[0] == "timestamp"
    assert [athena_text(v, t) for v, t in zip(result.rows[0], result.types, strict=True)] == [
        "2026-12-06 10:30:00.000",
        "2026-12-06 10:30:00.000",
        "2026-12-06T10:30:00.000",
        "2026-12-06 10:30",
        "20261206 10:30",
        "timestamp(3)",
        "2026-12-07",
    ]


def test_csv_and_json_of_the_lake_print_values_as_athena_does(lake_engine):
    result = lake_engine.execute(
        "SELECT ts, p_pdg, p_pdg > 0 AS positive, well_id FROM sensors ORDER BY ts LIMIT 1"
    )
    assert format_result(result, "csv").splitlines() == [
        '"ts","p_pdg","positive","well_id"',
        '"2026-12-06 10:30:00.000","3.0E7","true","WELL-00001"',
    ]
    assert format_result(result, "json") == (
        '[\n {\n  "ts": "2026-12-06 10:30:00.000",\n  "p_pdg": 30000000.0,\n'
        '  "positive": true,\n  "well_id": "WELL-00001"\n }\n]'
    )
