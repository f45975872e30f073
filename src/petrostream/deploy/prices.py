"""Every AWS unit price and quota the cost model uses, in one place, each with its source and date.

On-demand list prices for US East (N. Virginia), us-east-1, in USD. ``PROVENANCE``
names, for every constant below, the page it was read from and the day it was
read (a test fails when a constant has none). Prices change: check the pages
before you budget, and edit this module (one number, one place, its source and
date beside it) when they do. Free tiers are ignored on purpose: the estimate is
what the stack costs once it is the only thing in the account that has used
them up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

PRICES_AS_OF: Final = date(2025, 6, 1)
REGION: Final = "us-east-1"

SOURCES: Final[dict[str, str]] = {
    "kinesis": "https://aws.amazon.com/kinesis/data-streams/pricing/",
    "lambda": "https://aws.amazon.com/lambda/pricing/",
    "dynamodb": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "sns": "https://aws.amazon.com/sns/pricing/",
    "sqs": "https://aws.amazon.com/sqs/pricing/",
    "firehose": "https://aws.amazon.com/firehose/pricing/",
    "s3": "https://aws.amazon.com/s3/pricing/",
    "glue": "https://aws.amazon.com/glue/pricing/",
    "athena": "https://aws.amazon.com/athena/pricing/",
    "cloudwatch": "https://aws.amazon.com/cloudwatch/pricing/",
    "kms": "https://aws.amazon.com/kms/pricing/",
}

HOURS_PER_MONTH: Final = 730.0  # AWS bills a month as 730 hours
SECONDS_PER_MONTH: Final = HOURS_PER_MONTH * 3600.0

# --- Kinesis Data Streams, provisioned mode -----------------------------------
KINESIS_SHARD_HOUR: Final = 0.015
KINESIS_PUT_PAYLOAD_UNITS_PER_MILLION: Final = 0.014  # one unit = 25 KB of a record, rounded up
KINESIS_PUT_PAYLOAD_UNIT_BYTES: Final = 25 * 1024
KINESIS_EXTENDED_RETENTION_SHARD_HOUR: Final = 0.020  # retention above 24 h, up to 7 days
KINESIS_SHARD_WRITE_BYTES_PER_S: Final = 1024 * 1024  # quota: 1 MiB/s ...
KINESIS_SHARD_WRITE_RECORDS_PER_S: Final = 1000  # ... or 1,000 records/s per shard

# --- Lambda (x86_64) ----------------------------------------------------------
LAMBDA_REQUESTS_PER_MILLION: Final = 0.20
LAMBDA_GB_SECOND: Final = 0.0000166667

# --- DynamoDB on demand (prices since the 2024-11-01 reduction) ---------------
DYNAMODB_WRITE_REQUEST_UNITS_PER_MILLION: Final = 0.625
DYNAMODB_READ_REQUEST_UNITS_PER_MILLION: Final = 0.125

# --- SNS / SQS ----------------------------------------------------------------
SNS_PUBLISHES_PER_MILLION: Final = 0.50
SNS_EMAIL_PER_100K: Final = 2.00  # e-mail notifications; SQS deliveries are free
SQS_REQUESTS_PER_MILLION: Final = 0.40

# --- Amazon Data Firehose -----------------------------------------------------
FIREHOSE_INGEST_PER_GB: Final = 0.029  # first 500 TB/month; each record rounded up to 5 KB
FIREHOSE_RECORD_ROUNDING_BYTES: Final = 5 * 1024
FIREHOSE_FORMAT_CONVERSION_PER_GB: Final = 0.018
FIREHOSE_DYNAMIC_PARTITIONING_PER_GB: Final = 0.020
FIREHOSE_DYNAMIC_PARTITIONING_PER_1000_OBJECTS: Final = 0.005
FIREHOSE_JQ_PROCESSING_HOUR: Final = 0.07
FIREHOSE_ACTIVE_PARTITIONS_QUOTA: Final = 500  # default quota per delivery stream
# Apache Iceberg tables as the destination: "billed per GB ingested with no 5KB
# increments"; no format-conversion or dynamic-partitioning charge on top.
FIREHOSE_ICEBERG_PER_GB: Final = 0.075  # first 250 TB/month

# --- S3 Standard --------------------------------------------------------------
S3_STANDARD_GB_MONTH: Final = 0.023  # first 50 TB
S3_PUT_PER_1000: Final = 0.005  # PUT, COPY, POST, LIST
S3_GET_PER_1000: Final = 0.0004  # GET, SELECT and the rest

# --- Glue -------------------------------------------------------------------
GLUE_CRAWLER_DPU_HOUR: Final = 0.44  # billed per second, 10-minute minimum per crawl
GLUE_CRAWLER_MINIMUM_HOURS: Final = 10.0 / 60.0
GLUE_CATALOG_OBJECTS_PER_100K_MONTH: Final = 1.00  # above the first million objects
GLUE_CATALOG_FREE_OBJECTS: Final = 1_000_000
GLUE_OPTIMIZER_DPU_HOUR: Final = 0.44  # table optimizers (compaction), billed per DPU-hour

# --- Athena -----------------------------------------------------------------
ATHENA_PER_TB_SCANNED: Final = 5.00
ATHENA_MINIMUM_BYTES_PER_QUERY: Final = 10 * 1024 * 1024

# --- CloudWatch ---------------------------------------------------------------
CLOUDWATCH_ALARM_MONTH: Final = 0.10  # standard-resolution metric alarm
CLOUDWATCH_LOGS_INGEST_PER_GB: Final = 0.50
CLOUDWATCH_LOGS_STORAGE_GB_MONTH: Final = 0.03

# --- KMS ----------------------------------------------------------------------
KMS_KEY_MONTH: Final = 1.00
KMS_REQUESTS_PER_10K: Final = 0.03


@dataclass(frozen=True)
class Provenance:
    """Where a constant was read, and when."""

    source: str
    as_of: date


_DOC_KINESIS_QUOTAS = "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html"
_DOC_FIREHOSE_QUOTAS = "https://docs.aws.amazon.com/firehose/latest/dev/limits.html"
_BILLING_MONTH = "https://aws.amazon.com/ec2/pricing/on-demand/ (AWS bills a month as 730 hours)"
_ICEBERG_PRICE = (
    SOURCES["firehose"] + " (section 'Apache Iceberg Tables as a destination'; text quoted "
    "in https://hashnode-hub.vercel.app/posts/67f81a7c56b81360fc715a4a)"
)


def _from(page: str, as_of: date = PRICES_AS_OF) -> Provenance:
    return Provenance(SOURCES.get(page, page), as_of)


PROVENANCE: Final[dict[str, Provenance]] = {
    "HOURS_PER_MONTH": _from(_BILLING_MONTH),
    "SECONDS_PER_MONTH": _from(_BILLING_MONTH),
    "KINESIS_SHARD_HOUR": _from("kinesis"),
    "KINESIS_PUT_PAYLOAD_UNITS_PER_MILLION": _from("kinesis"),
    "KINESIS_PUT_PAYLOAD_UNIT_BYTES": _from("kinesis"),
    "KINESIS_EXTENDED_RETENTION_SHARD_HOUR": _from("kinesis"),
    "KINESIS_SHARD_WRITE_BYTES_PER_S": _from(_DOC_KINESIS_QUOTAS),
    "KINESIS_SHARD_WRITE_RECORDS_PER_S": _from(_DOC_KINESIS_QUOTAS),
    "LAMBDA_REQUESTS_PER_MILLION": _from("lambda"),
    "LAMBDA_GB_SECOND": _from("lambda"),
    "DYNAMODB_WRITE_REQUEST_UNITS_PER_MILLION": _from("dynamodb"),
    "DYNAMODB_READ_REQUEST_UNITS_PER_MILLION": _from("dynamodb"),
    "SNS_PUBLISHES_PER_MILLION": _from("sns"),
    "SNS_EMAIL_PER_100K": _from("sns"),
    "SQS_REQUESTS_PER_MILLION": _from("sqs"),
    "FIREHOSE_INGEST_PER_GB": _from("firehose"),
    "FIREHOSE_RECORD_ROUNDING_BYTES": _from("firehose"),
    "FIREHOSE_FORMAT_CONVERSION_PER_GB": _from("firehose"),
    "FIREHOSE_DYNAMIC_PARTITIONING_PER_GB": _from("firehose"),
    "FIREHOSE_DYNAMIC_PARTITIONING_PER_1000_OBJECTS": _from("firehose"),
    "FIREHOSE_JQ_PROCESSING_HOUR": _from("firehose"),
    "FIREHOSE_ACTIVE_PARTITIONS_QUOTA": _from(_DOC_FIREHOSE_QUOTAS),
    "FIREHOSE_ICEBERG_PER_GB": _from(_ICEBERG_PRICE, date(2025, 4, 10)),
    "S3_STANDARD_GB_MONTH": _from("s3"),
    "S3_PUT_PER_1000": _from("s3"),
    "S3_GET_PER_1000": _from("s3"),
    "GLUE_CRAWLER_DPU_HOUR": _from("glue"),
    "GLUE_CRAWLER_MINIMUM_HOURS": _from("glue"),
    "GLUE_CATALOG_OBJECTS_PER_100K_MONTH": _from("glue"),
    "GLUE_CATALOG_FREE_OBJECTS": _from("glue"),
    "GLUE_OPTIMIZER_DPU_HOUR": _from("glue"),
    "ATHENA_PER_TB_SCANNED": _from("athena"),
    "ATHENA_MINIMUM_BYTES_PER_QUERY": _from("athena"),
    "CLOUDWATCH_ALARM_MONTH": _from("cloudwatch"),
    "CLOUDWATCH_LOGS_INGEST_PER_GB": _from("cloudwatch"),
    "CLOUDWATCH_LOGS_STORAGE_GB_MONTH": _from("cloudwatch"),
    "KMS_KEY_MONTH": _from("kms"),
    "KMS_REQUESTS_PER_10K": _from("kms"),
}
"""For every number in this module: the page it comes from and the day it was read."""
