"""Athena (Trino) SQL on DuckDB: rewrite the checked AST so DuckDB gives Athena's answers.

sqlglot transpiles most Athena SQL, but several everyday idioms answer
differently or fail on DuckDB (Joda ``format_datetime``, ``map_agg``,
``to_iso8601``, casts to ``varchar``, ``date + interval``, ``$1`` in
``regexp_replace``, ``slice``'s length, ``reduce``'s output function…).
`to_duckdb` walks the AST bottom-up and rewrites those nodes, mostly into calls
of the ``athena_*`` macros of `petrostream.query.athena_macros`; `configure`
installs the macros and the session settings Athena's semantics need
(integer division) on a DuckDB connection. Functions Athena has and the local
engine cannot answer raise `QueryError` naming the function and an alternative.

Called from the engine through one hook (``prepare(..., translate=to_duckdb)``);
the SQL guard checks the user's AST before and the generated SQL after.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from sqlglot import exp

from petrostream.query import athena_collections, athena_time
from petrostream.query.athena_ast import UNSUPPORTED, call, refuse, unsupported
from petrostream.query.athena_macros import install
from petrostream.query.base import QueryError

if TYPE_CHECKING:
    import duckdb

Rewrite = Callable[[Any], exp.Expr]  # each takes its own node type

SESSION_SETTINGS: Final = ("SET integer_division = true",)
"""Trino's ``7 / 2`` is 3 (integer division); DuckDB's is 3.5 unless told otherwise."""

_STRING_TYPES: Final = (exp.DType.VARCHAR, exp.DType.CHAR, exp.DType.TEXT, exp.DType.NVARCHAR)
_TYPE_NAMES: Final[dict[str, str]] = {
    "BOOLEAN": "boolean",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "bigint",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "bigint",
    "FLOAT": "real",
    "DOUBLE": "double",
    "VARCHAR": "varchar",
    "JSON": "json",
    "UUID": "uuid",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    # The lake's UTC `ts` is Athena's `timestamp`; DuckDB holds it as WITH TIME ZONE.
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "INTERVAL": "interval day to second",
    "BLOB": "varbinary",
}


def athena_type_name(duck: Any) -> str:
    """Athena/Trino type name of a DuckDB result type (a ``DuckDBPyType`` or its text).

    ``INTEGER[]`` -> ``array(integer)``, ``MAP(VARCHAR, BIGINT)`` -> ``map(varchar, bigint)``,
    ``STRUCT(a INTEGER)`` -> ``row(a integer)``, ``DECIMAL(10,2)`` -> ``decimal(10,2)``.
    """
    text = str(duck)
    kind = getattr(duck, "id", "")
    children = (
        getattr(duck, "children", None) if kind in ("list", "array", "map", "struct") else None
    )
    if children:
        if kind in ("list", "array"):
            return f"array({athena_type_name(children[0][1])})"
        if kind == "map":
            return f"map({athena_type_name(children[0][1])}, {athena_type_name(children[1][1])})"
        fields = ", ".join(f"{name} {athena_type_name(child)}" for name, child in children)
        return f"row({fields})"
    if text.startswith("DECIMAL"):
        return text.lower().replace(" ", "")
    if text.endswith("[]"):
        return f"array({athena_type_name(text[:-2])})"
    if text.startswith(("STRUCT", "TUPLE")):
        return "row"
    if text.startswith("MAP"):
        return "map"
    return _TYPE_NAMES.get(text, text.lower())


def configure(con: duckdb.DuckDBPyConnection) -> None:
    """Give a new connection Athena's semantics: session settings and the ``athena_*`` macros.

    Call before the connection's configuration is locked.
    """
    for statement in SESSION_SETTINGS:
        con.execute(statement)
    install(con)


def to_duckdb(ast: exp.Expr) -> str:
    """DuckDB SQL that answers the (checked, bound) Athena query ``ast`` as Athena does.

    Raises:
        QueryError: the query uses an Athena function or form the local engine
            cannot answer; the message names it and what to write instead.
    """
    tree = ast.copy()
    for node in reversed(list(tree.walk(bfs=False))):  # children before their parents
        new = _rewrite(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree.sql(dialect="duckdb")


# ---------------------------------------------------------------- casts


def _cast(node: exp.Cast) -> exp.Expr:
    to = node.to
    value = node.this
    if to.this in _STRING_TYPES:
        if isinstance(value, exp.Null) or (isinstance(value, exp.Literal) and value.is_string):
            return node
        return call("athena_varchar", value)
    if to.this == exp.DType.JSON and not isinstance(node, exp.TryCast):
        return call("to_json", value)  # Trino: CAST('abc' AS JSON) is the JSON string "abc"
    if to.this == exp.DType.DECIMAL and not to.expressions and isinstance(value, exp.Literal):
        digits = str(value.this).strip().lstrip("+-")
        whole, _, frac = digits.partition(".")
        precision = max(1, len(whole.lstrip("0")) + len(frac))
        return exp.cast(value, exp.DataType.build(f"DECIMAL({precision}, {len(frac)})"))
    if to.this in (exp.DType.TIMESTAMP, exp.DType.TIMESTAMPTZ) and to.expressions:
        return exp.cast(
            value, to.this
        )  # keep the literal's digits (DuckDB's TIMESTAMP(0) truncates)
    return node


# ---------------------------------------------------------------- strings


def _java_replacement(text: str) -> str:
    r"""A Java ``Matcher.replaceAll`` replacement (``$1``, ``\$``) in RE2 syntax (``\1``)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append("\\\\" if text[i + 1] == "\\" else text[i + 1])
            i += 2
        elif char == "$" and i + 1 < len(text) and text[i + 1].isdigit():
            out.append("\\" + text[i + 1])
            i += 2
        elif char == "$" and text[i + 1 : i + 2] == "{":
            raise QueryError(
                "regexp_replace(): named groups (${name}) are not supported by the local "
                "engine; use numbered groups ($1)"
            )
        else:
            out.append("\\\\" if char == "\\" else char)
            i += 1
    return "".join(out)


