"""The crawler: lists the lake's data files, reads the footers of new ones, updates the catalog.

Like a Glue crawler it reads only metadata (the footer: schema and row count),
never the data, and only for files it has not seen with the same size and
modification time. Anything whose path has a segment starting with ``_`` or
``.`` is bookkeeping (the lake writer's commit log, temporary files) and is
ignored. The lake root is a local folder or ``s3://bucket/prefix``.

Exactly once for readers: an Iceberg table of the lake (``sensors``, ``rejects``
and, once migrated, ``alerts``) is cataloged from the data files of its current
snapshot (`petrostream.lake.tables`), so a killed flush's files and the inputs of
a rewrite are never counted. Folders outside the Iceberg namespace (the Hive-layout
``alerts/``) are cataloged from their files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from petrostream.catalog.base import (
    Catalog,
    Column,
    Conflict,
    DataFile,
    Partition,
    SchemaVersion,
    Table,
    schema_id,
)
from petrostream.errors import ConfigError, TransientError
from petrostream.lake.tables import NAMESPACE

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq
    from pyiceberg.table import Table as IcebergTable

Progress = Callable[[int, int], None]


@dataclass
class CrawlReport:
    """What one crawl changed; `lines()` says it in words."""

    new_tables: list[str] = field(default_factory=list)
    new_columns: list[tuple[str, Column]] = field(default_factory=list)
    new_partitions: list[tuple[str, str]] = field(default_factory=list)
    removed_partitions: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[tuple[str, Conflict]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files_read: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    # Iceberg table -> (snapshot id, its time, the columns that arrived in it), oldest first
    schema_history: dict[str, list[tuple[int, str, list[str]]]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when the crawl changed the catalog."""
        return bool(
            self.new_tables
            or self.new_columns
            or self.new_partitions
            or self.removed_partitions
            or self.conflicts
            or self.files_read
            or self.files_removed
        )

    def lines(self) -> list[str]:
        """Human-readable changes, one per line (empty list: nothing changed)."""
        out = [f"new table {t}" for t in self.new_tables]
        out += [f"new column {t}.{c.name} {c.type}" for t, c in self.new_columns]
        out += [f"new partition {t}/{k}" for t, k in self.new_partitions]
        out += [f"removed partition {t}/{k}" for t, k in self.removed_partitions]
        out += [
            f"type conflict {t}.{c.column}: catalog {c.catalog_type}, {c.file} has "
            f"{c.found_type} (kept {c.catalog_type})"
            for t, c in self.conflicts
        ]
        out += [f"skipped {p}" for p in self.problems]
        return out

    def history_lines(self) -> list[str]:
        """Each Iceberg table's schema history: the snapshot each column arrived in."""
        out = []
        for table, steps in sorted(self.schema_history.items()):
            for n, (snapshot_id, at, columns) in enumerate(steps):
                what = f"{len(columns)} columns" if n == 0 else "+ " + ", ".join(columns)
                out.append(f"schema of {table}: snapshot {snapshot_id} ({at}): {what}")
        return out

    def summary(self) -> str:
        """One line: files read, unchanged, removed."""
        line = (
            f"{self.files_read} new or changed file(s) read, {self.files_unchanged} unchanged, "
            f"{self.files_removed} removed"
        )
        return line


