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

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from petrostream import schema
from petrostream.lake.base import FLOAT_ENCODING, parquet_encodings

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyiceberg.catalog import Catalog
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.partitioning import PartitionKey
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table
    from pyiceberg.table.metadata import TableMetadata

NAMESPACE: Final = "petrostream_db"
CATALOG_NAME: Final = "petrostream"
CATALOG_FILE: Final = "lake-catalog.db"  # under the home
WRITER_KEY: Final = "petrostream.writer"
CHECKPOINT_PREFIX: Final = "petrostream.checkpoint."
CARRIED_KEY: Final = "petrostream.checkpoint-of"  # a maintenance snapshot carries it forward
BUCKETS: Final = 16
ROW_GROUP_ROWS: Final = 1024 * 1024  # pyarrow's default, as the Hive-layout writer had it
SENSORS: Final = "sensors"
ALERTS: Final = "alerts"
REJECTS: Final = "rejects"
# Table properties. PetroStream writes its data files itself (`write_data_files`: the
# encodings of `lake.base.parquet_encodings`, zstd at Arrow's default level); these say
# the same to other writers (Athena, Spark). Old metadata files are deleted on commit
# (every commit writes one, listing all snapshots: `maintain` expires those).
WRITE_PROPERTIES: Final[dict[str, str]] = {
    "write.parquet.compression-codec": "zstd",
    "write.parquet.row-group-limit": "1048576",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "10",
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


def catalog_properties(home: Path | str, lake_uri: str, kind: str = "sql") -> dict[str, str]:
    """The properties with which ``pyiceberg.catalog.load_catalog(**props)`` opens the lake.

    ``kind`` ``sql``: a SQLite file under the home; ``glue``: the Glue Data Catalog of
    the region boto3 resolves (the endpoint too, when it is not AWS's own: moto).
    A folder lake's warehouse is a ``file://`` URI; an ``s3://`` lake's stays as it is.
    """
    warehouse = lake_uri if "://" in lake_uri else Path(lake_uri).resolve().as_uri()
    if kind == "glue":
        glue = {"name": CATALOG_NAME, "type": "glue", "warehouse": warehouse}
        glue["py-io-impl"] = "pyiceberg.io.pyarrow.PyArrowFileIO"
        glue.update(_aws_properties("glue"))
        if lake_uri.startswith("s3://"):
            glue.update(s3_properties())
        return glue
    db = Path(home).resolve() / CATALOG_FILE
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
    return _aws_properties("s3")


def _aws_properties(service: str) -> dict[str, str]:
    """``<service>.region`` and, when it is not AWS's own, ``<service>.endpoint``."""
    import boto3

    session = boto3.session.Session()
    props = {f"{service}.region": session.region_name or "us-east-1"}
    endpoint = session.client(service).meta.endpoint_url
    if endpoint and not endpoint.endswith(".amazonaws.com"):
        props[f"{service}.endpoint"] = endpoint
    return props


def open_catalog(home: Path | str, lake_uri: str, kind: str = "sql") -> Catalog:
    """The lake's catalog, ``kind`` ``sql`` or ``glue`` (created with its namespace if missing).

    The Glue database is Terraform's (``petrostream_db``); on AWS the tables are made
    by `open_table` on first use (``petrostream lake init``), before Firehose writes.
    """
    from pyiceberg.catalog import load_catalog

    Path(home).mkdir(parents=True, exist_ok=True)
    if "://" not in lake_uri:
        Path(lake_uri).mkdir(parents=True, exist_ok=True)
    props = catalog_properties(home, lake_uri, kind)
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
    # <warehouse>/petrostream_db/<table> in every catalog (Glue's default adds ".db"):
    # one layout, and the prefix Terraform's IAM policies name.
    warehouse = catalog.properties.get("warehouse")
    location = f"{warehouse.rstrip('/')}/{NAMESPACE}/{d.name}" if warehouse else None
    return catalog.create_table_if_not_exists(
        d.identifier,
        Schema(*fields),
        location=location,
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
    data: pa.Table | Sequence[pa.Table],
    *,
    writer: str | None = None,
    checkpoint: Mapping[str, str] | None = None,
    codec: str = "zstd",
    float_encoding: str = FLOAT_ENCODING,
) -> Table:
    """Append ``data`` as one snapshot; new columns join the schema in the same commit.

    ``data`` is one table, or several (the lake writer hands one per partition, so
    nothing is split or copied whole). One transaction: the schema update
    (``union_by_name``), then the Parquet files `write_data_files` writes, then a fast
    append of those files whose snapshot summary names ``writer`` and carries
    ``checkpoint`` (``petrostream.checkpoint.<shard>``). The files are in no snapshot
    until the catalog commit succeeds: a reader never sees them before, and a failed
    or killed commit leaves orphans that `petrostream maintain` deletes. Returns the
    table as committed.

    Raises:
        pyiceberg.exceptions.CommitFailedException: another commit won the race.
    """
    import pyarrow as pa

    d = DEFS.get(table.name()[-1])
    parts = [to_table_types(p) for p in ([data] if isinstance(data, pa.Table) else data)]
    summary: dict[str, str] = {}
    if writer is not None:
        summary[WRITER_KEY] = writer
        summary.update({f"{CHECKPOINT_PREFIX}{s}": q for s, q in (checkpoint or {}).items()})
    with table.transaction() as tx:
        known = {f.name for f in table.schema().fields}
        if any(name not in known for part in parts for name in part.column_names):
            with tx.update_schema() as update:
                update.union_by_name(pa.unify_schemas([p.schema for p in parts]))
        files = write_data_files(
            tx.table_metadata,
            table.io,
            parts,
            sort=d.sort if d is not None else (),
            codec=codec,
            float_encoding=float_encoding,
        )
        with tx.update_snapshot(snapshot_properties=summary).fast_append() as append:
            for data_file in files:
                append.append_data_file(data_file)
    return table


def write_data_files(
    metadata: TableMetadata,
    io: FileIO,
    parts: Sequence[pa.Table],
    *,
    sort: tuple[str, ...] = (),
    codec: str = "zstd",
    float_encoding: str = FLOAT_ENCODING,
) -> list[DataFile]:
    """Write ``parts`` as Parquet files, one per partition of the table's spec; commit nothing.

    pyiceberg's own writer has no per-column encodings, so the files are written here
    with pyarrow as the Hive-layout lake wrote them (`petrostream.lake.base.
    parquet_encodings`: doubles BYTE_STREAM_SPLIT, timestamps DELTA_BINARY_PACKED,
    the rest dictionary; ``codec`` at Arrow's default level; row groups of up to
    1,048,576 rows), rows sorted by ``sort``. A part whose rows all fall in one
    partition is one file as it is; any other is split by partition first. Each file
    holds its part's columns only (a column a file lacks reads as null in every
    Iceberg reader), with their Iceberg field ids, so every column must be in the
    table's schema. Returns the `DataFile` entries (partition values, sizes, column
    statistics) to commit.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = metadata.schema()
    written = []
    for part in parts:
        if not part.num_rows:
            continue
        file_schema = schema.select(*part.column_names)
        arrow_schema = _file_arrow_schema(file_schema)
        typed = pa.Table.from_arrays(
            [part.column(f.name).cast(f.type) for f in arrow_schema], schema=arrow_schema
        )
        for key, rows in _by_partition(metadata, typed):
            rows = sort_rows(rows, sort)
            sink = pa.BufferOutputStream()
            with pq.ParquetWriter(
                sink,
                rows.schema,
                compression=None if codec == "none" else codec,
                **parquet_encodings(rows.schema, float_encoding),
            ) as parquet:
                parquet.write_table(rows, row_group_size=ROW_GROUP_ROWS)
            written.append(_put_data_file(metadata, io, file_schema, key, sink, parquet))
    return written


def _by_partition(metadata: TableMetadata, rows: pa.Table) -> list[tuple[PartitionKey, pa.Table]]:
    """``rows`` by partition of the table's spec: as they are if all in one partition."""
    import pyarrow.compute as pc
    from pyiceberg.io.pyarrow import _determine_partitions
    from pyiceberg.partitioning import PartitionFieldValue, PartitionKey

    spec, schema = metadata.spec(), metadata.schema()
    values = []
    for field in spec.fields:
        source = schema.find_field(field.source_id)
        column = rows.column(source.name)
        transformed = field.transform.pyarrow_transform(source.field_type)(column)
        bounds = pc.min_max(transformed)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if transformed.null_count or low != high:
            parts = _determine_partitions(spec, schema, rows)
            return [(p.partition_key, p.arrow_table_partition) for p in parts]
        values.append(PartitionFieldValue(field=field, value=low))
    return [(PartitionKey(field_values=values, partition_spec=spec, schema=schema), rows)]


def well_bucket(well_id: str) -> int:
    """The ``bucket(16, well_id)`` partition value of a well (Iceberg's murmur3 bucket)."""
    value = _bucket()(well_id)
    assert value is not None  # noqa: S101 - a string always has a bucket
    return value


@functools.cache
def _bucket() -> Callable[[Any], int | None]:
    from pyiceberg.transforms import BucketTransform
    from pyiceberg.types import StringType

    return BucketTransform(BUCKETS).transform(StringType())


def _file_arrow_schema(file_schema: Schema) -> pa.Schema:
    """The Arrow schema of a data file: Iceberg field ids, plain (not large) strings."""
    import pyarrow as pa
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    fields = []
    for f in schema_to_pyarrow(file_schema, include_field_ids=True):
        kind = pa.string() if pa.types.is_large_string(f.type) else f.type
        fields.append(f.with_type(kind))
    return pa.schema(fields)


def _put_data_file(
    metadata: TableMetadata,
    io: FileIO,
    file_schema: Schema,
    key: PartitionKey,
    sink: pa.BufferOutputStream,
    parquet: pq.ParquetWriter,
) -> DataFile:
    """Put one serialized file at a new data location (one PUT); its `DataFile` entry."""
    import uuid

    from pyiceberg.io.pyarrow import (
        compute_statistics_plan,
        data_file_statistics_from_parquet_metadata,
        parquet_path_to_id_mapping,
    )
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.table.locations import load_location_provider

    provider = load_location_provider(metadata.location, metadata.properties)
    path = provider.new_data_location(f"{uuid.uuid4()}.parquet", partition_key=key)
    payload = sink.getvalue()
    with io.new_output(path).create(overwrite=True) as out:
        out.write(payload)
    stats = data_file_statistics_from_parquet_metadata(
        parquet_metadata=parquet.writer.metadata,
        stats_columns=compute_statistics_plan(file_schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(file_schema),
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=key.partition,
        file_size_in_bytes=payload.size,
        sort_order_id=None,
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **stats.to_serialized_dict(),
    )


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
    home: Path | str, lake_uri: str, writer: str, kind: str = "sql"
) -> tuple[int, dict[str, Any] | None]:
    """How many ``sensors`` snapshots ``writer`` made, and its last one (for a dashboard).

    ``(0, None)`` before the first flush. The last one is ``{"number": its snapshot id,
    "committed_at": ISO time, "files": data files added, "rows": rows added}``.
    """
    from datetime import UTC, datetime

    catalog = open_catalog(home, lake_uri, kind)
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
