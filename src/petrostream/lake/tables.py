"""The lake's Apache Iceberg tables: where the catalog lives, what each table is, one commit.

The three tables (``sensors``, ``alerts``, ``rejects``) live in one pyiceberg catalog:
locally a `SqlCatalog` in a SQLite file under the home with the warehouse in the lake
root (a folder, or ``s3://…`` through pyarrow's S3 filesystem); on AWS the Glue Data
Catalog. Every table is defined here once:

* ``sensors``: the canonical record columns (``ts`` and ``source_ts`` timestamp µs UTC,
  as Iceberg requires), partitioned by ``day(ts)`` and ``bucket(16, well_id)``, sorted
  by ``well_id, ts``. A bucket, not the identity of ``well_id``: at 1,000 wells an
  identity partition makes 1,000 tiny files per flush (issue 16.3), while a query for
  one well still prunes to the one bucket that well hashes to.
* ``rejects``: dead-letter records, by ``day(arrival)``.
* ``alerts``: the alert log, by ``day(ts)`` and ``bucket(16, well_id)``.

`commit_append` is the one way data enters a table: a new column is added by name
(``union_by_name``, never dropped) in the same transaction as the rows, and the
snapshot's summary carries the writer's checkpoint (``petrostream.checkpoint.<shard>``
= the last sequence number covered). `writer_checkpoint` finds it again after a
restart: the checkpoint of the newest snapshot this writer made.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from petrostream import schema

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

NAMESPACE: Final = "petrostream_db"
CATALOG_NAME: Final = "petrostream"
CATALOG_FILE: Final = "lake-catalog.db"  # under the home
WRITER_KEY: Final = "petrostream.writer"
CHECKPOINT_PREFIX: Final = "petrostream.checkpoint."
CARRIED_KEY: Final = "petrostream.checkpoint-of"  # a maintenance snapshot carries it forward
BUCKETS: Final = 16
SENSORS: Final = "sensors"
ALERTS: Final = "alerts"
REJECTS: Final = "rejects"
# Parquet as pyiceberg writes it: zstd (level measured in benchmarks/RESULTS.md).
WRITE_PROPERTIES: Final[dict[str, str]] = {
    "write.parquet.compression-codec": "zstd",
    "write.parquet.compression-level": "9",
    "write.parquet.row-group-limit": "1048576",
    "format-version": "2",
}


@dataclass(frozen=True, slots=True)
class TableDef:
    """One lake table: its columns (Arrow), partition source columns, sort columns."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (name, logical type of schema.COLUMN_TYPES)
    day_of: str  # the timestamp partitioned by day
    bucket_of: str | None  # the string partitioned by bucket(16)
    sort: tuple[str, ...]

    @property
    def identifier(self) -> str:
        """``petrostream_db.<name>``."""
        return f"{NAMESPACE}.{self.name}"


SENSORS_DEF: Final = TableDef(
    "sensors",
    tuple((c, schema.COLUMN_TYPES[c]) for c in schema.RECORD_COLUMNS),
    "ts",
    "well_id",
    ("well_id", "ts"),
)
REJECTS_DEF: Final = TableDef(
    "rejects",
    (
        ("reason", "string"),
        ("detail", "string"),
        ("payload", "string"),
        ("payload_encoding", "string"),
        ("shard_id", "string"),
        ("sequence_number", "string"),
        ("arrival", "timestamp"),
        ("consumer", "string"),
    ),
    "arrival",
    None,
    ("arrival",),
)
ALERTS_DEF: Final = TableDef(
    "alerts",
    (
        *((c, "string") for c in ("alert_id", "well_id", "instance_id", "rule")),
        *((c, "string") for c in ("category", "severity", "status")),
        ("ts", "timestamp"),
        ("opened_at", "timestamp"),
        ("sensor", "string"),
        ("value", "double"),
        ("message", "string"),
        ("incident_id", "string"),
        ("diagnosis", "string"),
        ("confidence", "double"),
    ),
    "ts",
    "well_id",
    ("well_id", "ts"),
)
DEFS: Final[dict[str, TableDef]] = {d.name: d for d in (SENSORS_DEF, ALERTS_DEF, REJECTS_DEF)}


