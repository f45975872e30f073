"""The local query engine: DuckDB over the lake's Parquet files, as the catalog lists them.

Each catalog table becomes a view ``petrostream_db.<table>`` (and an
unqualified alias). For a local lake the view reads the catalog's file list
with ``read_parquet(..., hive_partitioning=true)``; files are grouped by their
column list so each group is read without ``union_by_name`` (which would open
every footer at bind time), and columns a group lacks are NULL of the catalog
type. Filters on ``dt`` and ``well_id`` prune files before they are opened
(DuckDB's hive filter pushdown; EXPLAIN ANALYZE shows "Scanning Files: 1/N").
For an ``s3://`` lake the view scans a pyarrow dataset over S3 (DuckDB's
httpfs extension is not bundled); pyarrow prunes partitions the same way.

After the views exist the connection gets Athena's semantics
(`athena_sql.configure`: integer division, the ``athena_*`` macros) and is
locked down: session time zone UTC, no file access outside the lake folder,
``enable_external_access=false``, ``lock_configuration=true``; on top of that
`sqlguard.prepare` refuses every statement that is not a query, and
`athena_sql.to_duckdb` (the one translation hook) rewrites Athena idioms.

Queries run concurrently, each on its own connection of a `SessionPool`, within
`QueryLimits` (memory, threads, temporary folder, result size) and a timeout.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final

import duckdb
from sqlglot import exp

from petrostream.catalog.base import Catalog, Column, DataFile, Table
from petrostream.catalog.crawler import open_lake
from petrostream.catalog.local import LocalCatalogStore
from petrostream.query.athena_sql import athena_type_name, configure, to_duckdb
from petrostream.query.base import (
    DEFAULT_LIMIT,
    DEFAULT_TIMEOUT_S,
    CatalogMissing,
    QueryError,
    QueryLimits,
    QueryResult,
    QueryTimeout,
    QueryTooLarge,
)
from petrostream.query.pruning import PrunedColumns, file_filter, prunable_block
from petrostream.query.sessions import SessionPool
from petrostream.query.sqlguard import locate_error, prepare
from petrostream.schema import COLUMN_TYPES, RECORD_COLUMNS

_DUCK_TYPES: Final[dict[str, str]] = {
    "double": "DOUBLE",
    "float": "FLOAT",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "string": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "boolean": "BOOLEAN",
    "binary": "BLOB",
}


def duck_type(glue: str) -> str:
    """DuckDB type of a Glue type name (``double`` -> ``DOUBLE``, ``decimal(p,s)`` kept)."""
    if glue.startswith("decimal"):
        return glue.upper()
    return _DUCK_TYPES.get(glue, "VARCHAR")


def view_columns(table: Table) -> list[Column]:
    """The catalog's columns, plus for ``sensors`` every canonical column not seen yet.

    The lake writer leaves out sensors that are empty in a batch, so a lake of
    instances that never measured ``qgl`` has no such column; queries written
    against DESIGN's schema still bind, reading NULL.
    """
    columns = list(table.columns)
    if table.name == "sensors":
        known = {c.name for c in columns} | {c.name for c in table.partition_keys}
        columns += [Column(c, COLUMN_TYPES[c]) for c in RECORD_COLUMNS if c not in known]
    return columns


# The day an Iceberg table partitions by (hidden partitioning): its views keep the
# ``dt`` string of the Hive layout for the queries written against it.
_DAY_OF: Final[dict[str, str]] = {"sensors": "ts", "alerts": "ts", "rejects": "arrival"}


def _derived(table: Table) -> list[str]:
    """``dt`` computed from the day column, for a table whose layout has no ``dt`` key."""
    day = _DAY_OF.get(table.name)
    if day is None or table.partition_keys or table.column_type("dt") is not None:
        return []
    return [f"strftime({_q(day)}, '%Y-%m-%d') AS dt"]


_BATCH: Final = 2_048
# Below this many files in a table, planning (about 2-3 ms: evaluating the constants,
# a temporary view) costs more than reading every file saves (benchmarks/RESULTS.md).
PRUNE_MIN_FILES: Final = 16
# The DuckDB types a constant compared with ``ts`` may have for pruning (not VARCHAR:
# Trino refuses ``ts > '2026-01-01'``, and its meaning would be the translation's; not
# nanoseconds, which do not convert to microseconds exactly).
_INSTANT_TYPES: Final = frozenset(
    {"TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "DATE"}
)


def _approx_bytes(value: Any) -> int:
    """A cheap estimate of a value's size in a response."""
    if isinstance(value, str | bytes):
        return len(value) + 2
    if isinstance(value, list | tuple):
        return 2 + sum(_approx_bytes(v) for v in value)
    if isinstance(value, dict):
        return 2 + sum(_approx_bytes(k) + _approx_bytes(v) for k, v in value.items())
    return 8


