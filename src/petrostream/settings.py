"""The one place that reads environment variables.

`Settings` is built once at the edge (the CLI, the Lambda handler module) and
passed down as a typed, frozen value. Every field can be set as
``PETROSTREAM_<FIELD>`` (``PETROSTREAM_HOME``, ``PETROSTREAM_STREAM_SHARDS``…);
CLI flags override it. Standard AWS variables (``AWS_ENDPOINT_URL``,
``AWS_REGION``) keep their standard meaning and are read by boto3 itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from petrostream import record


class Settings(BaseSettings):
    """PetroStream configuration; see each field's description (also in ``--help``)."""

    model_config = SettingsConfigDict(env_prefix="PETROSTREAM_", frozen=True, extra="ignore")

    home: Path = Field(Path(".petrostream"), description="state folder: stream, lake, catalog")
    stream_name: str = Field("petrostream", description="stream (and Kinesis stream) name")
    stream_shards: int = Field(2, ge=1, le=64, description="shards of a new local stream")
    retention_hours: float = Field(24.0, gt=0, description="stream retention, hours")
    fault_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="local stream: fraction of put records to fail (tests)"
    )
    batch_size: int = Field(
        10_000,
        ge=1,
        le=10_000,
        description=(
            "local detector: records per handler invocation, at most (a backlog drains in"
            " large batches; a live stream hands over what it has; 10,000 = Kinesis's"
            " GetRecords and Lambda's BatchSize maximum)"
        ),
    )
    max_retry_attempts: int = Field(
        3,
        ge=-1,
        description="detector: retries of a failing batch before giving up (-1 = forever)",
    )
    bisect_on_error: bool = Field(True, description="detector: split a batch whose handler raised")
    alert_webhook_url: str | None = Field(None, description="also POST every alert to this URL")
    lake_root: str | None = Field(None, description="lake folder or s3://bucket/prefix")
    buffer_seconds: float = Field(60.0, gt=0, description="lake writer: flush interval")
    buffer_bytes: int = Field(
        5 * 1024 * 1024, gt=0, description="lake writer: flush when one partition holds this much"
    )
    buffer_total_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="lake writer: flush when all partitions hold this much"
    )
    parquet_codec: Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"] = "zstd"
    parquet_float_encoding: Literal["byte_stream_split", "plain"] = Field(
        "byte_stream_split", description="lake writer: Parquet encoding of double columns"
    )
    max_new_fields_per_record: int = Field(
        record.MAX_NEW_FIELDS,
        ge=0,
        description="unknown numeric fields one record may carry (more: a too_many_fields reject)",
    )
    max_new_columns: int = Field(
        record.MAX_NEW_COLUMNS,
        ge=0,
        description="new columns admitted beyond the canonical ones (more: too_many_columns)",
    )
    rules_file: Path | None = Field(None, description="detection rules TOML (default: bundled)")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR")
    athena_workgroup: str = Field("primary", description="Athena workgroup for --engine athena")
    athena_output: str | None = Field(
        None, description="Athena query results location, s3://bucket/prefix/ (else workgroup's)"
    )
    athena_database: str = Field(
        "petrostream_db", description="Glue/Athena database of the lake's tables"
    )
    lake_catalog: Literal["sql", "glue"] = Field(
        "sql",
        description=(
            "the lake's Iceberg catalog: sql (a SQLite file under the home) or glue (the AWS"
            " Glue Data Catalog, database petrostream_db)"
        ),
    )

    @property
    def stream_path(self) -> Path:
        """SQLite file of the local stream."""
        return self.home / "stream.db"

    @property
    def replay_ledger_path(self) -> Path:
        """SQLite file of the replay ledger (what earlier replays put)."""
        return self.home / "replay-ledger.db"

    @property
    def lake_uri(self) -> str:
        """Root of the lake: ``lake_root`` if set, else ``<home>/lake``."""
        return self.lake_root or str(self.home / "lake")

    @property
    def catalog_path(self) -> Path:
        """File of the local catalog."""
        return self.home / "catalog.json"

    @property
    def query_temp_dir(self) -> Path:
        """Where local queries spill to disk (DuckDB's temporary files)."""
        return self.home / "tmp" / "duckdb"
