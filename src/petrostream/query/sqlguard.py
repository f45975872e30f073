"""Parse, check and transpile the user's Athena SQL with sqlglot.

`prepare` is the one gate every query passes before an engine runs it:

1. the lexer's first keyword refuses statements that are not queries (some,
   like ``ATTACH`` or ``EXPORT``, do not even parse as Trino);
2. sqlglot parses the text as Athena (Trino) SQL; a syntax error names the
   user's line and column;
3. the AST must be one read-only query (SELECT / WITH / VALUES / set
   operations); table functions and file-reading functions are refused
   wherever they appear; every table must be a catalog table or a CTE;
4. ``:name`` placeholders become literals;
5. the AST is generated in the engine's dialect: Athena itself, or DuckDB through
   the engine's translation hook (`petrostream.query.athena_sql.to_duckdb`), whose
   output passes the function check of step 3 again.

Whatever the input, `prepare` raises only `QueryError` (or its `QueryRefused`):
a statement nested too deeply for the parser is a sentence, not a RecursionError.

Errors DuckDB raises later are mapped back onto the user's text by
`locate_error`, so a message never shows only the transpiled SQL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from petrostream.catalog.base import DATABASE
from petrostream.query.base import QueryError, QueryRefused

log = logging.getLogger(__name__)

READ_DIALECT: Final = "athena"
_SHOWN: Final = 100  # characters of a long SQL line shown in a message
MAX_NESTING: Final = 64
"""Parentheses deeper than this are refused before parsing (the parser recurses per level)."""
_READ_ONLY = "queries are read-only here (SELECT, WITH, VALUES)"
_KEYWORD_REASONS: Final[dict[str, str]] = {
    **dict.fromkeys(
        ("CREATE", "DROP", "ALTER", "TRUNCATE", "COMMENT", "RENAME", "MSCK", "REPAIR"),
        "DDL would change the catalog",
    ),
    **dict.fromkeys(
        ("INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE", "UNLOAD"),
        "DML would change the lake",
    ),
    "COPY": "COPY reads or writes files",
    "ATTACH": "ATTACH opens another database",
    "DETACH": "DETACH changes the attached databases",
    "INSTALL": "INSTALL downloads extensions",
    "FORCE": "FORCE INSTALL downloads extensions",
    "LOAD": "LOAD loads extensions",
    "PRAGMA": "PRAGMA changes engine settings",
    "SET": "settings are fixed (time zone UTC, limits)",
    "RESET": "settings are fixed (time zone UTC, limits)",
    "CALL": "CALL runs procedures",
    "EXPORT": "EXPORT writes files",
    "IMPORT": "IMPORT reads files",
    "USE": "the database is always petrostream_db",
    "CHECKPOINT": "CHECKPOINT writes the database",
    "VACUUM": "VACUUM writes the database",
    "BEGIN": "transactions are not needed for read-only queries",
    "START": "transactions are not needed for read-only queries",
    "COMMIT": "transactions are not needed for read-only queries",
    "ROLLBACK": "transactions are not needed for read-only queries",
    "GRANT": "permissions are not managed here",
    "REVOKE": "permissions are not managed here",
    "PREPARE": "use --param for parameters",
    "EXECUTE": "use --param for parameters",
    "DEALLOCATE": "use --param for parameters",
    "ANALYZE": "ANALYZE writes statistics",
    "DESCRIBE": "`petrostream crawl` prints the tables and columns",
    "SHOW": "`petrostream crawl` prints the tables and columns",
    "SUMMARIZE": "use aggregate functions in a SELECT",
    "EXPLAIN": "EXPLAIN is not exposed",
}
# Functions that read files, the environment or run SQL text: refused anywhere.
_DENIED_FUNCTIONS: Final = frozenset(
    {
        "glob",
        "query",
        "query_table",
        "getenv",
        "sniff_csv",
        "csv_scan",
        "parquet_scan",
        "json_scan",
        "load_aws_credentials",
        "iceberg_scan",
        "delta_scan",
        "sqlite_scan",
        "postgres_scan",
        "mysql_scan",
        "arrow_scan",
        "arrow_scan_dumb",
        "pandas_scan",
        "python_map_function",
        "json_execute_serialized_sql",
        "set_variable",
        "getvariable",
    }
)
_DENIED_PREFIXES: Final = ("read_", "parquet_", "sqlite_", "postgres_", "mysql_", "duckdb_")
_ALLOWED_ROOTS: Final = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)


@dataclass(frozen=True)
class Prepared:
    """A checked statement: the user's text, the AST, and the SQL for the engine."""

    user_sql: str
    ast: exp.Expr
    sql: str


