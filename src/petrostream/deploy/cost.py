"""Monthly cost of the AWS stack for a fleet of wells: per service, with its driver.

A model, not a quote: it multiplies usage derived from the fleet (wells x
sampling rate x record size) and the stack's settings (Terraform defaults) by
the unit prices of `petrostream.deploy.prices`. Every assumption that is not a
price is a named field of `CostInputs` with its default, so an estimate can be
reproduced and argued with.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from petrostream.deploy import prices as p
from petrostream.errors import ConfigError

_GB = 1024.0**3
_TB = 1024.0**4


@dataclass(frozen=True)
class CostInputs:
    """The fleet and the stack settings an estimate is for.

    Attributes:
        wells: wells sending readings.
        hz: readings per second per well.
        region: AWS region (prices are known for us-east-1 only).
        record_bytes: bytes of one JSON record on the stream (a 3W reading is ~400).
        retention_days: days the lake keeps readings (0 = forever, costed as one year).
        stream_retention_hours: Kinesis retention (24 = no extended-retention charge).
        shards: Kinesis shards; None = the fewest that carry the load at
            `shard_utilisation` of the per-shard write quota.
        shard_utilisation: fraction of a shard's write quota to plan for (headroom for bursts).
        batch_size: records per Lambda invocation (the event source mapping's batch size).
        lambda_memory_mb: memory of the detector function.
        lambda_ms_per_invocation: fixed time of one invocation (state load/save, publish).
        lambda_ms_per_record: detection time per record.
        lambda_log_bytes_per_invocation: START/END/REPORT lines plus EMF metrics.
        alerts_per_well_day: alerts the detector raises per well and day.
        email_subscribers: e-mail addresses subscribed to the alert topic.
        firehose_buffer_seconds: Firehose buffer interval per active partition.
        parquet_ratio: Parquet (Snappy) bytes per JSON byte.
        jq_seconds_per_record: Firehose JQ time to extract the partition keys of one record.
        crawls_per_day: Glue crawler runs per day (Terraform's default schedule: 1).
        crawler_dpus: DPUs a crawl uses.
        crawler_seconds_per_new_file: crawl time per file added since the last crawl.
        queries_per_day: Athena queries per day.
        query_scan_days: days of the whole fleet's data one query reads (partition pruning).
        query_column_fraction: fraction of the columns a query reads (Parquet is columnar).
        alarms: CloudWatch alarms of the stack (cloudwatch.tf).
    """

    wells: int
    hz: float
    region: str = "us-east-1"
    record_bytes: int = 400
    retention_days: int = 365
    stream_retention_hours: float = 24.0
    shards: int | None = None
    shard_utilisation: float = 0.8
    batch_size: int = 100
    lambda_memory_mb: int = 256
    lambda_ms_per_invocation: float = 30.0
    lambda_ms_per_record: float = 0.1
    lambda_log_bytes_per_invocation: int = 800
    alerts_per_well_day: float = 2.0
    email_subscribers: int = 1
    firehose_buffer_seconds: int = 60
    parquet_ratio: float = 0.15
    jq_seconds_per_record: float = 10e-6
    crawls_per_day: float = 1.0
    crawler_dpus: float = 2.0
    crawler_seconds_per_new_file: float = 0.005
    queries_per_day: float = 20.0
    query_scan_days: float = 1.0
    query_column_fraction: float = 0.3
    alarms: int = 6

    def validate(self) -> None:
        """Raise ConfigError naming the first input that makes no sense."""
        if self.region != p.REGION:
            raise ConfigError(
                f"--region {self.region}: only {p.REGION} prices are known "
                f"(petrostream/deploy/prices.py, as of {p.PRICES_AS_OF}); use --region {p.REGION}"
            )
        checks = {
            "wells": self.wells >= 1,
            "hz": self.hz > 0,
            "record_bytes": 1 <= self.record_bytes <= 1024 * 1024,
            "retention_days": self.retention_days >= 0,
            "stream_retention_hours": 24 <= self.stream_retention_hours <= 8760,
            "batch_size": 1 <= self.batch_size <= 10_000,
            "shard_utilisation": 0 < self.shard_utilisation <= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(
                    f"--{name.replace('_', '-')} {getattr(self, name)} is out of range"
                )
        if self.shards is not None and self.shards < 1:
            raise ConfigError(f"--shards {self.shards}: a stream has at least one shard")


@dataclass(frozen=True)
class LineItem:
    """One priced quantity: ``quantity`` ``unit`` x unit price = ``usd``."""

    item: str
    quantity: float
    unit: str
    unit_price: float
    usd: float


@dataclass(frozen=True)
class ServiceCost:
    """The monthly cost of one service and the line items it is made of."""

    service: str
    usd: float
    items: tuple[LineItem, ...]


@dataclass(frozen=True)
class Estimate:
    """A monthly estimate: per service, the total, the driver, and what to look at."""

    inputs: CostInputs
    shards: int
    records_per_month: float
    services: tuple[ServiceCost, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total(self) -> float:
        """The monthly total, USD."""
        return sum(s.usd for s in self.services)

    @property
    def driver(self) -> ServiceCost:
        """The service that costs the most."""
        return max(self.services, key=lambda s: s.usd)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--format json``)."""
        return {
            "prices_as_of": p.PRICES_AS_OF.isoformat(),
            "region": self.inputs.region,
            "inputs": asdict(self.inputs),
            "shards": self.shards,
            "records_per_month": self.records_per_month,
            "services": [asdict(s) for s in self.services],
            "total_usd": round(self.total, 2),
            "driver": self.driver.service,
            "driver_hint": DRIVER_HINTS[self.driver.service],
            "notes": list(self.notes),
        }


def _line(item: str, quantity: float, unit: str, unit_price: float, per: float = 1.0) -> LineItem:
    """``quantity`` counted in ones, priced per ``per`` of them (1e6 for "per million")."""
    in_units = quantity / per
    return LineItem(item, in_units, unit, unit_price, in_units * unit_price)


def _service(name: str, *items: LineItem) -> ServiceCost:
    return ServiceCost(name, sum(i.usd for i in items), items)


def shards_needed(inputs: CostInputs) -> int:
    """Fewest shards whose write quota (1 MiB/s, 1,000 records/s each) carries the fleet."""
    if inputs.shards is not None:
        return inputs.shards
    rps = inputs.wells * inputs.hz
    by_bytes = (
        rps * inputs.record_bytes / (p.KINESIS_SHARD_WRITE_BYTES_PER_S * inputs.shard_utilisation)
    )
    by_records = rps / (p.KINESIS_SHARD_WRITE_RECORDS_PER_S * inputs.shard_utilisation)
    return max(1, math.ceil(by_bytes), math.ceil(by_records))


def estimate(inputs: CostInputs) -> Estimate:
    """The monthly bill of the stack for ``inputs``; raises ConfigError on bad inputs."""
    inputs.validate()
    shards = shards_needed(inputs)
    rps = inputs.wells * inputs.hz
    records = rps * p.SECONDS_PER_MONTH
    json_bytes = records * inputs.record_bytes
    parquet_bytes_per_day = rps * 86_400 * inputs.record_bytes * inputs.parquet_ratio
    notes: list[str] = []

    # Kinesis: shard-hours, PUT payload units (25 KB each, rounded up per record).
    units_per_record = math.ceil(inputs.record_bytes / p.KINESIS_PUT_PAYLOAD_UNIT_BYTES)
    kinesis_items = [
        _line("shard-hours", shards * p.HOURS_PER_MONTH, "shard-hour", p.KINESIS_SHARD_HOUR),
        _line(
            "PUT payload units",
            records * units_per_record,
            "million units",
            p.KINESIS_PUT_PAYLOAD_UNITS_PER_MILLION,
            1e6,
        ),
    ]
    if inputs.stream_retention_hours > 24:
        kinesis_items.append(
            _line(
                "extended retention",
                shards * p.HOURS_PER_MONTH,
                "shard-hour",
                p.KINESIS_EXTENDED_RETENTION_SHARD_HOUR,
            )
        )

    # Lambda: the mapping polls each shard about once a second; below `batch_size`
    # records per second per shard every poll is one invocation.
    per_shard = rps / shards
    invocations_per_s_shard = (
        per_shard if per_shard < 1 else max(1.0, per_shard / inputs.batch_size)
    )
    invocations = invocations_per_s_shard * shards * p.SECONDS_PER_MONTH
    records_per_invocation = records / invocations
    seconds = (
        invocations
        * (inputs.lambda_ms_per_invocation + inputs.lambda_ms_per_record * records_per_invocation)
        / 1000.0
    )
    gb_seconds = seconds * inputs.lambda_memory_mb / 1024.0
    lambda_cost = _service(
        "Lambda",
        _line("requests", invocations, "million requests", p.LAMBDA_REQUESTS_PER_MILLION, 1e6),
        _line("compute", gb_seconds, "GB-second", p.LAMBDA_GB_SECOND),
    )

    # DynamoDB: per invocation and well in the batch, one state read and one write.
    wells_per_invocation = min(float(inputs.wells), records_per_invocation)
    state_ops = invocations * wells_per_invocation
    alerts = inputs.wells * inputs.alerts_per_well_day * 30.4
    dynamodb = _service(
        "DynamoDB",
        _line(
            "reads",
            state_ops + alerts,
            "million RRU",
            p.DYNAMODB_READ_REQUEST_UNITS_PER_MILLION,
            1e6,
        ),
        _line(
            "writes",
            state_ops + alerts,
            "million WRU",
            p.DYNAMODB_WRITE_REQUEST_UNITS_PER_MILLION,
            1e6,
        ),
    )

    sns = _service(
        "SNS",
        _line("publishes", alerts, "million publishes", p.SNS_PUBLISHES_PER_MILLION, 1e6),
        _line(
            "e-mail deliveries",
            alerts * inputs.email_subscribers,
            "100k e-mails",
            p.SNS_EMAIL_PER_100K,
            1e5,
        ),
    )

    # Firehose: ingestion and conversion bill each record rounded up to 5 KB.
    rounded = math.ceil(inputs.record_bytes / p.FIREHOSE_RECORD_ROUNDING_BYTES)
    billed_gb = records * rounded * p.FIREHOSE_RECORD_ROUNDING_BYTES / _GB
    flushes = p.SECONDS_PER_MONTH / inputs.firehose_buffer_seconds
    # Each active partition (one well on one day) delivers one object per buffer interval.
    objects = inputs.wells * flushes * min(1.0, inputs.hz * inputs.firehose_buffer_seconds)
    firehose = _service(
        "Firehose",
        _line("ingestion (5 KB rounding)", billed_gb, "GB", p.FIREHOSE_INGEST_PER_GB),
        _line("format conversion", billed_gb, "GB", p.FIREHOSE_FORMAT_CONVERSION_PER_GB),
        _line(
            "dynamic partitioning", json_bytes / _GB, "GB", p.FIREHOSE_DYNAMIC_PARTITIONING_PER_GB
        ),
        _line(
            "objects delivered",
            objects,
            "1000 objects",
            p.FIREHOSE_DYNAMIC_PARTITIONING_PER_1000_OBJECTS,
            1000,
        ),
        _line(
            "JQ processing",
            records * inputs.jq_seconds_per_record / 3600,
            "hour",
            p.FIREHOSE_JQ_PROCESSING_HOUR,
        ),
    )
    if inputs.record_bytes < p.FIREHOSE_RECORD_ROUNDING_BYTES:
        factor = rounded * p.FIREHOSE_RECORD_ROUNDING_BYTES / inputs.record_bytes
        notes.append(
            f"Firehose bills each {inputs.record_bytes}-byte record as 5 KB "
            f"({factor:.1f}x its size)."
        )
    if inputs.wells > p.FIREHOSE_ACTIVE_PARTITIONS_QUOTA:
        notes.append(
            f"{inputs.wells} wells exceed Firehose's default quota of "
            f"{p.FIREHOSE_ACTIVE_PARTITIONS_QUOTA} active partitions (one per well and day): "
            "request a quota increase before deploying."
        )

    # S3: Parquet held for the retention window; PUTs from Firehose; GETs from Athena.
    days_kept = inputs.retention_days or 365
    stored_gb = parquet_bytes_per_day * days_kept / _GB
    objects_per_day = objects / 30.4
    gets = inputs.queries_per_day * 30.4 * objects_per_day * inputs.query_scan_days
    s3 = _service(
        "S3",
        _line("storage (Parquet)", stored_gb, "GB-month", p.S3_STANDARD_GB_MONTH),
        _line("PUT requests", objects, "1000 requests", p.S3_PUT_PER_1000, 1000),
        _line("GET requests (Athena)", gets, "1000 requests", p.S3_GET_PER_1000, 1000),
    )

    crawls = inputs.crawls_per_day * 30.4
    crawl_hours = max(
        p.GLUE_CRAWLER_MINIMUM_HOURS,
        objects_per_day / inputs.crawls_per_day * inputs.crawler_seconds_per_new_file / 3600,
    )
    partitions = inputs.wells * days_kept
    glue = _service(
        "Glue",
        _line(
            "crawler",
            crawls * crawl_hours * inputs.crawler_dpus,
            "DPU-hour",
            p.GLUE_CRAWLER_DPU_HOUR,
        ),
        _line(
            "catalog objects above 1M",
            max(0.0, partitions - p.GLUE_CATALOG_FREE_OBJECTS),
            "100k objects",
            p.GLUE_CATALOG_OBJECTS_PER_100K_MONTH,
            1e5,
        ),
    )

    scanned = max(
        float(p.ATHENA_MINIMUM_BYTES_PER_QUERY),
        parquet_bytes_per_day * inputs.query_scan_days * inputs.query_column_fraction,
    )
    athena = _service(
        "Athena",
        _line(
            "data scanned",
            inputs.queries_per_day * 30.4 * scanned / _TB,
            "TB",
            p.ATHENA_PER_TB_SCANNED,
        ),
    )

    log_gb = invocations * inputs.lambda_log_bytes_per_invocation / _GB
    cloudwatch = _service(
        "CloudWatch",
        _line("alarms", inputs.alarms, "alarm-month", p.CLOUDWATCH_ALARM_MONTH),
        _line("log ingestion", log_gb, "GB", p.CLOUDWATCH_LOGS_INGEST_PER_GB),
        _line(
            "log storage",
            log_gb * min(12.0, days_kept / 30.4),
            "GB-month",
            p.CLOUDWATCH_LOGS_STORAGE_GB_MONTH,
        ),
    )

    # KMS: one key; Kinesis asks for a data key about every 5 minutes per shard and
    # reader or writer (producer, Lambda, Firehose); S3 bucket keys make S3's share negligible.
    kms_requests = shards * 3 * 12 * p.HOURS_PER_MONTH + alerts
    kms = _service(
        "KMS",
        _line("customer-managed key", 1, "key-month", p.KMS_KEY_MONTH),
        _line("requests", kms_requests, "10k requests", p.KMS_REQUESTS_PER_10K, 1e4),
    )

    services = (
        _service("Kinesis", *kinesis_items),
        lambda_cost,
        dynamodb,
        sns,
        firehose,
        s3,
        glue,
        athena,
        cloudwatch,
        kms,
    )
    return Estimate(inputs, shards, records, services, tuple(notes))


DRIVER_HINTS: dict[str, str] = {
    "Kinesis": "shard-hours are a floor: a provisioned shard bills 24x7 whatever the load",
    "DynamoDB": (
        "the detector reads and writes each well's state once per batch: a larger batch "
        "with a batching window puts several readings of a well in one batch"
    ),
    "Firehose": (
        "each record is billed as at least 5 KB and each well delivers one object per buffer "
        "interval: a longer interval (up to 900 s) means fewer, larger objects"
    ),
    "S3": (
        "Athena reads one small object per well and buffer interval: "
        "`petrostream compact` merges them per partition"
    ),
    "Glue": "each crawl bills at least 10 minutes: crawl less often",
    "Athena": "queries that prune partitions (dt, well_id) and read fewer columns scan less",
    "Lambda": "one invocation per shard and second at low rates: a batching window merges them",
    "CloudWatch": "log volume follows invocations; lower PETROSTREAM_LOG_LEVEL",
    "KMS": "the key's monthly fee dominates small stacks",
    "SNS": "e-mail deliveries cost more than publishes",
}


def render_table(est: Estimate) -> str:
    """Human-readable estimate: one line per service, its items, the total and the driver."""
    inputs = est.inputs
    lines = [
        f"PetroStream on AWS ({inputs.region}): {inputs.wells} well(s) x {inputs.hz:g} Hz x "
        f"{inputs.record_bytes} B = {est.records_per_month / 1e6:,.1f} M records/month, "
        f"{est.shards} shard(s)",
        f"unit prices as of {p.PRICES_AS_OF} (petrostream/deploy/prices.py); free tiers ignored",
        "",
        f"{'service':<12}{'USD/month':>12}  main items",
    ]
    for service in sorted(est.services, key=lambda s: -s.usd):
        items = sorted(service.items, key=lambda i: -i.usd)
        detail = "; ".join(f"{i.item} ${i.usd:,.2f}" for i in items if i.usd >= 0.005)
        lines.append(f"{service.service:<12}{service.usd:>12,.2f}  {detail or 'under $0.01'}")
    driver = est.driver
    share = driver.usd / est.total * 100 if est.total else 0.0
    top = max(driver.items, key=lambda i: i.usd)
    lines += [
        f"{'total':<12}{est.total:>12,.2f}",
        "",
        f"biggest cost driver: {driver.service} ({share:.0f}% of the total), "
        f"mostly {top.item}: {top.quantity:,.1f} {top.unit} x ${top.unit_price:g}",
    ]
    lines.append(f"how to lower it: {DRIVER_HINTS[driver.service]}")
    lines += [f"note: {n}" for n in est.notes]
    return "\n".join(lines)