def open_lake(uri: str) -> tuple[pafs.FileSystem, str]:
    """Return the pyarrow filesystem and root path of a lake URI (folder or ``s3://``).

    For S3, ``AWS_ENDPOINT_URL`` (standard AWS variable) points at another endpoint
    (moto, MinIO); the region comes from ``AWS_REGION``/``AWS_DEFAULT_REGION``.
    """
    import pyarrow.fs as pafs

    if uri.startswith("s3://"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        fs = pafs.S3FileSystem(endpoint_override=endpoint, region=region or "us-east-1")
        return fs, uri.removeprefix("s3://").rstrip("/")
    local = pafs.LocalFileSystem()
    return local, os.path.abspath(uri)  # noqa: PTH100 - pyarrow wants a plain string path


def glue_type(arrow_type: pa.DataType) -> str:
    """The Glue/Athena type name of an Arrow type (``float64`` -> ``double``)."""
    import pyarrow as pa
    import pyarrow.types as t

    if t.is_dictionary(arrow_type):
        return glue_type(arrow_type.value_type)
    simple: list[tuple[Callable[[pa.DataType], bool], str]] = [
        (t.is_boolean, "boolean"),
        (t.is_int8, "tinyint"),
        (t.is_int16, "smallint"),
        (t.is_int32, "int"),
        (t.is_int64, "bigint"),
        (t.is_uint8, "smallint"),
        (t.is_uint16, "int"),
        (t.is_uint32, "bigint"),
        (t.is_uint64, "bigint"),
        (t.is_float32, "float"),
        (t.is_float64, "double"),
        (t.is_string, "string"),
        (t.is_large_string, "string"),
        (t.is_binary, "binary"),
        (t.is_large_binary, "binary"),
        (t.is_timestamp, "timestamp"),
        (t.is_date, "date"),
    ]
    for test, name in simple:
        if test(arrow_type):
            return name
    if isinstance(arrow_type, pa.Decimal128Type | pa.Decimal256Type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        return f"array<{glue_type(arrow_type.value_type)}>"
    if t.is_struct(arrow_type):
        fields = ",".join(f"{f.name}:{glue_type(f.type)}" for f in arrow_type)
        return f"struct<{fields}>"
    return "string"


@dataclass
class _Listed:
    path: str
    size: int
    mtime: int
    bounds: dict[str, tuple[int | str, int | str]] = field(default_factory=dict)


class Crawler:
    """Catalogs one lake; `crawl` is incremental and idempotent.

    Keep one crawler to crawl the same lake again and again: it remembers the
    footers it has read.
    """

    def __init__(
        self,
        lake_uri: str,
        *,
        home: Path | str | None = None,
        catalog_kind: str = "sql",
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.fs, self.root = open_lake(lake_uri)
        self.home = home  # where the lake's Iceberg catalog is (None: folders only)
        self.catalog_kind = catalog_kind  # that catalog: sql (under the home) or glue
        # A local lake is remembered by its absolute path, so queries work from any folder.
        self.lake_uri = lake_uri.rstrip("/") if lake_uri.startswith("s3://") else self.root
        self._now = now or (lambda: datetime.now(UTC))
        self._folders: dict[tuple[str, str], str] = {}  # Iceberg partition -> its folder
        self._metadata: dict[str, str] = {}  # Iceberg table -> its current metadata file
        self._history: dict[str, list[tuple[int, str, list[str]]]] = {}

    def crawl(
        self, catalog: Catalog | None, progress: Progress | None = None
    ) -> tuple[Catalog, CrawlReport]:
        """Update ``catalog`` (or a new one) from the lake; return it and what changed.

        Only files that are new or whose size or mtime changed have their footer read.
        An Iceberg table gets the files of its current snapshot only.

        Raises:
            ConfigError: the lake root cannot be listed (wrong path, no permission).
            TransientError: the object store failed (retry later).
        """
        report = CrawlReport()
        at = self._now().isoformat(timespec="seconds")
        if catalog is None or catalog.lake_uri != self.lake_uri:
            catalog = Catalog(lake_uri=self.lake_uri)
        listing = self._list(report)
        report.schema_history = self._history

        todo: list[tuple[Table, Partition, _Listed]] = []
        seen: dict[str, set[str]] = {}
        for table_name, parts in sorted(listing.items()):
            table = catalog.tables.get(table_name)
            if table is None:
                table = Table(name=table_name, location=self._uri(table_name))
                catalog.tables[table_name] = table
                report.new_tables.append(table_name)
            seen[table_name] = set(parts)
            for key, (keys, values, files) in sorted(parts.items()):
                if not table.partition_keys:
                    table.partition_keys = [Column(k, "string") for k in keys]
                elif [c.name for c in table.partition_keys] != keys:
                    expected = "/".join(c.name for c in table.partition_keys)
                    report.problems.append(
                        f"{table_name}/{key}: partition keys differ from the table's ({expected})"
                    )
                    seen[table_name].discard(key)
                    continue
                partition = table.partitions.get(key)
                if partition is None:
                    folder = self._folders.get((table_name, key), f"{table_name}/{key}")
                    partition = Partition(values=values, location=self._uri(folder))
                    table.partitions[key] = partition
                    report.new_partitions.append((table_name, key))
                names = {f.path.rsplit("/", 1)[-1]: f for f in files}
                for gone in sorted(set(partition.files) - set(names)):
                    del partition.files[gone]
                    report.files_removed += 1
                for name, listed in sorted(names.items()):
                    known = partition.files.get(name)
                    if known and known.size == listed.size and known.mtime == listed.mtime:
                        known.bounds = listed.bounds  # a catalog of before had none
                        report.files_unchanged += 1
                    else:
                        todo.append((table, partition, listed))

        for table_name, table in catalog.tables.items():
            table.iceberg_metadata = self._metadata.get(table_name)
            for key in sorted(set(table.partitions) - seen.get(table_name, set())):
                report.files_removed += table.partitions[key].file_count
                del table.partitions[key]
                report.removed_partitions.append((table_name, key))

        added: dict[str, list[str]] = {}
        for done, (table, partition, listed) in enumerate(todo, start=1):
            self._read_footer(table, partition, listed, at, report, added)
            if progress:
                progress(done, len(todo))
        for partition_table in catalog.tables.values():
            for key in [k for k, p in partition_table.partitions.items() if not p.files]:
                # Every file of a new partition was unreadable: do not catalog it.
                del partition_table.partitions[key]
                if (partition_table.name, key) in report.new_partitions:
                    report.new_partitions.remove((partition_table.name, key))
        for table_name, new_names in added.items():
            table = catalog.tables[table_name]
            table.schema_versions.append(
                SchemaVersion(len(table.schema_versions) + 1, at, list(table.columns), new_names)
            )
        for table in catalog.tables.values():
            used = {f.schema for p in table.partitions.values() for f in p.files.values()}
            table.file_schemas = {k: v for k, v in table.file_schemas.items() if k in used}
        catalog.updated_at = at
        return catalog, report

    def _uri(self, relative: str) -> str:
        return f"{self.lake_uri.rstrip('/')}/{relative}"

    def _list(
        self, report: CrawlReport
    ) -> dict[str, dict[str, tuple[list[str], list[str], list[_Listed]]]]:
        import pyarrow.fs as pafs

        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=True))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"lake {self.lake_uri} does not exist; run `petrostream run` to fill it first"
            ) from exc
        except OSError as exc:
            raise self._list_error(exc) from exc
        found: dict[str, _Listed] = {}
        iceberg = self._iceberg_files()
        self._folders = {}
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            relative = info.path[len(self.root) :].lstrip("/")
            segments = relative.split("/")
            if iceberg is not None and segments[0] == NAMESPACE:
                continue  # the Iceberg tables' files: from their snapshots, below
            if any(s.startswith(("_", ".")) for s in segments) or len(segments) < 2:
                continue
            found[relative] = _Listed(info.path, int(info.size or 0), int(info.mtime_ns or 0))

        tables: dict[str, dict[str, tuple[list[str], list[str], list[_Listed]]]] = {}
        for relative, listed in sorted(found.items()):
            segments = relative.split("/")
            table, folders = segments[0], segments[1:-1]
            if not all("=" in s for s in folders):
                report.problems.append(f"{relative}: not in the Hive layout table/key=value/file")
                continue
            keys = [s.split("=", 1)[0] for s in folders]
            values = [s.split("=", 1)[1] for s in folders]
            part = tables.setdefault(table, {}).setdefault("/".join(folders), (keys, values, []))
            part[2].append(listed)
        for table, files in (iceberg or {}).items():
            parts = tables.setdefault(table, {})
            for relative, listed in files:
                folder = relative.rsplit("/", 1)[0]
                key = folder.split("/data/", 1)[-1]
                self._folders[table, key] = folder
                parts.setdefault(key, ([], [], []))[2].append(listed)
        return tables

    def _iceberg_files(self) -> dict[str, list[tuple[str, _Listed]]] | None:
        """The data files of each Iceberg table's current snapshot; None without a catalog.

        Only these files are cataloged: a killed flush's files are in no snapshot.
        """
        if self.home is None:
            return None
        from petrostream.lake.tables import DEFS, open_catalog

        catalog = open_catalog(self.home, self.lake_uri, self.catalog_kind)
        found: dict[str, list[tuple[str, _Listed]]] = {}
        self._metadata = {}
        for name, d in DEFS.items():
            if not catalog.table_exists(d.identifier):
                continue
            files = found.setdefault(name, [])
            table = catalog.load_table(d.identifier)
            self._metadata[name] = table.metadata_location
            self._history[name] = _schema_history(table)
            bounded = _bounded_fields(table, (d.day_of, d.bucket_of))
            for task in table.scan().plan_files():
                path = task.file.file_path.split("://", 1)[-1]
                relative = path[len(self.root) :].lstrip("/")
                size = int(task.file.file_size_in_bytes)
                bounds = _file_bounds(task.file, bounded)
                files.append((relative, _Listed(path, size, 0, bounds)))
        return found

    def _list_error(self, exc: OSError) -> ConfigError | TransientError:
        if self.lake_uri.startswith("s3://"):
            return TransientError(f"cannot list lake {self.lake_uri}: {exc}")
        return ConfigError(f"cannot list lake {self.lake_uri}: {exc}")

    def _read_footer(
        self,
        table: Table,
        partition: Partition,
        listed: _Listed,
        at: str,
        report: CrawlReport,
        added: dict[str, list[str]],
    ) -> None:
        import pyarrow.parquet as pq

        name = listed.path.rsplit("/", 1)[-1]
        relative = listed.path[len(self.root) :].lstrip("/")
        try:
            with self.fs.open_input_file(listed.path) as source:
                metadata = pq.ParquetFile(source).metadata
                arrow_schema = metadata.schema.to_arrow_schema()
        except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError)
            partition.files.pop(name, None)
            report.problems.append(f"{relative}: unreadable Parquet footer ({exc})")
            return
        keys = {c.name for c in table.partition_keys}
        if table.name == "sensors" and not table.partition_keys:  # an Iceberg file
            keys |= _all_null_sensors(metadata)
        columns = [
            Column(f.name.lower(), glue_type(f.type)) for f in arrow_schema if f.name not in keys
        ]
        for column in columns:
            current = table.column_type(column.name)
            if current is None:
                table.columns.append(column)
                added.setdefault(table.name, []).append(column.name)
                report.new_columns.append((table.name, column))
            elif current != column.type:
                conflict = Conflict(column.name, current, column.type, relative, at)
                table.conflicts.append(conflict)
                report.conflicts.append((table.name, conflict))
        sid = schema_id(columns)
        table.file_schemas.setdefault(sid, columns)
        partition.files[name] = DataFile(
            name, listed.size, listed.mtime, metadata.num_rows, sid, listed.bounds
        )
        report.files_read += 1