def _is_denied(name: str) -> bool:
    name = name.lower()
    return name in _DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES)


def pointer(sql: str, start: int, end: int | None = None) -> str:
    """``line L, column C`` plus the user's line and a caret under ``sql[start:end]``."""
    start = max(0, min(start, len(sql)))
    line_no = sql.count("\n", 0, start) + 1
    line_start = sql.rfind("\n", 0, start) + 1
    line_end = sql.find("\n", start)
    line = sql[line_start : line_end if line_end >= 0 else len(sql)]
    col = start - line_start
    width = max(1, min((end or start + 1) - start, len(line) - col))
    shown, offset = line, col
    if len(line) > _SHOWN:  # a long line: the part around the fault
        first = max(0, col - _SHOWN // 2)
        shown = ("..." if first else "") + line[first : first + _SHOWN] + "..."
        offset = col - first + (3 if first else 0)
        width = min(width, _SHOWN)
    return f"at line {line_no}, column {col + 1}:\n  {shown}\n  {' ' * offset}{'^' * width}"


def _first_line(sql: str) -> str:
    line = sql.strip().splitlines()[0] if sql.strip() else ""
    return f"in:\n  {line[:_SHOWN]}{'...' if len(line) > _SHOWN else ''}"


def _tokens(sql: str) -> list[Token]:
    try:
        return sqlglot.Dialect.get_or_raise(READ_DIALECT).tokenize(sql)
    except TokenError as exc:
        raise QueryError(f"SQL syntax error: {exc}") from exc


def _refuse(tokens: list[Token], sql: str) -> None:
    # Athena's tokenizer marks DDL with an empty HIVE_TOKEN_STREAM token: skip empty ones.
    words = [t for t in tokens if t.text]
    if not [t for t in words if t.token_type != TokenType.SEMICOLON]:
        raise QueryError("empty SQL: give one SELECT statement")
    starts = [
        t
        for prev, t in zip([None, *words], words, strict=False)
        if prev is None or prev.token_type == TokenType.SEMICOLON
    ]
    for first in starts:
        keyword = first.text.upper()
        if keyword in _KEYWORD_REASONS:
            raise QueryRefused(
                f"refused: {keyword} statements are not allowed ({_KEYWORD_REASONS[keyword]}); "
                f"{_READ_ONLY}"
            )
    for token, nxt in zip(tokens, tokens[1:], strict=False):
        if nxt.token_type == TokenType.L_PAREN and _is_denied(token.text):
            raise QueryRefused(
                f"refused: function {token.text.lower()}() reads files or the environment; "
                f"query the catalog's tables instead\n" + pointer(sql, token.start, token.end + 1)
            )


def _parse(sql: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=READ_DIALECT) if s is not None]
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        description = err.get("description", str(exc))
        line, col = err.get("line"), err.get("col")
        where = ""
        if line and col:
            lines = sql.splitlines() or [""]
            text = lines[min(line, len(lines)) - 1]
            highlight = err.get("highlight") or " "
            start_col = max(0, col - len(highlight))
            where = f"\nat line {line}, column {start_col + 1}:\n  {text}\n  "
            where += " " * start_col + "^" * max(1, len(highlight))
        raise QueryError(f"SQL syntax error: {description}{where}") from exc
    if not statements:
        raise QueryError("empty SQL: give one SELECT statement")
    if len(statements) > 1:
        raise QueryRefused("refused: one statement at a time (remove the extra ';' statements)")
    return statements[0]


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    if isinstance(node, exp.Func):
        return node.sql_name()
    return type(node).__name__