def catalog_properties(home: Path | str, lake_uri: str) -> dict[str, str]:
    """The properties with which ``pyiceberg.catalog.load_catalog(**props)`` opens the lake.

    A folder lake's warehouse is a ``file://`` URI; an ``s3://`` lake's stays as it is.
    """
    db = Path(home).resolve() / CATALOG_FILE
    warehouse = lake_uri if "://" in lake_uri else Path(lake_uri).resolve().as_uri()
    props = {
        "name": CATALOG_NAME,
        "type": "sql",
        "uri": f"sqlite:///{db.as_posix()}",
        "warehouse": warehouse,
        "py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
    }
    if lake_uri.startswith("s3://"):
        props.update(s3_properties())
    return props


def s3_properties() -> dict[str, str]:
    """Pyiceberg's ``s3.*`` properties for the S3 endpoint and region boto3 resolves.

    pyiceberg builds its own S3 filesystem, which does not read ``AWS_ENDPOINT_URL``;
    an endpoint other than AWS's own (MinIO, moto) is passed on explicitly.
    Credentials stay with the standard AWS chain.
    """
    import boto3

    session = boto3.session.Session()
    props = {"s3.region": session.region_name or "us-east-1"}
    endpoint = session.client("s3").meta.endpoint_url
    if endpoint and not endpoint.endswith(".amazonaws.com"):
        props["s3.endpoint"] = endpoint
    return props


def open_catalog(home: Path | str, lake_uri: str) -> Catalog:
    """The lake's local SQL catalog (created with its namespace if missing)."""
    from pyiceberg.catalog import load_catalog

    Path(home).mkdir(parents=True, exist_ok=True)
    if "://" not in lake_uri:
        Path(lake_uri).mkdir(parents=True, exist_ok=True)
    props = catalog_properties(home, lake_uri)
    catalog = load_catalog(props.pop("name"), **props)
    catalog.create_namespace_if_not_exists(NAMESPACE)
    return catalog


def _iceberg_type(logical: str) -> Any:
    from pyiceberg.types import DoubleType, IntegerType, StringType, TimestamptzType

    return {
        "string": StringType(),
        "double": DoubleType(),
        "int": IntegerType(),
        "timestamp": TimestamptzType(),
    }[logical]


def open_table(catalog: Catalog, name: str) -> Table:
    """Table ``name`` of the lake, created from its `TableDef` if missing."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table.sorting import SortField, SortOrder
    from pyiceberg.transforms import BucketTransform, DayTransform, IdentityTransform
    from pyiceberg.types import NestedField

    d = DEFS[name]
    ids = {c: i for i, (c, _) in enumerate(d.columns, start=1)}
    fields = [NestedField(ids[c], c, _iceberg_type(t), required=False) for c, t in d.columns]
    parts = [PartitionField(ids[d.day_of], 1000, DayTransform(), f"{d.day_of}_day")]
    if d.bucket_of:
        bucket: BucketTransform[str] = BucketTransform(BUCKETS)
        parts.append(PartitionField(ids[d.bucket_of], 1001, bucket, f"{d.bucket_of}_bucket"))
    order = SortOrder(*(SortField(ids[c], IdentityTransform()) for c in d.sort))
    return catalog.create_table_if_not_exists(
        d.identifier,
        Schema(*fields),
        partition_spec=PartitionSpec(*parts),
        sort_order=order,
        properties=WRITE_PROPERTIES,
    )


def to_table_types(data: pa.Table) -> pa.Table:
    """``data`` with timestamps in µs UTC (Iceberg has no ms) and dictionaries decoded."""
    import pyarrow as pa

    columns = []
    for field in data.schema:
        column = data.column(field.name)
        if pa.types.is_timestamp(field.type) and field.type.unit != "us":
            column = column.cast(pa.timestamp("us", tz=field.type.tz or "UTC"))
        elif pa.types.is_dictionary(field.type):
            column = column.cast(field.type.value_type)
        columns.append(column)
    return pa.table(columns, names=data.column_names)


def sort_rows(data: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """Rows in the table's sort order (stable): pyiceberg writes them as given."""
    present = [(k, "ascending") for k in keys if k in data.column_names]
    return data.sort_by(present) if present and data.num_rows > 1 else data