def _regexp_replace(node: exp.RegexpReplace) -> exp.Expr:
    replacement = node.args.get("replacement")
    if isinstance(replacement, exp.Lambda):
        raise unsupported("regexp_replace")
    if isinstance(replacement, exp.Literal) and replacement.is_string:
        node.set("replacement", exp.Literal.string(_java_replacement(str(replacement.this))))
    return node


def _regexp_extract(node: exp.RegexpExtract) -> exp.Expr:
    args = [node.this, node.expression]
    if node.args.get("group") is not None:
        args.append(node.args["group"])
    return call("athena_regexp_extract", *args)


def _str_position(node: exp.StrPosition) -> exp.Expr:
    occurrence = node.args.get("occurrence")
    if occurrence is None:
        return node
    return call("athena_strpos", node.this, node.args["substr"], occurrence)


def _split(node: exp.Split) -> exp.Expr:
    if node.args.get("limit") is None:
        return node
    return call("athena_split", node.this, node.expression, node.args["limit"])


_JAVA_SPEC: Final = re.compile(r"%(\d+\$)?[-#+ 0,(<]*\d*(?:\.\d+)?([a-zA-Z%])")


def _format(node: exp.Format) -> exp.Expr:
    """Java's String.format as DuckDB's printf, which wants a string for every %s."""
    args = list(node.expressions)
    if isinstance(node.this, exp.Literal) and node.this.is_string:
        conversions = [
            m.group(2)
            for m in _JAVA_SPEC.finditer(str(node.this.this))
            if m.group(2) not in "%n" and not m.group(1)
        ]
        for i, conversion in enumerate(conversions[: len(args)]):
            if conversion in "sS":
                args[i] = call("athena_varchar", args[i])
    return call("printf", node.this, *args)


def _normalize(node: exp.Normalize) -> exp.Expr:
    form = node.args.get("form")
    if isinstance(form, exp.Expr) and form.name.upper() != "NFC":
        raise unsupported("normalize")
    return call("nfc_normalize", node.this)


