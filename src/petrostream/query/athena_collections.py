"""Athena's arrays, maps, lambdas and UNNEST on DuckDB.

Trino lambdas become DuckDB ``lambda x: ...`` over ``list_transform`` /
``list_filter`` / ``map_entries``; a lambda's parameters are substituted where
DuckDB has no function of the same shape (``zip_with``, ``map_zip_with``,
``reduce``'s output function). UNNEST of several arrays, of a map or of rows
becomes a lateral subquery of ``unnest(...)`` calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sqlglot import exp

from petrostream.query.athena_ast import call, unsupported
from petrostream.query.base import QueryError

Rewrite = Callable[[exp.Anonymous], exp.Expr]

_MAP_FUNCTIONS: Final = frozenset(
    {
        "map",
        "map_from_entries",
        "map_concat",
        "map_filter",
        "transform_keys",
        "transform_values",
        "map_zip_with",
        "histogram",
        "athena_map_agg",
        "athena_multimap_agg",
        "athena_split_to_map",
        "athena_array_histogram",
        "athena_approx_most_frequent",
    }
)


def _substitute(body: exp.Expr, values: dict[str, exp.Expr]) -> exp.Expr:
    """``body`` with each lambda parameter named in ``values`` replaced by its expression."""

    def is_parameter(node: exp.Expr) -> bool:
        if isinstance(node, exp.Column):
            return not node.table
        if not isinstance(node, exp.Identifier):
            return False
        if isinstance(node.parent, exp.Dot):  # s.sum: s is the parameter, sum a field
            return node.arg_key == "this"
        return not isinstance(node.parent, exp.Column | exp.Lambda | exp.TableAlias)

    def swap(node: exp.Expr) -> exp.Expr:
        if is_parameter(node) and node.name in values:
            return values[node.name].copy()
        return node

    return body.copy().transform(swap)


def _lambda(node: exp.Expr | None, function: str, arity: int) -> exp.Lambda:
    if not isinstance(node, exp.Lambda) or len(node.expressions) != arity:
        raise QueryError(f"{function}() needs a lambda of {arity} argument(s), e.g. (k, v) -> v")
    return node


def _params(fn: exp.Lambda) -> list[str]:
    return [p.name for p in fn.expressions]


def _new_lambda(param: str, body: exp.Expr) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(param)])


def _field(name: str, field: str) -> exp.Expr:
    return exp.Dot(this=exp.to_identifier(name), expression=exp.to_identifier(field))


def _entry(key: exp.Expr, value: exp.Expr) -> exp.Struct:
    return exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.Literal.string("key"), expression=key),
            exp.PropertyEQ(this=exp.Literal.string("value"), expression=value),
        ]
    )


def reduce(node: exp.Reduce) -> exp.Expr:
    """``reduce(a, init, (s, x) -> ..., s -> out)``: ``list_reduce`` then the output function."""
    merge = _lambda(node.args.get("merge"), "reduce", 2)
    reduced = call("list_reduce", node.this, merge, node.args["initial"])
    finish = node.args.get("finish")
    if finish is None:
        return reduced
    output = _lambda(finish, "reduce", 1)
    return _substitute(output.this, {_params(output)[0]: reduced})


def match(name: str) -> Rewrite:
    """any_match / all_match / none_match: the macro ``name`` over the predicate's results."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        array, predicate = (node.expressions + [None, None])[:2]
        _lambda(predicate, name.replace("athena_", ""), 1)
        return call(name, call("list_transform", array, predicate))

    return rewrite


def zip_with(node: exp.Anonymous) -> exp.Expr:
    """``zip_with(a, b, (x, y) -> ...)`` over positions, shorter arrays padded with NULL."""
    left, right, fn = (node.expressions + [None, None, None])[:3]
    fn = _lambda(fn, "zip_with", 2)
    x, y = _params(fn)
    index = exp.column("__i")
    body = _substitute(
        fn.this, {x: call("list_extract", left, index), y: call("list_extract", right, index)}
    )
    length = exp.Greatest(this=call("len", left.copy()), expressions=[call("len", right.copy())])
    positions = call(
        "range", exp.Literal.number(1), exp.Add(this=length, expression=exp.Literal.number(1))
    )
    return call("list_transform", positions, _new_lambda("__i", body))