def _bounded_fields(table: IcebergTable, names: tuple[str | None, ...]) -> list[tuple[str, Any]]:
    """(name, Iceberg field) of the columns whose per-file bounds the catalog keeps."""
    schema = table.schema()
    fields = [schema.find_field(n) for n in names if n and n in schema.column_names]
    return [(f.name, f) for f in fields]


def _file_bounds(data_file: Any, fields: list[tuple[str, Any]]) -> dict[str, tuple[Any, Any]]:
    """A data file's lower/upper bounds of ``fields`` from its manifest entry.

    Iceberg writes them for every column (a string's are truncated to 16
    characters, the upper one rounded up, so both stay bounds). A timestamp is
    kept as microseconds since the epoch, a string as itself; a column with
    no bound (all null) is left out.
    """
    from pyiceberg.conversions import from_bytes

    lower = data_file.lower_bounds or {}
    upper = data_file.upper_bounds or {}
    out: dict[str, tuple[Any, Any]] = {}
    for name, f in fields:
        lo, hi = lower.get(f.field_id), upper.get(f.field_id)
        if lo is None or hi is None:
            continue
        out[name] = (from_bytes(f.field_type, lo), from_bytes(f.field_type, hi))
    return out


def _schema_history(table: IcebergTable) -> list[tuple[int, str, list[str]]]:
    """The snapshots (oldest first) that brought new columns, with those columns.

    A column's first appearance is the first snapshot whose schema has it (the writer
    adds columns in the same commit as their rows); the first entry lists them all.
    """
    seen: set[str] = set()
    steps = []
    schemas = table.schemas()
    for snapshot in sorted(
        table.snapshots(), key=lambda s: (s.sequence_number or 0, s.timestamp_ms)
    ):
        schema = schemas.get(snapshot.schema_id) if snapshot.schema_id is not None else None
        names = [f.name for f in (schema or table.schema()).fields]
        new = [n for n in names if n not in seen]
        if new:
            at = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC)
            steps.append((snapshot.snapshot_id, at.isoformat(timespec="seconds"), new))
            seen.update(new)
    return steps


def _all_null_sensors(metadata: pq.FileMetaData) -> set[str]:
    """Sensor columns with no value in a file (an Iceberg file holds every table column).

    The catalog leaves them out of the file's columns, as the Hive-layout writer did:
    the engine reads NULL for them without opening the column, and a sensor no
    reading ever had is not listed as one the lake has.
    """
    from petrostream.schema import SENSOR_COLUMNS

    empty = set()
    for i in range(metadata.num_columns):
        name = metadata.schema.column(i).name
        if name not in SENSOR_COLUMNS:
            continue
        groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
        stats = [g.column(i).statistics for g in groups]
        if all(st is not None and st.has_null_count for st in stats) and all(
            st.null_count == g.num_rows for st, g in zip(stats, groups, strict=True)
        ):
            empty.add(name)
    return empty
