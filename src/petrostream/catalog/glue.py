"""The AWS Glue Data Catalog as a catalog store (what Athena reads).

`GlueCatalogStore.save` publishes a crawled catalog: it creates the database
if needed, creates or updates each table (an Iceberg table as Glue holds one: its
current metadata file; a Hive-layout table: Parquet storage descriptor, Hive
partition keys) and brings a Hive table's partitions in line: new ones created in
batches of 100, changed ones updated, vanished ones deleted in batches of 25
(the API limits). The crawler's per-file memory stays in the local catalog;
Glue gets what Athena needs. Endpoint and credentials come from the standard
AWS variables (``AWS_ENDPOINT_URL`` points it at moto in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from petrostream.catalog.base import Catalog, Column, Partition, Table
from petrostream.errors import ConfigError, TransientError

PARQUET_SERDE: Final = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT: Final = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT: Final = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
_CREATE_BATCH: Final = 100
_DELETE_BATCH: Final = 25


@dataclass
class GlueSyncReport:
    """What a publish changed in Glue."""

    created_database: bool = False
    created_tables: list[str] = field(default_factory=list)
    updated_tables: list[str] = field(default_factory=list)
    created_partitions: int = 0
    updated_partitions: int = 0
    deleted_partitions: int = 0

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"glue: {'created' if self.created_database else 'kept'} database, "
            f"{len(self.created_tables)} table(s) created, {len(self.updated_tables)} updated, "
            f"partitions +{self.created_partitions} ~{self.updated_partitions} "
            f"-{self.deleted_partitions}"
        )


def _storage(columns: list[Column], location: str) -> dict[str, Any]:
    return {
        "Columns": [{"Name": c.name, "Type": c.type} for c in columns],
        "Location": location.rstrip("/") + "/",
        "InputFormat": PARQUET_INPUT,
        "OutputFormat": PARQUET_OUTPUT,
        "Compressed": False,
        "SerdeInfo": {
            "SerializationLibrary": PARQUET_SERDE,
            "Parameters": {"serialization.format": "1"},
        },
    }


def table_input(table: Table) -> dict[str, Any]:
    """The Glue ``TableInput`` of a catalog table.

    An Iceberg table (``sensors``, ``rejects``) is registered as Glue holds Iceberg
    tables (as pyiceberg's Glue catalog and Athena write them): ``table_type``
    ``ICEBERG`` and its current ``metadata_location``, no Hive partitions (the
    metadata lists the files and their partition values). A Hive-layout table
    (``alerts``) is an external Parquet table with Hive partition keys.
    """
    if table.iceberg_metadata is not None:
        location = table.iceberg_metadata.rsplit("/metadata/", 1)[0]
        return {
            "Name": table.name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "table_type": "ICEBERG",
                "metadata_location": table.iceberg_metadata,
                "EXTERNAL": "TRUE",
                "petrostream_schema_version": str(len(table.schema_versions)),
            },
            "PartitionKeys": [],
            "StorageDescriptor": {
                "Columns": [{"Name": c.name, "Type": c.type} for c in table.columns],
                "Location": location,
            },
        }
    return {
        "Name": table.name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "parquet",
            "EXTERNAL": "TRUE",
            "petrostream_schema_version": str(len(table.schema_versions)),
        },
        "PartitionKeys": [{"Name": c.name, "Type": c.type} for c in table.partition_keys],
        "StorageDescriptor": _storage(table.columns, table.location),
    }


def partition_input(table: Table, partition: Partition) -> dict[str, Any]:
    """The Glue ``PartitionInput`` of one partition (its file count and size as parameters)."""
    return {
        "Values": list(partition.values),
        "StorageDescriptor": _storage(table.columns, partition.location),
        "Parameters": {
            "numFiles": str(partition.file_count),
            "totalSize": str(partition.bytes),
            "recordCount": str(partition.rows),
        },
    }


class GlueCatalogStore:
    """A `CatalogStore` over the Glue Data Catalog (boto3)."""

    def __init__(self, database: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("glue")
        self.database = database
        self.client = client

    def save(self, catalog: Catalog) -> None:
        """Publish ``catalog`` to Glue (see `publish`)."""
        self.publish(catalog)

    def publish(self, catalog: Catalog) -> GlueSyncReport:
        """Create or update the database, tables and partitions of ``catalog`` in Glue.

        Idempotent: publishing the same catalog twice changes nothing the second time.

        Raises:
            TransientError: Glue failed or throttled; publishing again is safe.
            ConfigError: credentials or permissions are missing.
        """
        report = GlueSyncReport()
        try:
            self._ensure_database(report)
            for table in catalog.tables.values():
                self._put_table(table, report)
                self._sync_partitions(table, report)
        except Exception as exc:  # botocore errors: translate at the boundary
            raise _translate(exc) from exc
        return report

    def load(self) -> Catalog | None:
        """Read tables, columns and partitions back from Glue (without per-file details)."""
        try:
            self.client.get_database(Name=self.database)
        except self.client.exceptions.EntityNotFoundException:
            return None
        except Exception as exc:
            raise _translate(exc) from exc
        catalog = Catalog(lake_uri="", database=self.database)
        try:
            for page in self.client.get_paginator("get_tables").paginate(
                DatabaseName=self.database
            ):
                for t in page["TableList"]:
                    sd = t["StorageDescriptor"]
                    table = Table(
                        name=t["Name"],
                        location=sd.get("Location", "").rstrip("/"),
                        columns=[Column(c["Name"], c["Type"]) for c in sd["Columns"]],
                        partition_keys=[
                            Column(c["Name"], c["Type"]) for c in t.get("PartitionKeys", [])
                        ],
                    )
                    for values, location in self._partitions(table.name).items():
                        key = "/".join(
                            f"{c.name}={v}"
                            for c, v in zip(table.partition_keys, values, strict=True)
                        )
                        table.partitions[key] = Partition(list(values), location.rstrip("/"))
                    catalog.tables[table.name] = table
        except Exception as exc:
            raise _translate(exc) from exc
        return catalog

    def _ensure_database(self, report: GlueSyncReport) -> None:
        try:
            self.client.get_database(Name=self.database)
        except self.client.exceptions.EntityNotFoundException:
            self.client.create_database(
                DatabaseInput={
                    "Name": self.database,
                    "Description": "PetroStream lake: well sensor readings, alerts, rejects",
                }
            )
            report.created_database = True

    def _put_table(self, table: Table, report: GlueSyncReport) -> None:
        wanted = table_input(table)
        try:
            current = self.client.get_table(DatabaseName=self.database, Name=table.name)["Table"]
        except self.client.exceptions.EntityNotFoundException:
            self.client.create_table(DatabaseName=self.database, TableInput=wanted)
            report.created_tables.append(table.name)
            return
        columns = [(c["Name"], c["Type"]) for c in current["StorageDescriptor"]["Columns"]]
        keys = [(c["Name"], c["Type"]) for c in current.get("PartitionKeys", [])]
        if (
            columns != [(c.name, c.type) for c in table.columns]
            or keys != [(k["Name"], k["Type"]) for k in wanted["PartitionKeys"]]
            or current.get("Parameters", {}) != wanted["Parameters"]
        ):
            self.client.update_table(DatabaseName=self.database, TableInput=wanted)
            report.updated_tables.append(table.name)

    def _partitions(self, table: str) -> dict[tuple[str, ...], str]:
        found: dict[tuple[str, ...], str] = {}
        paginator = self.client.get_paginator("get_partitions")
        for page in paginator.paginate(DatabaseName=self.database, TableName=table):
            for p in page["Partitions"]:
                found[tuple(p["Values"])] = p["StorageDescriptor"].get("Location", "")
        return found

    def _partition_params(self, table: str) -> dict[tuple[str, ...], dict[str, str]]:
        params: dict[tuple[str, ...], dict[str, str]] = {}
        paginator = self.client.get_paginator("get_partitions")
        for page in paginator.paginate(DatabaseName=self.database, TableName=table):
            for p in page["Partitions"]:
                params[tuple(p["Values"])] = p.get("Parameters", {})
        return params

    def _sync_partitions(self, table: Table, report: GlueSyncReport) -> None:
        existing = self._partition_params(table.name)
        wanted = {
            tuple(p.values): partition_input(table, p)
            for p in table.partitions.values()
            if table.iceberg_metadata is None  # an Iceberg table has no Glue partitions
        }
        create = [wanted[v] for v in sorted(set(wanted) - set(existing))]
        update = [
            {"PartitionValueList": list(v), "PartitionInput": wanted[v]}
            for v in sorted(set(wanted) & set(existing))
            if existing[v] != wanted[v]["Parameters"]
        ]
        delete = [{"Values": list(v)} for v in sorted(set(existing) - set(wanted))]
        t = table.name
        self._in_batches(t, "batch_create_partition", "PartitionInputList", create, _CREATE_BATCH)
        self._in_batches(t, "batch_update_partition", "Entries", update, _CREATE_BATCH)
        self._in_batches(t, "batch_delete_partition", "PartitionsToDelete", delete, _DELETE_BATCH)
        report.created_partitions += len(create)
        report.updated_partitions += len(update)
        report.deleted_partitions += len(delete)

    def _in_batches(
        self, table: str, operation: str, key: str, items: list[Any], size: int
    ) -> None:
        """Call a Glue batch partition API over ``items`` in chunks of its maximum size."""
        call = getattr(self.client, operation)
        action = operation.removeprefix("batch_").removesuffix("_partition")
        for i in range(0, len(items), size):
            chunk = items[i : i + size]
            _raise_errors(call(DatabaseName=self.database, TableName=table, **{key: chunk}), action)


def _raise_errors(response: dict[str, Any], action: str) -> None:
    errors = response.get("Errors") or []
    if errors:
        first = errors[0]
        detail = first.get("ErrorDetail", {})
        raise TransientError(
            f"glue could not {action} {len(errors)} partition(s), first "
            f"{first.get('PartitionValues')}: {detail.get('ErrorCode')} "
            f"{detail.get('ErrorMessage')}"
        )


def _translate(exc: Exception) -> Exception:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return ConfigError("no AWS credentials for Glue: set AWS_PROFILE or AWS_ACCESS_KEY_ID")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"AccessDeniedException", "UnrecognizedClientException"}:
            return ConfigError(f"Glue refused access ({code}): check the IAM permissions")
        return TransientError(f"Glue call failed ({code}): {exc}")
    if isinstance(exc, BotoCoreError):
        return TransientError(f"Glue unreachable: {exc}")
    return exc