def map_entries_rewrite(name: str) -> Rewrite:
    """map_filter / transform_keys / transform_values over ``map_entries``."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        source, fn = (node.expressions + [None, None])[:2]
        fn = _lambda(fn, name, 2)
        k, v = _params(fn)
        body = _substitute(fn.this, {k: _field("__e", "key"), v: _field("__e", "value")})
        entries = call("map_entries", source)
        if name == "map_filter":
            kept = call("list_filter", entries, _new_lambda("__e", body))
            return call("map_from_entries", kept)
        if name == "transform_keys":
            pair = _entry(body, _field("__e", "value"))
        else:
            pair = _entry(_field("__e", "key"), body)
        return call("map_from_entries", call("list_transform", entries, _new_lambda("__e", pair)))

    return rewrite


def map_zip_with(node: exp.Anonymous) -> exp.Expr:
    """``map_zip_with(m1, m2, (k, v1, v2) -> ...)`` over the keys of both maps."""
    left, right, fn = (node.expressions + [None, None, None])[:3]
    fn = _lambda(fn, "map_zip_with", 3)
    k, v1, v2 = _params(fn)
    key = exp.column("__k")
    body = _substitute(
        fn.this,
        {
            k: key,
            v1: call("map_extract_value", left, key),
            v2: call("map_extract_value", right, key),
        },
    )
    keys = call(
        "athena_array_distinct",
        call("list_concat", call("map_keys", left.copy()), call("map_keys", right.copy())),
    )
    pairs = call("list_transform", keys, _new_lambda("__k", _entry(key.copy(), body)))
    return call("map_from_entries", pairs)


def concat(node: exp.DPipe) -> exp.Expr:
    """``ARRAY[1] || 2`` and ``2 || ARRAY[1]``: Trino appends an element; DuckDB needs a call."""
    left, right = node.this, node.expression
    if isinstance(left, exp.Array) and not isinstance(right, exp.Array):
        return call("list_append", left, right)
    if isinstance(right, exp.Array) and not isinstance(left, exp.Array):
        return call("list_prepend", left, right)
    return node


def sequence(node: exp.GenerateSeries) -> exp.Expr:
    """``sequence``: dates and descending integer ranges as Trino makes them."""
    step = node.args.get("step")
    if step is None:
        return call("athena_sequence", node.args["start"], node.args["end"])
    return call("athena_sequence_step", node.args["start"], node.args["end"], step)


def array_sort(node: exp.ArraySort) -> exp.Expr:
    """``array_sort(x)`` as is; with a comparator lambda it is refused (DuckDB has none)."""
    if node.args.get("expression") is not None:
        raise unsupported("array_sort")
    return node


def _is_map(node: exp.Expr) -> bool:
    if isinstance(node, exp.Map | exp.VarMap | exp.MapFromEntries | exp.StrToMap):
        return True
    if isinstance(node, exp.Cast):
        return node.to.this == exp.DType.MAP
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower() in _MAP_FUNCTIONS
    return False


def _resolves_to_map(column: exp.Expr) -> bool:
    """Whether a column of a CTE, derived table or VALUES list is defined by a map expression."""
    if _is_map(column):
        return True
    if not isinstance(column, exp.Column):
        return False
    select = column.find_ancestor(exp.Select)
    while select is not None:
        for values in select.find_all(exp.Values):
            alias = values.args.get("alias")
            names = [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
            rows = values.expressions
            if column.name in names and rows and isinstance(rows[0], exp.Tuple):
                first = rows[0].expressions
                index = names.index(column.name)
                if index < len(first) and _is_map(first[index]):
                    return True
        for source in select.find_all(exp.CTE, exp.Subquery):
            query = source.this
            if not isinstance(query, exp.Select):
                continue
            for projection in query.expressions:
                if projection.alias_or_name == column.name:
                    inner = projection.this if isinstance(projection, exp.Alias) else projection
                    if _is_map(inner):
                        return True
        select = select.find_ancestor(exp.Select)
    return False


def unnest(node: exp.Unnest) -> exp.Expr:
    """Multi-array UNNEST and UNNEST of a map or of rows, as a lateral subquery."""
    alias = node.args.get("alias")
    columns = list(alias.columns) if isinstance(alias, exp.TableAlias) else []
    offset = node.args.get("offset")
    arrays = node.expressions
    if len(arrays) == 1 and len(columns) <= 1:
        return node  # DuckDB's own UNNEST (WITH ORDINALITY included)
    if not isinstance(node.parent, exp.From | exp.Join):
        return node
    select: list[exp.Expr] = []
    if len(arrays) == 1:
        array = arrays[0]
        entries = call("map_entries", array) if _resolves_to_map(array) else array
        recursive = exp.PropertyEQ(this=exp.to_identifier("recursive"), expression=exp.true())
        select.append(exp.Explode(this=entries, expressions=[recursive]))
    else:
        for array, name in zip(arrays, columns, strict=False):
            select.append(exp.alias_(exp.Explode(this=array.copy()), name.name))
    if isinstance(offset, exp.Identifier):
        longest = [call("len", a.copy()) for a in arrays]
        length = (
            longest[0]
            if len(longest) == 1
            else exp.Greatest(this=longest[0], expressions=longest[1:])
        )
        positions = call(
            "range", exp.Literal.number(1), exp.Add(this=length, expression=exp.Literal.number(1))
        )
        select.append(exp.alias_(exp.Explode(this=positions), offset.name))
        columns = [*columns, offset.copy()]
    table = exp.TableAlias(
        this=alias.this.copy()
        if isinstance(alias, exp.TableAlias) and alias.this
        else exp.to_identifier("_u"),
        columns=[c.copy() for c in columns],
    )
    return exp.Subquery(this=exp.select(*select), alias=table)