def commit_append(
    table: Table,
    data: pa.Table,
    *,
    writer: str | None = None,
    checkpoint: Mapping[str, str] | None = None,
) -> Table:
    """Append ``data`` as one snapshot; new columns join the schema in the same commit.

    With ``writer``, the snapshot summary names it and carries ``checkpoint``
    (``petrostream.checkpoint.<shard>``). Returns the table as committed.

    Raises:
        pyiceberg.exceptions.CommitFailedException: another commit won the race.
    """
    d = DEFS.get(table.name()[-1])
    data = to_table_types(data)
    if d is not None:
        data = sort_rows(data, d.sort)
    summary: dict[str, str] = {}
    if writer is not None:
        summary[WRITER_KEY] = writer
        summary.update({f"{CHECKPOINT_PREFIX}{s}": q for s, q in (checkpoint or {}).items()})
    with table.transaction() as tx:
        known = {f.name for f in table.schema().fields}
        if any(name not in known for name in data.column_names):
            with tx.update_schema() as update:
                update.union_by_name(data.schema)
        tx.append(data, snapshot_properties=summary)
    return table


def writer_snapshots(table: Table, writer: str) -> Iterator[Any]:
    """The table's snapshots made by ``writer``, newest first (along the current branch)."""
    snapshot = table.current_snapshot()
    while snapshot is not None:
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if props.get(WRITER_KEY) == writer:
            yield snapshot
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None


def writer_checkpoint(table: Table, writer: str) -> dict[str, str]:
    """``{shard: last sequence}`` of the newest snapshot of ``writer``; empty if none.

    A `petrostream maintain` snapshot counts too: it carries the checkpoint of the
    snapshot it rewrote, so expiring the writer's own snapshots loses nothing.
    """
    snapshot = table.current_snapshot()
    while snapshot is not None:
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if writer not in (props.get(WRITER_KEY), props.get(CARRIED_KEY)):
            parent = snapshot.parent_snapshot_id
            snapshot = table.snapshot_by_id(parent) if parent is not None else None
            continue
        return {
            k.removeprefix(CHECKPOINT_PREFIX): v
            for k, v in props.items()
            if k.startswith(CHECKPOINT_PREFIX)
        }
    return {}


def data_files(table: Table, snapshot_id: int | None = None) -> list[str]:
    """Paths of the data files of the table's current (or a given) snapshot."""
    scan = table.scan(snapshot_id=snapshot_id) if snapshot_id is not None else table.scan()
    return [task.file.file_path for task in scan.plan_files()]


def flush_summary(
    home: Path | str, lake_uri: str, writer: str
) -> tuple[int, dict[str, Any] | None]:
    """How many ``sensors`` snapshots ``writer`` made, and its last one (for a dashboard).

    ``(0, None)`` before the first flush. The last one is ``{"number": its snapshot id,
    "committed_at": ISO time, "files": data files added, "rows": rows added}``.
    """
    from datetime import UTC, datetime

    catalog = open_catalog(home, lake_uri)
    if not catalog.table_exists(SENSORS_DEF.identifier):
        return 0, None
    snapshots = list(writer_snapshots(catalog.load_table(SENSORS_DEF.identifier), writer))
    if not snapshots:
        return 0, None
    newest = snapshots[0]
    props = newest.summary.additional_properties
    at = datetime.fromtimestamp(newest.timestamp_ms / 1000, UTC).isoformat()
    return len(snapshots), {
        "number": newest.snapshot_id,
        "committed_at": at,
        "files": int(props.get("added-data-files", 0)),
        "rows": int(props.get("added-records", 0)),
    }