def _kept(kept: set[int], data_file: DataFile) -> bool:
    return id(data_file) in kept


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine:
    """`QueryEngine` over the local (or S3) lake described by a catalog.

    Thread-safe: queries run side by side, each on its own connection of a
    `SessionPool` (at most ``limits.concurrent``), so one engine may be shared
    by threads (the dashboard). `refresh` switches to a new catalog.

    Args:
        catalog: the tables to query.
        threads: DuckDB threads per query (overrides ``limits.threads``).
        limits: memory, concurrency, temporary folder and result size per query.
        prune: scan only the files of an Iceberg table a query's filters can match
            (`_prune`); False reads every file (tests and benchmarks compare both).
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        threads: int | None = None,
        limits: QueryLimits | None = None,
        prune: bool = True,
    ) -> None:
        self.catalog = catalog
        self.prune = prune
        self.limits = limits or QueryLimits()
        self._threads = threads or self.limits.threads
        self._pool = SessionPool(lambda: self._connect(self.catalog), self.limits)
        self._pool.warm()

    @classmethod
    def from_catalog_file(
        cls, path: Path, *, threads: int | None = None, limits: QueryLimits | None = None
    ) -> DuckDBEngine:
        """An engine over the catalog in ``path``.

        Raises:
            CatalogMissing: the file does not exist (no crawl yet).
        """
        catalog = LocalCatalogStore(path).load()
        if catalog is None:
            raise CatalogMissing(
                f"no catalog at {path}: run `petrostream crawl` first to catalog the lake"
            )
        return cls(catalog, threads=threads, limits=limits)

    def refresh(self, catalog: Catalog) -> None:
        """Use a new catalog (after a crawl); running queries finish on the old one."""
        self.catalog = catalog
        self._pool.renew()
        self._pool.warm()

    def close(self) -> None:
        """Close the DuckDB connections; queries still running are interrupted."""
        self._pool.close()

    @property
    def pool(self) -> SessionPool:
        """The engine's connections (`SessionPool.running` counts the queries in progress)."""
        return self._pool

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """One of the engine's locked connections, for this thread alone until the block ends."""
        with self._pool.session(timeout) as con:
            yield con

    def explain(self, sql: str, params: Mapping[str, str] | None = None) -> str:
        """EXPLAIN ANALYZE of a checked query (tests and benchmarks count files scanned)."""
        with self.connection() as con:
            prepared = self._prepare(sql, params, con)
            rows = con.execute(f"EXPLAIN ANALYZE {prepared.sql}").fetchall()
        return "\n".join(str(r[-1]) for r in rows)

    def execute(
        self,
        sql: str,
        *,
        params: Mapping[str, str] | None = None,
        limit: int | None = DEFAULT_LIMIT,
        timeout: float | None = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        """Run one read-only Athena SQL query; see `QueryEngine.execute`.

        Raises:
            QueryBusy: no session became free within ``timeout``.
            QueryTooLarge: the query ran out of memory, or its rows exceed
                ``limits.max_result_bytes``.
        """
        started = time.monotonic()
        timed_out = threading.Event()
        try:
            with self.connection(timeout) as con:
                prepared = self._prepare(sql, params, con)

                def stop() -> None:
                    timed_out.set()
                    con.interrupt()

                left = None if not timeout else max(0.001, timeout - (time.monotonic() - started))
                timer = threading.Timer(left, stop) if left else None
                if timer:
                    timer.daemon = True
                    timer.start()
                try:
                    cursor = con.execute(prepared.sql)
                    description = cursor.description or []
                    rows = self._fetch(cursor, limit)
                finally:
                    if timer:
                        timer.cancel()
        except duckdb.InterruptException as exc:
            if not timed_out.is_set():
                raise QueryError("the query was stopped: the engine is shutting down") from exc
            raise QueryTimeout(
                f"query interrupted after {timeout:g} s (--timeout); narrow it with a "
                "filter on dt or well_id"
            ) from exc
        except duckdb.OutOfMemoryException as exc:
            raise QueryTooLarge(
                f"the query needed more memory than its limit ({self.limits.memory or 'default'}"
                "); aggregate or filter more (dt, well_id), or select fewer columns"
            ) from exc
        except duckdb.IOException as exc:
            raise QueryError(
                f"the lake changed since the last crawl ({str(exc).splitlines()[0]}); "
                "run `petrostream crawl` again"
            ) from exc
        except duckdb.Error as exc:
            raise QueryError(locate_error(sql, str(exc))) from exc
        truncated = limit is not None and len(rows) > limit
        return QueryResult(
            columns=[d[0] for d in description],
            types=[athena_type_name(d[1]) for d in description],
            rows=rows[:limit] if truncated else rows,
            truncated=truncated,
            engine="local",
            sql=prepared.sql,
        )

    def _prepare(
        self, sql: str, params: Mapping[str, str] | None, con: duckdb.DuckDBPyConnection
    ) -> Any:
        def translate(ast: exp.Expr) -> str:
            return to_duckdb(self._prune(con, self._time_travel(con, ast)))

        return prepare(sql, tables=set(self.catalog.tables), params=params, translate=translate)

    # ------------------------------------------------------------ file pruning

    def _prune(self, con: duckdb.DuckDBPyConnection, ast: exp.Expr) -> exp.Expr:
        """Each reference to an Iceberg table reads only the files its WHERE can match.

        For a reference whose query block filters on the table's ``ts`` / ``dt`` /
        ``well_id`` (`pruning.file_filter`), the files whose catalog bounds cannot
        match are left out: the reference is replaced by a temporary view over the
        others (``__pruned_<table>_<n>``, replaced by the next query on this
        connection), keeping its alias. Anything `pruning` cannot prove safe reads
        every file, as without pruning; so does a table of fewer than
        `PRUNE_MIN_FILES` files, where planning costs more than it saves.
        """
        if not self.prune:
            return ast
        candidates = [
            i for i, node in enumerate(ast.find_all(exp.Table)) if self._pruned_columns(node)
        ]
        if not candidates:
            return ast
        ast = ast.copy()
        nodes = list(ast.find_all(exp.Table))
        remote = self.catalog.lake_uri.startswith("s3://")
        for n, i in enumerate(candidates):
            node = nodes[i]
            columns = self._pruned_columns(node)
            select = prunable_block(node)
            if columns is None or select is None:
                continue
            found = file_filter(select, node, columns, partial(self._instants, con))
            if found is None:
                continue
            table = self.catalog.tables[node.name.lower()]
            every = [f for p in table.partitions.values() for f in p.files.values()]
            kept = {id(f) for f in every if found.may_match(f.bounds)}
            if len(kept) == len(every):
                continue
            name = f"__pruned_{table.name}_{n}"
            if remote:
                paths = [
                    f"{p.location.split('://', 1)[-1]}/{f.name}"
                    for _, p in sorted(table.partitions.items())
                    for f in p.files.values()
                    if id(f) in kept
                ]
                source = self._arrow_source(con, table, paths, suffix=name)
            else:
                source = self._parquet_source(table, keep=partial(_kept, kept))
            con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(name)} AS {source}")
            alias = node.alias or table.name
            node.replace(exp.to_table(name).as_(alias))
        return ast

    def _pruned_columns(self, node: exp.Table) -> PrunedColumns | None:
        """The bounded columns of the Iceberg catalog table ``node`` reads, None if none."""
        if node.args.get("db") is None or node.db.lower() != self.catalog.database.lower():
            return None  # an unqualified name left by the guard is a WITH query's
        table = self.catalog.tables.get(node.name.lower())
        day = _DAY_OF.get(table.name) if table is not None else None
        if table is None or day is None or table.iceberg_metadata is None or table.partition_keys:
            return None
        if table.file_count < PRUNE_MIN_FILES:
            return None
        bucket = "well_id" if table.column_type("well_id") is not None else None
        return PrunedColumns(day=day, bucket=bucket, derived_day="dt" if _derived(table) else None)

    @staticmethod
    def _instants(con: duckdb.DuckDBPyConnection, values: list[exp.Expr]) -> list[int | None]:
        """Microseconds since the epoch of constant timestamps or dates, as DuckDB reads them.

        One query for all; if it fails (one of them is not a timestamp), one each.
        """

        def run(batch: list[exp.Expr]) -> list[int | None]:
            inner = to_duckdb(exp.select(*(v.copy().as_(f"v{i}") for i, v in enumerate(batch))))
            outer = ", ".join(
                f"typeof(v{i}), epoch_us(CAST(v{i} AS TIMESTAMPTZ))" for i in range(len(batch))
            )
            # fetchall: a result left open would block `con.register` (the S3 views)
            (row,) = con.execute(f"SELECT {outer} FROM ({inner})").fetchall()
            pairs = zip(row[::2], row[1::2], strict=True)
            return [int(us) if kind in _INSTANT_TYPES and us is not None else None
                    for kind, us in pairs]  # fmt: skip

        try:
            return run(values)
        except duckdb.Error:
            out: list[int | None] = []
            for value in values:
                try:
                    out += run([value])
                except duckdb.Error:
                    out.append(None)
            return out

    # ------------------------------------------------------------ time travel

    def _time_travel(self, con: duckdb.DuckDBPyConnection, ast: exp.Expr) -> exp.Expr:
        """``t FOR VERSION|TIMESTAMP AS OF x`` becomes a scan of that snapshot's files.

        The snapshot's planned files (pyiceberg, from the metadata file of the last
        crawl) are registered on ``con`` as an Arrow dataset with the table's current
        columns (a column added later reads NULL), and the table reference is
        replaced by it, keeping its alias.
        """
        pinned = [t for t in ast.find_all(exp.Table) if t.args.get("version") is not None]
        if not pinned:
            return ast
        ast = ast.copy()
        for node in [t for t in ast.find_all(exp.Table) if t.args.get("version") is not None]:
            table = self.catalog.tables.get(node.name.lower()) if node.db else None
            if table is None:
                raise QueryError(
                    f"FOR ... AS OF applies to the catalog's tables, not to {node.name}; "
                    "move it onto the table inside the WITH query"
                )
            snapshot_id = self._snapshot_id(con, table, node.args["version"])
            name = f"__snapshot_{table.name}_{snapshot_id}"
            if name not in self._registered(con):
                paths = self._snapshot_files(table, snapshot_id)
                source = self._arrow_source(con, table, paths, suffix=f"_{snapshot_id}")
                con.execute(f"CREATE TEMP VIEW {_q(name)} AS {source}")
            alias = node.alias or table.name
            node.replace(exp.to_table(name).as_(alias))
        return ast

    @staticmethod
    def _registered(con: duckdb.DuckDBPyConnection) -> set[str]:
        rows = con.execute("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()
        return {r[0] for r in rows}

    def _iceberg(self, table: Table) -> Any:
        from pyiceberg.table import StaticTable

        from petrostream.lake.tables import s3_properties

        if table.iceberg_metadata is None:
            raise QueryError(
                f"{table.name} is not an Iceberg table in this catalog, so it has no "
                "snapshots to travel to; drop FOR ... AS OF (or run `petrostream crawl`)"
            )
        props = {"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO"}
        if table.iceberg_metadata.startswith("s3://"):
            props.update(s3_properties())
        return StaticTable.from_metadata(table.iceberg_metadata, properties=props)

    def _snapshot_id(self, con: duckdb.DuckDBPyConnection, table: Table, version: exp.Expr) -> int:
        """The snapshot ``FOR VERSION AS OF id`` or ``FOR TIMESTAMP AS OF t`` names."""
        ice = self._iceberg(table)
        snapshots = sorted(ice.snapshots(), key=lambda s: s.timestamp_ms)
        listed = (
            ", ".join(f"{s.snapshot_id} ({_utc(s.timestamp_ms)})" for s in snapshots[-5:]) or "none"
        )
        value = version.expression
        if version.name.upper() == "VERSION":
            if not (isinstance(value, exp.Literal) and re.fullmatch(r"-?\d+", value.name)):
                raise QueryError(
                    f"FOR VERSION AS OF takes a snapshot id (an integer), not {value.sql()}; "
                    f"{table.name}'s latest snapshots: {listed}"
                )
            snapshot = ice.snapshot_by_id(int(value.name))
            if snapshot is None:
                raise QueryError(
                    f"{table.name} has no snapshot {value.name} (expired, or newer than the "
                    f"last `petrostream crawl`); its latest snapshots: {listed}"
                )
            return int(snapshot.snapshot_id)
        try:
            when = con.execute(
                to_duckdb(exp.select(exp.cast(value.copy(), "TIMESTAMPTZ")))
            ).fetchone()
        except duckdb.Error as exc:
            raise QueryError(
                f"FOR TIMESTAMP AS OF {value.sql(dialect='athena')} is not a timestamp "
                f"({str(exc).splitlines()[0]}); write TIMESTAMP 'YYYY-MM-DD HH:MM:SS UTC'"
            ) from exc
        if when is None or when[0] is None:
            raise QueryError(f"FOR TIMESTAMP AS OF {value.sql()} is NULL; give a timestamp")
        at_ms = int(when[0].timestamp() * 1000)
        snapshot = ice.snapshot_as_of_timestamp(at_ms)
        if snapshot is None:
            raise QueryError(
                f"{table.name} has no snapshot at or before {_utc(at_ms)} (its first is "
                f"{_utc(snapshots[0].timestamp_ms) if snapshots else 'not made yet'}); "
                f"its latest snapshots: {listed}"
            )
        return int(snapshot.snapshot_id)

    def _snapshot_files(self, table: Table, snapshot_id: int) -> list[str]:
        ice = self._iceberg(table)
        return sorted(
            task.file.file_path.split("://", 1)[-1]
            for task in ice.scan(snapshot_id=snapshot_id).plan_files()
        )

    def _fetch(self, cursor: duckdb.DuckDBPyConnection, limit: int | None) -> list[tuple[Any, ...]]:
        """At most ``limit + 1`` rows, stopping past ``limits.max_result_bytes``."""
        budget = self.limits.max_result_bytes
        wanted = None if limit is None else limit + 1
        rows: list[tuple[Any, ...]] = []
        size = 0
        while wanted is None or len(rows) < wanted:
            batch = cursor.fetchmany(_BATCH if wanted is None else min(_BATCH, wanted - len(rows)))
            if not batch:
                break
            if budget is not None:
                size += sum(_approx_bytes(v) for row in batch for v in row)
                if size > budget:
                    raise QueryTooLarge(
                        f"the result is larger than {budget / 1e6:g} MB after {len(rows):,} "
                        "rows; select fewer rows (LIMIT) or columns, or aggregate"
                    )
            rows.extend(batch)
        return rows

    # ------------------------------------------------------------------ views

    def _connect(self, catalog: Catalog) -> duckdb.DuckDBPyConnection:
        config: dict[str, Any] = {}
        if self._threads:
            config["threads"] = self._threads
        con = duckdb.connect(":memory:", config=config)
        con.execute("SET TimeZone='UTC'")
        self._limit(con)
        configure(con)
        con.execute(f"CREATE SCHEMA {_q(catalog.database)}")
        remote = catalog.lake_uri.startswith("s3://")
        for table in catalog.tables.values():
            source = self._arrow_source(con, table) if remote else self._parquet_source(table)
            view = f"{_q(catalog.database)}.{_q(table.name)}"
            con.execute(f"CREATE VIEW {view} AS {source}")
            con.execute(f"CREATE VIEW main.{_q(table.name)} AS SELECT * FROM {view}")
        if not remote:
            _, root = open_lake(catalog.lake_uri)
            con.execute(f"SET allowed_directories=[{_lit(root)}]")
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")
        return con

    def _limit(self, con: duckdb.DuckDBPyConnection) -> None:
        """Per-query memory and spilling: never DuckDB's default ``.tmp`` in the current folder."""
        limits = self.limits
        temp = limits.temp_directory or Path(tempfile.gettempdir()) / "petrostream-duckdb"
        try:
            temp.mkdir(parents=True, exist_ok=True)  # DuckDB creates only the last level
        except OSError as exc:
            raise QueryError(
                f"cannot create {temp} for the queries' temporary files ({exc.strerror}); "
                "check the home folder's permissions and free space"
            ) from exc
        con.execute(f"SET temp_directory={_lit(str(temp))}")
        if limits.memory:
            con.execute(f"SET memory_limit={_lit(limits.memory)}")
        if limits.max_temp_bytes:
            con.execute(f"SET max_temp_directory_size={_lit(limits.max_temp_bytes)}")

    def _parquet_source(self, table: Table, keep: Callable[[DataFile], bool] | None = None) -> str:
        """A scan of the table's files (those ``keep`` accepts), one branch per column list."""
        keys = [c.name for c in table.partition_keys]
        hive_types = ", ".join(f"{_lit(k)}: VARCHAR" for k in keys)
        groups: dict[str, list[str]] = {}
        for partition in table.partitions.values():
            for f in partition.files.values():
                if keep is None or keep(f):
                    groups.setdefault(f.schema, []).append(f"{partition.location}/{f.name}")
        columns = view_columns(table)
        if not groups:
            cols = [f"CAST(NULL AS {duck_type(c.type)}) AS {_q(c.name)}" for c in columns]
            cols += [f"CAST(NULL AS VARCHAR) AS {_q(k)}" for k in keys]
            cols += ["CAST(NULL AS VARCHAR) AS dt" for _ in _derived(table)]
            return f"SELECT {', '.join(cols) or '1 AS empty'} WHERE false"
        branches = []
        for sid, paths in sorted(groups.items()):
            present = {c.name: c.type for c in table.file_schemas.get(sid, [])}
            cols = []
            for c in columns:
                found = present.get(c.name)
                if found is None:
                    cols.append(f"CAST(NULL AS {duck_type(c.type)}) AS {_q(c.name)}")
                elif found != c.type:  # a type conflict: the catalog's type wins
                    cols.append(f"TRY_CAST({_q(c.name)} AS {duck_type(c.type)}) AS {_q(c.name)}")
                else:
                    cols.append(_q(c.name))
            cols += [_q(k) for k in keys]
            cols += _derived(table)
            files = ", ".join(_lit(p) for p in sorted(paths))
            options = f", hive_partitioning=true, hive_types={{{hive_types}}}" if keys else ""
            branches.append(f"SELECT {', '.join(cols)} FROM read_parquet([{files}]{options})")
        return "\nUNION ALL ".join(branches)

    def _arrow_source(
        self,
        con: duckdb.DuckDBPyConnection,
        table: Table,
        paths: list[str] | None = None,
        suffix: str = "",
    ) -> str:
        """A scan of a pyarrow dataset over ``paths`` (default: the catalog's files)."""
        import pyarrow as pa
        import pyarrow.dataset as ds

        fs, root = open_lake(self.catalog_uri(table))
        arrow_types = {
            "double": pa.float64(),
            "float": pa.float32(),
            "int": pa.int32(),
            "bigint": pa.int64(),
            "smallint": pa.int16(),
            "tinyint": pa.int8(),
            "boolean": pa.bool_(),
            "timestamp": pa.timestamp("us", tz="UTC"),
            "date": pa.date32(),
        }
        keys = [c.name for c in table.partition_keys]
        schema = pa.schema(
            [(c.name, arrow_types.get(c.type, pa.string())) for c in view_columns(table)]
            + [(k, pa.string()) for k in keys]
        )
        if paths is None:
            paths = [
                f"{p.location.split('://', 1)[-1]}/{f.name}"
                for _, p in sorted(table.partitions.items())
                for f in p.files.values()
            ]
        options: dict[str, Any] = {}
        if keys:
            partitioning = pa.schema([(k, pa.string()) for k in keys])
            options = {
                "partitioning": ds.partitioning(partitioning, flavor="hive"),
                "partition_base_dir": root,
            }
        dataset = ds.dataset(paths, schema=schema, format="parquet", filesystem=fs, **options)
        name = f"__arrow_{table.name}{suffix}"
        con.register(name, dataset)
        return f"SELECT {', '.join(['*', *_derived(table)])} FROM {_q(name)}"

    @staticmethod
    def catalog_uri(table: Table) -> str:
        """The table's root URI (its catalog location)."""
        return table.location
