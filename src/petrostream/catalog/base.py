"""The catalog model: database, tables, columns, partitions, files, schema history.

The catalog is what `petrostream crawl` learns from the lake's Parquet footers
and what the query engines read: the local DuckDB engine builds its views from
it, the Glue store publishes it to the AWS Glue Data Catalog for Athena.

Types are Glue/Athena (Hive) type names: ``double``, ``int``, ``bigint``,
``string``, ``timestamp``, ``date``, ``boolean``… Policy follows Glue's
crawler: columns seen for the first time are appended; a column whose type
differs from the catalog's keeps the catalog's type and the conflict is listed;
partitions and files that disappear are dropped and reported.

Pure Python (no pyarrow): the Lambda zip and the dashboard may import it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

DATABASE: Final = "petrostream_db"
TABLES: Final[tuple[str, ...]] = ("sensors", "alerts", "rejects")
CATALOG_FORMAT: Final = 1


@dataclass(frozen=True)
class Column:
    """One column: lower-case name and Glue/Athena type name."""

    name: str
    type: str


@dataclass
class DataFile:
    """One Parquet data file, as remembered by the crawler.

    Attributes:
        name: file name inside its partition folder.
        size: bytes.
        mtime: modification time (ns since the epoch; 0 when the store has none).
        rows: row count from the footer.
        schema: id of the file's column list in `Table.file_schemas`.
        bounds: for an Iceberg table's file, the lower and upper bound of the values
            of its partition source columns (``ts`` in microseconds since the epoch,
            ``well_id`` as a string), from the manifest; the query engine keeps only
            the files a query's filters can match. A column without bounds (all
            null, or a catalog crawled before) is never used to skip the file.
    """

    name: str
    size: int
    mtime: int
    rows: int
    schema: str
    bounds: dict[str, tuple[int | str, int | str]] = field(default_factory=dict)


@dataclass
class Partition:
    """One Hive partition (``dt=2024-05-01/well_id=WELL-00001``) and its files."""

    values: list[str]
    location: str
    files: dict[str, DataFile] = field(default_factory=dict)

    @property
    def file_count(self) -> int:
        """Number of data files."""
        return len(self.files)

    @property
    def bytes(self) -> int:
        """Total size of the data files."""
        return sum(f.size for f in self.files.values())

    @property
    def rows(self) -> int:
        """Total rows of the data files (from their footers)."""
        return sum(f.rows for f in self.files.values())


@dataclass
class SchemaVersion:
    """One version of a table's schema: the columns after a crawl that added some."""

    version: int
    at: str
    columns: list[Column]
    added: list[str]


@dataclass
class Conflict:
    """A file whose column type differs from the catalog's; the catalog kept its type."""

    column: str
    catalog_type: str
    found_type: str
    file: str
    at: str


@dataclass
class Table:
    """One table of the lake (`sensors`, `alerts`, `rejects`)."""

    name: str
    location: str
    columns: list[Column] = field(default_factory=list)
    partition_keys: list[Column] = field(default_factory=list)
    partitions: dict[str, Partition] = field(default_factory=dict)
    schema_versions: list[SchemaVersion] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    file_schemas: dict[str, list[Column]] = field(default_factory=dict)
    # An Iceberg table of the lake: its current metadata file (what Glue and Athena open)
    iceberg_metadata: str | None = None

    def column_type(self, name: str) -> str | None:
        """The catalog type of column ``name``, None if the table has no such column."""
        for column in self.columns:
            if column.name == name:
                return column.type
        return None

    @property
    def file_count(self) -> int:
        """Number of data files over all partitions."""
        return sum(p.file_count for p in self.partitions.values())

    @property
    def bytes(self) -> int:
        """Bytes of data files over all partitions."""
        return sum(p.bytes for p in self.partitions.values())

    @property
    def rows(self) -> int:
        """Rows over all partitions (from the footers)."""
        return sum(p.rows for p in self.partitions.values())


