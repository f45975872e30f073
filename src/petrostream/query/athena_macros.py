"""DuckDB macros that give Athena (Trino) functions their Athena answers on the local engine.

`petrostream.query.athena_sql` rewrites the user's Athena SQL to call these
macros (all named ``athena_*``) where DuckDB has no such function or answers
differently; `install` creates them on a connection before it is locked.
Macros are expanded inline by DuckDB's binder, so filters and pruning see
through them. None of them reads a file or a setting.

Where a macro dispatches on its argument's type it uses ``CASE typeof(x)``
with ``TRY_CAST`` in each branch (every branch binds for every type; only
the branch of the argument's type runs), or DuckDB's typed macro overloads
when the result type differs per branch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import duckdb

TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S.%g"
"""How Athena prints a ``timestamp(3)``: ``2026-12-06 10:30:00.000``."""

_TEXT = f"""
-- Java's Double.toString / Float.toString, which Trino uses to print double and real:
-- plain decimals in [1e-3, 1e7), else scientific (1.0E7, 2.5E-4); NaN, Infinity.
CREATE MACRO athena_sci_text(sig, e) AS
    substr(sig, 1, 1) || '.' || coalesce(nullif(substr(sig, 2), ''), '0')
    || 'E' || CAST(e AS VARCHAR);
CREATE MACRO athena_sci_digits(d, point, neg) AS
    (CASE WHEN neg THEN '-' ELSE '' END)
    || athena_sci_text(rtrim(ltrim(d, '0'), '0'), point - 1 - (length(d) - length(ltrim(d, '0'))));
CREATE MACRO athena_sci_mantissa(m, e, neg) AS athena_sci_digits(
    split_part(m, '.', 1) || split_part(m, '.', 2), length(split_part(m, '.', 1)) + e, neg
);
CREATE MACRO athena_sci(s, neg) AS athena_sci_mantissa(
    split_part(s, 'e', 1),
    CASE WHEN s LIKE '%e%' THEN CAST(split_part(s, 'e', 2) AS INTEGER) ELSE 0 END,
    neg
);
CREATE MACRO athena_float_text(x) AS CASE
    WHEN x IS NULL THEN NULL
    WHEN isnan(x) THEN 'NaN'
    WHEN isinf(x) THEN CASE WHEN x > 0 THEN 'Infinity' ELSE '-Infinity' END
    WHEN x = 0 THEN CASE WHEN signbit(x) THEN '-0.0' ELSE '0.0' END
    WHEN abs(x) >= 1e-3 AND abs(x) < 1e7 THEN CAST(x AS VARCHAR)
    ELSE athena_sci(CAST(abs(x) AS VARCHAR), x < 0)
END;

-- A REAL's digits as Java's Float.toString picks them: the fewest that read back as the
-- same 32-bit float (ties to even count), as a DOUBLE athena_float_text then prints.
-- DuckDB's own cast keeps every digit of a tie (53062128 where Java prints 5.306213E7).
CREATE MACRO athena_single_digits(f) AS CASE
    WHEN f IS NULL OR isnan(f) OR isinf(f) OR f = 0 THEN CAST(f AS DOUBLE)
    ELSE CAST(list_filter(
        [printf('%.' || p || 'g', CAST(f AS DOUBLE)) FOR p IN range(1, 10)],
        lambda t: CAST(t AS FLOAT) = f
    )[1] AS DOUBLE)
END;

