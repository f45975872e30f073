"""Small AST helpers shared by the Athena -> DuckDB rewrites (`petrostream.query.athena_sql`)."""

from __future__ import annotations

from typing import Final

from sqlglot import exp

from petrostream.query.base import QueryError

UNSUPPORTED: Final[dict[str, str]] = {
    "array_sort": "array_sort(x) sorts ascending and reverse(array_sort(x)) descending; "
    "sort by a key with transform(array_sort(transform(x, e -> ROW(key, e))), r -> r[2])",
    "approx_percentile": "approx_percentile(x, p) without weights (repeat weighted rows "
    "with CROSS JOIN UNNEST(sequence(1, w)))",
    "checksum": "compare count(*) with sum() or approx_distinct() of the columns",
    "combinations": "CROSS JOIN UNNEST(x) twice, keeping pairs with a < b",
    "numeric_histogram": "histogram(floor(x / width) * width) for fixed-width buckets",
    "reduce_agg": "reduce(array_agg(x), initial, (s, x) -> ..., s -> s)",
    "map_union": "map_agg(k, v) over CROSS JOIN UNNEST(m) AS t(k, v)",
    "multimap_from_entries": "multimap_agg(k, v) over CROSS JOIN UNNEST(entries) AS t(k, v)",
    "soundex": "levenshtein_distance(a, b) for a fuzzy comparison",
    "luhn_check": "regexp_like(x, '^[0-9]+$') and a reduce() over the digits",
    "word_stem": "lower() and regexp_replace() of the suffixes you need",
    "regexp_replace": "a replacement string with $1-style groups (no lambda)",
    "normalize": "normalize(x) (NFC, the default form)",
    "from_unixtime_nanos": "from_unixtime(n / 1e9)",
    "from_iso8601_timestamp_nanos": "from_iso8601_timestamp(x) (millisecond precision)",
    "xxhash64": "md5(to_utf8(x)) or sha256(to_utf8(x))",
    "murmur3": "md5(to_utf8(x)) or sha256(to_utf8(x))",
    "approx_set": "approx_distinct(x)",
    "merge": "approx_distinct(x) over the rows instead of merging sketches",
    "empty_approx_set": "approx_distinct(x)",
    "qdigest_agg": "approx_percentile(x, p)",
    "tdigest_agg": "approx_percentile(x, p)",
    "value_at_quantile": "approx_percentile(x, p)",
    "values_at_quantiles": "approx_percentile(x, ARRAY[p1, p2])",
    "make_set_digest": "approx_distinct(x)",
    "format_number": "format('%.1f', x) or round(x, n)",
    "parse_data_size": "a CASE over the unit suffix",
    "current_user": "a literal user name",
}
"""Athena functions the local engine does not answer -> what to write instead."""


def call(name: str, *args: exp.Expr) -> exp.Anonymous:
    """A call of the DuckDB function or ``athena_*`` macro ``name``."""
    return exp.Anonymous(this=name, expressions=list(args))


def unsupported(name: str) -> QueryError:
    """The error for an Athena function the local engine does not answer, with an alternative."""
    hint = UNSUPPORTED.get(name, "")
    return QueryError(
        f"function {name}() is not supported by the local engine (Athena runs it)"
        + (f"; alternative: {hint}" if hint else "")
    )


def refuse(name: str) -> exp.Expr:
    """Raise `unsupported` (for dispatch tables that expect a rewrite)."""
    raise unsupported(name)


def literal_text(node: exp.Expr | None, function: str, what: str = "format") -> str:
    """The text of a string literal argument; QueryError when it is not one."""
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    raise QueryError(f"{function}() needs its {what} as a string literal here, e.g. 'yyyy-MM-dd'")