@dataclass
class Catalog:
    """The whole catalog of one lake: one database of tables."""

    lake_uri: str
    database: str = DATABASE
    tables: dict[str, Table] = field(default_factory=dict)
    updated_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Serialize to a JSON-ready dict (the local catalog file's content)."""
        return {
            "format": CATALOG_FORMAT,
            "database": self.database,
            "lake_uri": self.lake_uri,
            "updated_at": self.updated_at,
            "tables": {name: _table_to_dict(t) for name, t in sorted(self.tables.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalog:
        """Build a catalog from `to_dict`'s output; raises ValueError on another format."""
        if data.get("format") != CATALOG_FORMAT:
            raise ValueError(f"catalog format {data.get('format')!r}, expected {CATALOG_FORMAT}")
        return cls(
            lake_uri=data["lake_uri"],
            database=data["database"],
            updated_at=data.get("updated_at"),
            tables={name: _table_from_dict(name, t) for name, t in data["tables"].items()},
        )


class CatalogStore(Protocol):
    """Where a catalog lives: a local JSON file, or the Glue Data Catalog."""

    def load(self) -> Catalog | None:
        """Return the stored catalog, or None when nothing was stored yet.

        Raises:
            ConfigError: the stored catalog is unreadable (the message says where).
        """
        ...

    def save(self, catalog: Catalog) -> None:
        """Store ``catalog``, replacing what was there; atomic for readers (all or nothing).

        Raises:
            TransientError: the store is unavailable for now; saving again is safe.
        """
        ...


def schema_id(columns: list[Column]) -> str:
    """A short stable id of a column list (files with the same columns share it)."""
    text = ";".join(f"{c.name}:{c.type}" for c in columns)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _columns(items: list[Column]) -> list[list[str]]:
    return [[c.name, c.type] for c in items]


def _columns_from(items: list[list[str]]) -> list[Column]:
    return [Column(name, type_) for name, type_ in items]


def _file_to_list(f: DataFile) -> list[Any]:
    out: list[Any] = [f.size, f.mtime, f.rows, f.schema]
    if f.bounds:
        out.append({k: list(v) for k, v in sorted(f.bounds.items())})
    return out


def _file_from_list(name: str, item: list[Any]) -> DataFile:
    size, mtime, rows, sid = item[:4]
    bounds = {k: (lo, hi) for k, (lo, hi) in item[4].items()} if len(item) > 4 else {}
    return DataFile(name, size, mtime, rows, sid, bounds)


def _table_to_dict(t: Table) -> dict[str, Any]:
    return {
        "location": t.location,
        "columns": _columns(t.columns),
        "partition_keys": _columns(t.partition_keys),
        "file_count": t.file_count,
        "bytes": t.bytes,
        "rows": t.rows,
        "schema_versions": [
            {"version": v.version, "at": v.at, "columns": _columns(v.columns), "added": v.added}
            for v in t.schema_versions
        ],
        "conflicts": [vars(c) for c in t.conflicts],
        "file_schemas": {k: _columns(v) for k, v in sorted(t.file_schemas.items())},
        "iceberg_metadata": t.iceberg_metadata,
        "partitions": {
            key: {
                "values": p.values,
                "location": p.location,
                "file_count": p.file_count,
                "bytes": p.bytes,
                "files": {name: _file_to_list(f) for name, f in sorted(p.files.items())},
            }
            for key, p in sorted(t.partitions.items())
        },
    }


def _table_from_dict(name: str, d: dict[str, Any]) -> Table:
    return Table(
        name=name,
        location=d["location"],
        columns=_columns_from(d["columns"]),
        partition_keys=_columns_from(d["partition_keys"]),
        schema_versions=[
            SchemaVersion(v["version"], v["at"], _columns_from(v["columns"]), list(v["added"]))
            for v in d["schema_versions"]
        ],
        conflicts=[Conflict(**c) for c in d["conflicts"]],
        file_schemas={k: _columns_from(v) for k, v in d["file_schemas"].items()},
        iceberg_metadata=d.get("iceberg_metadata"),
        partitions={
            key: Partition(
                values=list(p["values"]),
                location=p["location"],
                files={name: _file_from_list(name, f) for name, f in p["files"].items()},
            )
            for key, p in d["partitions"].items()
        },
    )
