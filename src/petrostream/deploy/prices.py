"""Every AWS unit price the cost model uses, in one place, with its date and source.

On-demand list prices for US East (N. Virginia), us-east-1, in USD, as
published on each service's pricing page on ``PRICES_AS_OF``. They change:
check the pages (``SOURCES``) before you budget, and edit this module (one
number, one place) when they do. Free tiers are ignored on purpose: the
estimate is what the stack costs once it is the only thing in the account
that has used them up.
"""

from __future__ import annotations

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

# --- S3 Standard --------------------------------------------------------------
S3_STANDARD_GB_MONTH: Final = 0.023  # first 50 TB
S3_PUT_PER_1000: Final = 0.005  # PUT, COPY, POST, LIST
S3_GET_PER_1000: Final = 0.0004  # GET, SELECT and the rest

# --- Glue -------------------------------------------------------------------
GLUE_CRAWLER_DPU_HOUR: Final = 0.44  # billed per second, 10-minute minimum per crawl
GLUE_CRAWLER_MINIMUM_HOURS: Final = 10.0 / 60.0
GLUE_CATALOG_OBJECTS_PER_100K_MONTH: Final = 1.00  # above the first million objects
GLUE_CATALOG_FREE_OBJECTS: Final = 1_000_000

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