def _check_functions(ast: exp.Expr) -> None:
    for node in ast.find_all(exp.Anonymous, exp.Func):
        if _is_denied(_function_name(node)):
            raise QueryRefused(
                f"refused: function {_function_name(node).lower()}() reads files or the "
                "environment; query the catalog's tables instead"
            )


def _check_output(sql: str, dialect: str) -> None:
    """The translated SQL calls no denied function either (tokens: robust to any output)."""
    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    for token, nxt in zip(tokens, tokens[1:], strict=False):
        if nxt.token_type == TokenType.L_PAREN and _is_denied(token.text):
            raise QueryRefused(
                f"refused: the translation calls {token.text.lower()}(), which reads files; "
                "please report this query"
            )


def _check_nesting(tokens: list[Token], sql: str) -> None:
    depth = 0
    for token in tokens:
        if token.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET):
            depth += 1
            if depth > MAX_NESTING:
                raise QueryError(
                    f"the SQL nests parentheses more than {MAX_NESTING} deep; "
                    "flatten it (a WITH clause per level, or IN (...) lists)\n"
                    + pointer(sql, token.start, token.end + 1)
                )
        elif token.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET):
            depth = max(0, depth - 1)


def _check(ast: exp.Expr, sql: str, tables: set[str], database: str) -> None:
    if not isinstance(ast, _ALLOWED_ROOTS) or ast.find(exp.Into):
        kind = ast.key.upper() if not ast.find(exp.Into) else "SELECT INTO"
        raise QueryRefused(f"refused: {kind} statements are not allowed; {_READ_ONLY}")
    _check_functions(ast)
    ctes = {cte.alias_or_name.lower() for cte in ast.find_all(exp.CTE)}
    for table in ast.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise QueryRefused(
                f"refused: table function {_function_name(table.this).lower()}() in FROM; "
                "query the catalog's tables (or UNNEST) instead"
            )
        name = table.name.lower()
        db = table.db.lower()
        catalog = table.catalog.lower()
        if not db and not catalog and name in ctes:
            continue
        if name in tables and db in ("", database) and catalog in ("", "awsdatacatalog"):
            continue
        shown = ".".join(p for p in (catalog, db, table.name) if p)
        known = ", ".join(sorted(tables)) or "none yet"
        raise QueryError(
            f"unknown table {shown}: {database} has {known} "
            f"(run `petrostream crawl` to catalog new data)\n" + _locate(sql, table.name)
        )