# ---------------------------------------------------------------- JSON


def _strip_path_mode(node: exp.Expr) -> exp.Expr:
    """``'lax $.a'`` -> ``'$.a'``: DuckDB's JSON paths have no mode (lax is its behaviour)."""
    if isinstance(node, exp.Literal) and node.is_string:
        text = re.sub(r"^\s*(lax|strict)\s+", "", str(node.this))
        return exp.Literal.string(text)
    return node


def _json_scalar(node: exp.JSONExtractScalar) -> exp.Expr:
    return call("athena_json_scalar", node.this, node.expression)


def _json_query(node: exp.JSONExtract) -> exp.Expr:
    if node.args.get("json_query"):
        node.set("expression", _strip_path_mode(node.expression))
    return node


def _json_value(node: exp.JSONValue) -> exp.Expr:
    return call("json_extract_string", node.this, _strip_path_mode(node.args["path"]))


def _json_exists(node: exp.Anonymous) -> exp.Expr:
    value, path = node.expressions[:2]
    return call("json_exists", value, _strip_path_mode(path))


# ---------------------------------------------------------------- dispatch

_RENAMES: Final[dict[str, str]] = {
    "to_iso8601": "athena_to_iso8601",
    "map_agg": "athena_map_agg",
    "multimap_agg": "athena_multimap_agg",
    "approx_most_frequent": "athena_approx_most_frequent",
    "array_union": "athena_array_union",
    "arrays_overlap": "list_has_any",
    "trim_array": "athena_trim_array",
    "ngrams": "athena_ngrams",
    "contains_sequence": "athena_contains_sequence",
    "array_histogram": "athena_array_histogram",
    "zip": "list_zip",
    "every": "bool_and",
    "regexp_position": "athena_regexp_position",
    "hamming_distance": "hamming",
    "codepoint": "unicode",
    "url_extract_host": "athena_url_extract_host",
    "url_extract_port": "athena_url_extract_port",
    "url_extract_path": "athena_url_extract_path",
    "url_extract_protocol": "athena_url_extract_protocol",
    "url_extract_query": "athena_url_extract_query",
    "url_extract_fragment": "athena_url_extract_fragment",
    "url_extract_parameter": "athena_url_extract_parameter",
    "json_size": "athena_json_size",
    "json_array_get": "athena_json_array_get",
    "is_json_scalar": "athena_is_json_scalar",
    "to_milliseconds": "athena_to_milliseconds",
    "human_readable_seconds": "athena_human_readable_seconds",
    "parse_duration": "athena_parse_duration",
    "millisecond": "athena_millisecond",
    "e": "athena_e",
    "nan": "athena_nan",
    "infinity": "athena_infinity",
    "is_infinite": "isinf",
    "is_finite": "isfinite",
    "to_base": "athena_to_base",
    "yow": "athena_year_of_week",
    "timezone_hour": "athena_zero",
    "timezone_minute": "athena_zero",
}

_ANONYMOUS: Final[dict[str, Rewrite]] = {
    "format_datetime": athena_time.format_datetime,
    "at_timezone": lambda n: athena_time.at_time_zone(*n.expressions[:2]),
    "with_timezone": athena_time.with_timezone,
    "any_match": athena_collections.match("athena_any_true"),
    "all_match": athena_collections.match("athena_all_true"),
    "none_match": athena_collections.match("athena_none_true"),
    "zip_with": athena_collections.zip_with,
    "map_filter": athena_collections.map_entries_rewrite("map_filter"),
    "transform_keys": athena_collections.map_entries_rewrite("transform_keys"),
    "transform_values": athena_collections.map_entries_rewrite("transform_values"),
    "map_zip_with": athena_collections.map_zip_with,
    "json_exists": _json_exists,
}