-- Trino prints intervals as 'D HH:MM:SS.mmm' (day to second) or 'Y-M' (year to month).
CREATE MACRO athena_ms_text(ms) AS
    CAST(ms // 86400000 AS VARCHAR) || ' '
    || lpad(CAST(ms // 3600000 % 24 AS VARCHAR), 2, '0') || ':'
    || lpad(CAST(ms // 60000 % 60 AS VARCHAR), 2, '0') || ':'
    || lpad(CAST(ms // 1000 % 60 AS VARCHAR), 2, '0') || '.'
    || lpad(CAST(ms % 1000 AS VARCHAR), 3, '0');
CREATE MACRO athena_interval_text(i) AS CASE
    WHEN i IS NULL THEN NULL
    WHEN datepart('year', i) * 12 + datepart('month', i) <> 0
        THEN CAST(datepart('year', i) AS VARCHAR) || '-' || CAST(datepart('month', i) AS VARCHAR)
    ELSE (CASE WHEN epoch_ms(i) < 0 THEN '-' ELSE '' END) || athena_ms_text(abs(epoch_ms(i)))
END;

-- CAST(x AS varchar) as Athena prints x. A DuckDB TIMESTAMP WITH TIME ZONE is the
-- lake's UTC `timestamp` column (Athena's type for it), so it prints without a zone.
CREATE MACRO athena_varchar(x) AS CASE typeof(x)
    WHEN 'DOUBLE' THEN athena_float_text(TRY_CAST(x AS DOUBLE))
    WHEN 'FLOAT' THEN athena_float_text(athena_single_digits(TRY_CAST(x AS FLOAT)))
    WHEN 'DATE' THEN strftime(TRY_CAST(x AS DATE), '%Y-%m-%d')
    WHEN 'TIMESTAMP' THEN strftime(TRY_CAST(x AS TIMESTAMP), '{TIMESTAMP_FORMAT}')
    WHEN 'TIMESTAMP_S' THEN strftime(TRY_CAST(x AS TIMESTAMP), '{TIMESTAMP_FORMAT}')
    WHEN 'TIMESTAMP_MS' THEN strftime(TRY_CAST(x AS TIMESTAMP), '{TIMESTAMP_FORMAT}')
    WHEN 'TIMESTAMP WITH TIME ZONE' THEN strftime(TRY_CAST(x AS TIMESTAMPTZ), '{TIMESTAMP_FORMAT}')
    WHEN 'TIMESTAMP_NS' THEN strftime(TRY_CAST(x AS TIMESTAMP_NS), '%Y-%m-%d %H:%M:%S.%n')
    WHEN 'TIME' THEN strftime(DATE '2000-01-01' + TRY_CAST(x AS TIME), '%H:%M:%S.%g')
    WHEN 'INTERVAL' THEN athena_interval_text(TRY_CAST(x AS INTERVAL))
    WHEN 'JSON' THEN json_extract_string(TRY_CAST(x AS JSON), '$')
    ELSE CAST(x AS VARCHAR)
END;
CREATE MACRO athena_to_iso8601(x) AS CASE typeof(x)
    WHEN 'DATE' THEN strftime(TRY_CAST(x AS DATE), '%Y-%m-%d')
    WHEN 'TIMESTAMP_NS' THEN strftime(TRY_CAST(x AS TIMESTAMP_NS), '%Y-%m-%dT%H:%M:%S.%n')
    ELSE strftime(TRY_CAST(x AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%g')
END;
CREATE MACRO athena_typeof(x) AS CASE typeof(x)
    WHEN 'FLOAT' THEN 'real'
    WHEN 'HUGEINT' THEN 'bigint'
    WHEN 'BLOB' THEN 'varbinary'
    WHEN 'TIMESTAMP' THEN 'timestamp(3)'
    WHEN 'TIMESTAMP_S' THEN 'timestamp(0)'
    WHEN 'TIMESTAMP_MS' THEN 'timestamp(3)'
    WHEN 'TIMESTAMP_NS' THEN 'timestamp(9)'
    WHEN 'TIMESTAMP WITH TIME ZONE' THEN 'timestamp(3)'
    WHEN 'INTERVAL' THEN 'interval day to second'
    ELSE lower(typeof(x))
END;
"""

_DATETIME = """
-- date + interval stays a date (DuckDB widens it to a timestamp).
CREATE MACRO athena_keep_date(base DATE, result) AS CAST(result AS DATE), (base, result) AS result;
CREATE MACRO athena_current_timezone() AS 'UTC';
CREATE MACRO athena_to_milliseconds(i) AS epoch_ms(i);
-- DuckDB's millisecond() counts the seconds too (5.123 s -> 5123).
CREATE MACRO athena_millisecond(x) AS millisecond(x) % 1000;
CREATE MACRO athena_year_of_week(x) AS isoyear(x);
CREATE MACRO athena_zero(x) AS CAST(0 AS BIGINT);
CREATE MACRO athena_unit_words(n, unit) AS CASE
    WHEN n = 0 THEN NULL
    WHEN n = 1 THEN '1 ' || unit
    ELSE CAST(n AS VARCHAR) || ' ' || unit || 's'
END;
CREATE MACRO athena_duration_words(s) AS coalesce(nullif(concat_ws(', ',
    athena_unit_words(s // 604800, 'week'),
    athena_unit_words(s // 86400 % 7, 'day'),
    athena_unit_words(s // 3600 % 24, 'hour'),
    athena_unit_words(s // 60 % 60, 'minute'),
    athena_unit_words(s % 60, 'second')), ''), '0 seconds');
CREATE MACRO athena_human_readable_seconds(x) AS CASE
    WHEN x IS NULL THEN NULL
    ELSE athena_duration_words(CAST(round(x) AS BIGINT))
END;
CREATE MACRO athena_parse_duration(s) AS to_microseconds(CAST(round(
    CAST(regexp_extract(s, '^\\s*([0-9]+(?:\\.[0-9]+)?)\\s*([a-z]+)\\s*$', 1) AS DOUBLE)
    * CASE regexp_extract(s, '^\\s*([0-9]+(?:\\.[0-9]+)?)\\s*([a-z]+)\\s*$', 2)
        WHEN 'ns' THEN 0.001 WHEN 'us' THEN 1 WHEN 'ms' THEN 1000 WHEN 's' THEN 1000000
        WHEN 'm' THEN 60000000 WHEN 'h' THEN 3600000000 WHEN 'd' THEN 86400000000
        ELSE error('parse_duration: ' || s
                   || ' is not a duration like 3.5m (units ns us ms s m h d)')
      END) AS BIGINT));
CREATE MACRO athena_sequence(a DATE, b DATE) AS CAST(generate_series(CAST(a AS TIMESTAMP),
        CAST(b AS TIMESTAMP), CASE WHEN a <= b THEN INTERVAL 1 DAY ELSE INTERVAL (-1) DAY END)
        AS DATE[]),
    (a BIGINT, b BIGINT) AS generate_series(a, b, CASE WHEN a <= b THEN 1 ELSE -1 END),
    (a, b) AS generate_series(a, b);
CREATE MACRO athena_sequence_step(a DATE, b DATE, step) AS CAST(generate_series(
        CAST(a AS TIMESTAMP), CAST(b AS TIMESTAMP), step) AS DATE[]),
    (a, b, step) AS generate_series(a, b, step);
"""

_STRINGS = """
-- Trino returns NULL when nothing matches (DuckDB: '').
CREATE MACRO athena_regexp_extract(s, p) AS CASE WHEN regexp_matches(s, p)
        THEN regexp_extract(s, p) END,
    (s, p, g) AS CASE WHEN regexp_matches(s, p) THEN regexp_extract(s, p, g) END;
CREATE MACRO athena_regexp_position(s, p) AS CASE
        WHEN s IS NULL OR p IS NULL THEN NULL
        WHEN regexp_matches(s, p) THEN length(str_split_regex(s, p)[1]) + 1
        ELSE -1 END,
    (s, p, start) AS CASE
        WHEN s IS NULL OR p IS NULL OR start IS NULL THEN NULL
        WHEN regexp_matches(substr(s, start), p)
            THEN start + length(str_split_regex(substr(s, start), p)[1])
        ELSE -1 END;
-- split(s, d, limit): the last piece holds the rest of the string.
CREATE MACRO athena_split(s, d, n) AS CASE
    WHEN n >= len(str_split(s, d)) THEN str_split(s, d)
    ELSE list_append(list_slice(str_split(s, d), 1, n - 1),
                     array_to_string(list_slice(str_split(s, d), n, len(str_split(s, d))), d))
END;
-- strpos(s, sub, n): the n-th occurrence; a negative n counts from the end.
CREATE MACRO athena_strpos(s, sub, n) AS CASE
    WHEN n > 0 THEN CASE WHEN len(str_split(s, sub)) > n
        THEN length(array_to_string(list_slice(str_split(s, sub), 1, n), sub)) + 1 ELSE 0 END
    WHEN n < 0 THEN CASE WHEN len(str_split(s, sub)) > -n
        THEN length(s) - length(sub) + 1 - length(array_to_string(
            list_slice(str_split(s, sub), len(str_split(s, sub)) + n + 1,
                       len(str_split(s, sub))), sub))
        ELSE 0 END
    ELSE error('strpos: the instance must not be 0')
END;
CREATE MACRO athena_reverse(x VARCHAR) AS reverse(x), (x) AS list_reverse(x);
CREATE MACRO athena_split_to_map(s, entry, kv) AS map_from_entries(list_transform(
    list_filter(str_split(s, entry), lambda e: e <> ''),
    lambda e: {'key': split_part(e, kv, 1),
               'value': substr(e, length(split_part(e, kv, 1)) + length(kv) + 1)}));
CREATE MACRO athena_url_part(u, pattern) AS nullif(regexp_extract(u, pattern, 1), '');
CREATE MACRO athena_url_extract_protocol(u) AS athena_url_part(u, '^([a-zA-Z][a-zA-Z0-9+.-]*):');
CREATE MACRO athena_url_extract_host(u) AS athena_url_part(u,
    '^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?(\\[[^\\]]*\\]|[^:/?#]*)');
CREATE MACRO athena_url_extract_port(u) AS TRY_CAST(athena_url_part(u,
    '^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?(?:\\[[^\\]]*\\]|[^:/?#]*):([0-9]+)') AS BIGINT);
CREATE MACRO athena_url_extract_path(u) AS regexp_extract(u,
    '^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)?([^?#]*)', 1);
CREATE MACRO athena_url_extract_query(u) AS athena_url_part(u, '\\?([^#]*)');
CREATE MACRO athena_url_extract_fragment(u) AS athena_url_part(u, '#(.*)$');
CREATE MACRO athena_url_extract_parameter(u, name) AS list_extract(list_transform(
    list_filter(str_split(athena_url_extract_query(u), '&'),
                lambda kv: split_part(kv, '=', 1) = name),
    lambda kv: substr(kv, length(name) + 2)), 1);
"""

_COLLECTIONS = """
CREATE MACRO athena_array_position(x, e) AS CASE WHEN x IS NULL THEN NULL
    ELSE coalesce(list_position(x, e), 0) END;
-- Trino keeps the first occurrence of each element, in order.
CREATE MACRO athena_array_distinct(x) AS list_filter(x, lambda v, i: list_position(x, v) = i);
CREATE MACRO athena_array_union(a, b) AS athena_array_distinct(list_concat(a, b));
CREATE MACRO athena_array_except(a, b) AS athena_array_distinct(
    list_filter(a, lambda v: coalesce(list_position(b, v), 0) = 0));
CREATE MACRO athena_slice(x, s, n) AS list_slice(x, s,
    CASE WHEN s < 0 THEN least(s + n - 1, -1) ELSE s + n - 1 END);
CREATE MACRO athena_trim_array(x, n) AS list_slice(x, 1, len(x) - n);
CREATE MACRO athena_repeat(e, n) AS repeat([e], n);
CREATE MACRO athena_shuffle(x) AS list_transform(
    list_sort(list_transform(x, lambda v: {'r': random(), 'v': v})), lambda e: e.v);
CREATE MACRO athena_ngrams(x, n) AS CASE WHEN len(x) <= n THEN [x]
    ELSE list_transform(range(1, len(x) - n + 2), lambda i: list_slice(x, i, i + n - 1)) END;
CREATE MACRO athena_contains_sequence(x, seq) AS len(seq) = 0 OR coalesce(list_bool_or(
    list_transform(range(1, len(x) - len(seq) + 2),
                   lambda i: list_slice(x, i, i + len(seq) - 1) = seq)), false);
CREATE MACRO athena_array_histogram(x) AS list_aggregate(x, 'histogram');
-- any_match / all_match / none_match over the predicate's results (Trino's NULL rules).
CREATE MACRO athena_any_true(t) AS CASE WHEN t IS NULL THEN NULL
    WHEN list_contains(t, true) THEN true
    WHEN coalesce(list_position(t, NULL), 0) > 0 THEN NULL ELSE false END;
CREATE MACRO athena_all_true(t) AS CASE WHEN t IS NULL THEN NULL
    WHEN list_contains(t, false) THEN false
    WHEN coalesce(list_position(t, NULL), 0) > 0 THEN NULL ELSE true END;
CREATE MACRO athena_none_true(t) AS CASE WHEN t IS NULL THEN NULL
    WHEN list_contains(t, true) THEN false
    WHEN coalesce(list_position(t, NULL), 0) > 0 THEN NULL ELSE true END;
-- map_agg keeps one value per key, as Trino does (DuckDB's map() refuses duplicates).
CREATE MACRO athena_unique_entries(es) AS map_from_entries(
    list_filter(es, lambda e, i: i = 1 OR es[i - 1].key <> e.key));
CREATE MACRO athena_map_agg(k, v) AS athena_unique_entries(
    list_sort(list_filter(list({'key': k, 'value': v}), lambda e: e.key IS NOT NULL)));
CREATE MACRO athena_multimap_of(es, ks) AS map(ks, list_transform(ks,
    lambda kk: list_transform(list_filter(es, lambda e: e.key = kk), lambda e: e.value)));
CREATE MACRO athena_multimap(es) AS athena_multimap_of(
    es, list_sort(list_distinct(list_transform(es, lambda e: e.key))));
CREATE MACRO athena_multimap_agg(k, v) AS athena_multimap(
    list_filter(list({'key': k, 'value': v}), lambda e: e.key IS NOT NULL));
CREATE MACRO athena_approx_most_frequent(buckets, v, capacity) AS map_from_entries(list_transform(
    list_slice(list_sort(list_transform(map_entries(histogram(v)),
        lambda e: {'n': -CAST(e.value AS BIGINT), 'key': e.key})), 1, buckets),
    lambda e: {'key': e.key, 'value': -e.n}));
"""

_JSON = """
CREATE MACRO athena_json_scalar(j, path) AS CASE
    WHEN json_type(j, path) IN ('OBJECT', 'ARRAY') THEN NULL
    ELSE json_extract_string(j, path) END;
CREATE MACRO athena_json_size(j, path) AS CASE
    WHEN json_type(j, path) IS NULL THEN NULL
    WHEN json_type(j, path) = 'OBJECT' THEN len(json_keys(j, path))
    WHEN json_type(j, path) = 'ARRAY' THEN json_array_length(j, path)
    ELSE 0 END;
CREATE MACRO athena_json_array_contains(j, v) AS list_contains(
    CAST(json_extract(j, '$[*]') AS VARCHAR[]), CAST(to_json(v) AS VARCHAR));
CREATE MACRO athena_json_array_get(j, i) AS list_extract(
    json_extract(j, '$[*]'), CASE WHEN i >= 0 THEN i + 1 ELSE i END);
CREATE MACRO athena_is_json_scalar(j) AS json_type(json(j)) NOT IN ('OBJECT', 'ARRAY');
"""

_MATH = """
CREATE MACRO athena_e() AS exp(1);
-- Java's Math.cbrt is exact on cubes (cbrt(27) = 3.0); DuckDB's is not.
CREATE MACRO athena_cbrt(x) AS CASE
    WHEN round(cbrt(x)) ^ 3 = x THEN round(cbrt(x)) ELSE cbrt(x) END;
CREATE MACRO athena_infinity() AS CAST('inf' AS DOUBLE);
CREATE MACRO athena_nan() AS CAST('nan' AS DOUBLE);
CREATE MACRO athena_random(n) AS CAST(floor(random() * n) AS BIGINT);
CREATE MACRO athena_width_bucket(x, lo, hi, n) AS CASE
    WHEN x IS NULL OR lo IS NULL OR hi IS NULL OR n IS NULL THEN NULL
    WHEN x < lo THEN 0
    WHEN x >= hi THEN n + 1
    ELSE CAST(floor((x - lo) / (hi - lo) * n) AS BIGINT) + 1 END;
CREATE MACRO athena_from_base(s, radix) AS list_reduce(
    list_transform(str_split(lower(s), ''),
                   lambda c: instr('0123456789abcdefghijklmnopqrstuvwxyz', c) - 1),
    lambda acc, d: acc * radix + d, CAST(0 AS BIGINT));
CREATE MACRO athena_to_base(n, radix) AS lower(to_base(n, radix));
"""

MACROS: Final[tuple[str, ...]] = tuple(
    statement.strip()
    for block in (_TEXT, _DATETIME, _STRINGS, _COLLECTIONS, _JSON, _MATH)
    for statement in "\n".join(
        line for line in block.splitlines() if not line.lstrip().startswith("--")
    ).split(";\n")
    if statement.strip()
)
"""Every ``CREATE MACRO`` statement, in dependency order."""


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create every ``athena_*`` macro on ``con`` (before its configuration is locked).

    Raises:
        duckdb.Error: a macro does not bind on this DuckDB version (a packaging bug).
    """
    for statement in MACROS:
        con.execute(statement)