def _literal(value: str) -> exp.Expr:
    if re.fullmatch(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?", value.strip()):
        return exp.Literal.number(value.strip())
    return exp.Literal.string(value)


def _bind(ast: exp.Expr, params: Mapping[str, str]) -> exp.Expr:
    def replace(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder):
            name = node.name
            if not name or name == "?":
                raise QueryError("positional '?' parameters are not supported; use :name")
            if name not in params:
                raise QueryError(f"the SQL uses :{name}; pass --param {name}=VALUE")
            return _literal(params[name])
        return node

    return ast.transform(replace)


def _qualify(ast: exp.Expr, tables: set[str], database: str) -> exp.Expr:
    ctes = {cte.alias_or_name.lower() for cte in ast.find_all(exp.CTE)}
    for table in ast.find_all(exp.Table):
        name = table.name.lower()
        if name in tables and not (name in ctes and not table.db):
            table.set("catalog", None)
            table.set("db", exp.to_identifier(database))
    return ast


def _translated(translate: Callable[[exp.Expr], str], ast: exp.Expr) -> str:
    try:
        return translate(ast)
    except (QueryError, RecursionError):
        raise
    except Exception as exc:  # a translation bug must not reach the user as a traceback
        log.exception("sqlguard: translating %s failed", ast.sql(dialect=READ_DIALECT))
        raise QueryError(
            f"the local engine could not translate this SQL ({type(exc).__name__}: {exc}); "
            "it may run on Athena (--engine athena); please report it"
        ) from exc


def prepare(
    sql: str,
    *,
    tables: set[str],
    params: Mapping[str, str] | None = None,
    dialect: str = "duckdb",
    database: str = DATABASE,
    translate: Callable[[exp.Expr], str] | None = None,
) -> Prepared:
    """Check that ``sql`` is one read-only query over ``tables`` and transpile it.

    Args:
        sql: the user's Athena (Trino) SQL.
        tables: the catalog's table names.
        params: values for ``:name`` placeholders.
        dialect: sqlglot dialect to generate when there is no ``translate``.
        database: the catalog database (``petrostream_db``).
        translate: the engine's hook from the checked AST to its SQL (the local
            engine's `athena_sql.to_duckdb`); its output is checked again.

    Raises:
        QueryRefused: not a read-only query, or a file-reading/table function.
        QueryError: a syntax error, an unknown table, a missing parameter, SQL nested
            too deeply, or a construct the engine cannot run; the message shows the
            user's line with a caret where it can. Nothing else is raised.
    """
    try:
        tokens = _tokens(sql)
        _refuse(tokens, sql)
        _check_nesting(tokens, sql)
        ast = _parse(sql)
        _check(ast, sql, {t.lower() for t in tables}, database)
        ast = _bind(ast, params or {})
        ast = _qualify(ast, {t.lower() for t in tables}, database)
        if translate is None:
            out = ast.sql(dialect=dialect)
        else:
            out = _translated(translate, ast)
            _check_output(out, dialect)
    except QueryError:
        raise
    except RecursionError as exc:
        raise QueryError(
            "the SQL is nested too deeply or is too long to analyse; split it into "
            "WITH clauses or shorter expressions"
        ) from exc
    except sqlglot.errors.SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise QueryError(f"cannot translate this SQL for {dialect}: {first}") from exc
    return Prepared(user_sql=sql, ast=ast, sql=out)


def _locate(sql: str, name: str) -> str:
    for token in _tokens(sql):
        if token.text.lower() == name.lower():
            return pointer(sql, token.start, token.end + 1)
    return _first_line(sql)


_NAME_PATTERNS: Final = (
    re.compile(r'column "([^"]+)"'),
    re.compile(r'Referenced table "([^"]+)"'),
    re.compile(r"name ([\w.]+) does not exist"),
    re.compile(r"argument types '(\w+)\("),
    re.compile(r'"([^"]+)"'),
)


_REWORDS: Final = (
    # DuckDB suggests settings the user cannot change: say what to do instead.
    (
        re.compile(r"^Max expression depth limit of (\d+) exceeded.*"),
        r"the SQL nests expressions more than \1 levels deep; split it into WITH clauses",
    ),
    (
        re.compile(
            r'^.*name "?(\w+)"? is not in the catalog, but it exists in the (\w+) extension.*'
        ),
        r"function \1() is not available on the local engine (DuckDB's \2 extension is not "
        r"loaded); run the query on Athena (--engine athena)",
    ),
    (re.compile(r"^Map keys must be unique.*"), "a map got the same key twice (map() or CAST)"),
    (
        re.compile(r"^Division by zero.*"),
        "division by zero; wrap the expression in try(...) to get NULL instead (as on Athena)",
    ),
)


def _reword(line: str) -> str:
    for pattern, replacement in _REWORDS:
        if pattern.match(line):
            return pattern.sub(replacement, line)
    return line


def locate_error(sql: str, message: str) -> str:
    """Turn an engine's error message into one that points into the user's SQL.

    The engine ran the transpiled text, so its own ``LINE 1: ...`` excerpt is
    dropped; the name it complains about (a column, a function) is found among
    the user's tokens and shown with a caret under the user's line.
    """
    text = message.split("\n\nLINE ")[0].split("\nLINE ")[0]
    text = re.sub(r"^\w+ Error: ", "", text.strip())
    first = _reword(text.splitlines()[0] if text else message)
    hints = [ln.strip() for ln in text.splitlines()[1:] if ln.strip().startswith("Candidate b")]
    for pattern in _NAME_PATTERNS:
        match = pattern.search(first)
        if match:
            where = _locate(sql, match.group(1).split(".")[-1])
            break
    else:
        where = _first_line(sql)
    hint = f" ({hints[0]})" if hints else ""
    return f"SQL error: {first}{hint}\n{where}"