def _anonymous(node: exp.Anonymous) -> exp.Expr:
    name = str(node.this).lower()
    if name in UNSUPPORTED or name.startswith("st_"):
        raise unsupported(name)
    if name in _RENAMES:
        return call(_RENAMES[name], *node.expressions)
    handler = _ANONYMOUS.get(name)
    return handler(node) if handler else node


def _column(node: exp.Column) -> exp.Expr:
    if node.name.startswith("$"):
        raise QueryError(
            f'the hidden column "{node.name}" exists only on Athena; the local engine '
            "has the partition columns (well_id, dt) and the instance_id of each reading"
        )
    return node


def _rand(node: exp.Rand) -> exp.Expr:
    return call("athena_random", node.this) if node.this is not None else node


_BY_TYPE: Final[dict[type[exp.Expr], Rewrite]] = {
    exp.Anonymous: _anonymous,
    exp.Cast: _cast,
    exp.TryCast: _cast,
    exp.DPipe: athena_collections.concat,
    exp.Add: athena_time.keep_date,
    exp.Sub: athena_time.keep_date,
    exp.DateAdd: athena_time.keep_date,
    exp.DateSub: athena_time.keep_date,
    exp.AtTimeZone: lambda n: athena_time.at_time_zone(n.this, n.args["zone"]),
    exp.UnixToTime: athena_time.unix_to_time,
    exp.ParseDatetime: athena_time.parse_datetime,
    exp.TimeToStr: lambda n: call(
        "strftime", n.this, athena_time.mysql_format(n.args["format"], "date_format")
    ),
    exp.StrToTime: lambda n: call(
        "strptime", n.this, athena_time.mysql_format(n.args["format"], "date_parse")
    ),
    exp.CurrentTimezone: lambda n: exp.Literal.string("UTC"),
    exp.Typeof: lambda n: call("athena_typeof", n.this),
    exp.RegexpReplace: _regexp_replace,
    exp.RegexpExtract: _regexp_extract,
    exp.StrPosition: _str_position,
    exp.Split: _split,
    exp.Format: _format,
    exp.Normalize: _normalize,
    exp.StrToMap: lambda n: call(
        "athena_split_to_map", n.this, n.args["pair_delim"], n.args["key_value_delim"]
    ),
    exp.SHA: lambda n: call("unhex", call("sha1", n.this)),
    exp.Soundex: lambda n: refuse("soundex"),
    exp.Shuffle: lambda n: call("athena_shuffle", n.this),
    exp.Repeat: lambda n: call("athena_repeat", n.this, n.args["times"]),
    exp.Reverse: lambda n: call("athena_reverse", n.this),
    exp.ArraySize: lambda n: call("cardinality", n.this),
    exp.ArrayPosition: lambda n: call("athena_array_position", n.this, n.expression),
    exp.ArrayDistinct: lambda n: call("athena_array_distinct", n.this),
    exp.ArrayExcept: lambda n: call("athena_array_except", n.this, n.expression),
    exp.ArraySlice: lambda n: call("athena_slice", n.this, n.args["start"], n.args["end"]),
    exp.ArraySort: athena_collections.array_sort,
    exp.GenerateSeries: athena_collections.sequence,
    exp.Reduce: athena_collections.reduce,
    exp.JSONExtractScalar: _json_scalar,
    exp.JSONExtract: _json_query,
    exp.JSONValue: _json_value,
    exp.JSONArrayContains: lambda n: call("athena_json_array_contains", n.this, n.expression),
    exp.WidthBucket: lambda n: call(
        "athena_width_bucket",
        n.this,
        n.args["min_value"],
        n.args["max_value"],
        n.args["num_buckets"],
    ),
    exp.FromBase: lambda n: call("athena_from_base", n.this, n.expression),
    exp.Rand: _rand,
    exp.Cbrt: lambda n: call("athena_cbrt", n.this),
    exp.Column: _column,
    exp.Unnest: athena_collections.unnest,
}


def _rewrite(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.ApproxQuantile) and node.args.get("weight") is not None:
        raise unsupported("approx_percentile")
    handler = _BY_TYPE.get(type(node))
    return handler(node) if handler else node
