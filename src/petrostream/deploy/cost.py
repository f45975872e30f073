"""Monthly cost of the AWS stack for a fleet of wells: per service, with its driver.

A model, not a quote: it derives usage from the fleet (wells x sampling rate x
record size) and the stack's settings (Terraform's defaults, `CostInputs`), and
multiplies it by the unit prices of `petrostream.deploy.prices` (each with its
source and date). Every assumption that is not a price is a named field of
`CostInputs` with its default, so an estimate can be reproduced and argued with;
tests/infra/test_aws_cost.py checks those defaults, and the list of billed
resources (`BILLED_RESOURCES`), against what infra/terraform really builds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, Literal

from petrostream.deploy import prices as p
from petrostream.errors import ConfigError

_GB = 1024.0**3
_TB = 1024.0**4
_DAYS_PER_MONTH = p.HOURS_PER_MONTH / 24.0

FirehoseDestination = Literal["iceberg", "s3-parquet"]
StateStoreKind = Literal["auto", "dynamodb", "s3"]

SCALE_WELLS: Final = (1, 100, 1_000, 10_000)
"""Fleet sizes `aws cost` shows the per-well-month cost for."""

BILLED_RESOURCES: Final[dict[str, str]] = {
    "aws_kinesis_stream": "Kinesis",
    "aws_lambda_function": "Lambda",
    "aws_lambda_event_source_mapping": "Lambda",
    "aws_dynamodb_table": "DynamoDB",
    "aws_sns_topic": "SNS",
    "aws_sns_topic_subscription": "SNS",
    "aws_sqs_queue": "SQS",
    "aws_kinesis_firehose_delivery_stream": "Firehose",
    "aws_s3_bucket": "S3",
    "aws_glue_crawler": "Glue",
    "aws_glue_catalog_table": "Glue",
    "aws_glue_catalog_table_optimizer": "Glue",
    "aws_athena_workgroup": "Athena",
    "aws_cloudwatch_metric_alarm": "CloudWatch",
    "aws_cloudwatch_log_group": "CloudWatch",
    "aws_kms_key": "KMS",
}
"""Terraform resource types that bill, and the service of the model that prices them."""

FREE_RESOURCES: Final[dict[str, str]] = {
    "aws_iam_role": "IAM is free",
    "aws_iam_role_policy": "IAM is free",
    "aws_kms_alias": "aliases are free",
    "aws_s3_bucket_lifecycle_configuration": "configuration of the bucket",
    "aws_s3_bucket_ownership_controls": "configuration of the bucket",
    "aws_s3_bucket_policy": "configuration of the bucket",
    "aws_s3_bucket_public_access_block": "configuration of the bucket",
    "aws_s3_bucket_server_side_encryption_configuration": "configuration of the bucket",
    "aws_s3_bucket_versioning": "configuration (old versions are storage: lifecycle expires them)",
    "aws_sns_topic_policy": "configuration of the topic",
    "aws_sqs_queue_policy": "configuration of the queue",
    "aws_cloudwatch_log_stream": "billed as its log group's ingestion and storage",
    "aws_glue_catalog_database": "a catalog object, within the free million",
    "aws_athena_named_query": "saved SQL text is free; running it is data scanned",
}
"""Terraform resource types that cost nothing by themselves, and why."""


@dataclass(frozen=True)
class CostInputs:
    """The fleet and the stack settings an estimate is for.

    Attributes:
        wells: wells sending readings.
        hz: readings per second per well.
        region: AWS region (prices are known for us-east-1 only).
        record_bytes: bytes of one reading as JSON on the stream (a 3W reading is ~400).
        aggregate: the producer packs readings bound for one shard into one stream
            record, KPL-style (`replay --aggregate`); False = one record per
            reading. Assumed: Firehose (s3-parquet) bills an aggregate as one record,
            before it de-aggregates it.
        aggregate_max_bytes: size an aggregated record is filled up to (one 25 KB
            Kinesis PUT payload unit).
        aggregate_max_delay_s: longest a reading waits in the producer for others.
        aggregate_overhead_bytes: framing per reading inside an aggregated record.
        retention_days: days the lake keeps readings (0 = forever, costed as one year).
        stream_retention_hours: Kinesis retention (24 = no extended-retention charge).
        shards: Kinesis shards; None = the fewest that carry the load at
            `shard_utilisation` of the per-shard write quota (Terraform's `fleet_wells`
            sizing computes the same).
        shard_utilisation: fraction of a shard's write quota to plan for (headroom for bursts).
        batch_size: stream records per Lambda invocation (the event source mapping's).
        batch_window_s: the mapping's batching window; it polls each shard at least
            once a second, so below 1 s an idle shard is still invoked each second.
        lambda_memory_mb: memory of the detector function.
        lambda_ms_per_invocation: fixed time of one invocation (state, publish, metrics).
        lambda_ms_per_reading: detection time per reading.
        lambda_log_bytes_per_invocation: START/END/REPORT lines plus EMF metrics.
        state_bytes_per_well: one well's detector state as stored, zlib-compressed
            (tests/unit/handlers/test_state_compression.py: 2,484 bytes plain, 1,156
            stored, after an event); a shard's state object holds one per well.
        state_cold_starts_per_day: times a day the function starts cold and reads
            its shard's state object (warm invocations keep it in memory).
        state_store: where the state objects (one per shard) live: "dynamodb" (an
            item, billed a write unit per KB), "s3" (a PUT whatever its size) or "auto"
            (`state_store_for`: the table up to `state_table_max_bytes`), as Terraform.
        state_table_max_bytes: largest object "auto" keeps in the table (8 KB: where
            8 write units cost an S3 PUT).
        state_noncurrent_days: days a replaced state object is kept as a noncurrent
            version (Terraform's `state_noncurrent_days`); S3 expires versions up to
            a day late, so a day is added.
        alerts_per_well_day: alerts the detector raises per well and day.
        dead_letters_per_well_day: records per well and day sent to the rejects queue.
        email_subscribers: e-mail addresses subscribed to the alert topic.
        firehose_destination: "iceberg" (the `sensors` Iceberg table, billed per GB
            with no 5 KB rounding) or "s3-parquet" (JSON->Parquet with dynamic partitions).
        firehose_buffer_seconds: Firehose buffer interval (Terraform's default).
        lake_buckets: `bucket(N, well_id)` partitions per day of the Iceberg table.
        iceberg_metadata_objects_per_commit: manifest, manifest list, metadata.json.
        compaction_target_mb: file size the table optimizer compacts to.
        compaction_dpu_hours_per_gb: DPU time the Glue optimizer spends per GB rewritten
            (an assumption, not a published figure: check it against the first bill).
        parquet_ratio: Parquet bytes per JSON byte.
        jq_seconds_per_record: Firehose JQ time per reading ("s3-parquet" only).
        crawler: the stack runs a Glue crawler ("s3-parquet" layouts need one).
        crawls_per_day: Glue crawler runs per day.
        crawler_dpus: DPUs a crawl uses.
        crawler_seconds_per_new_file: crawl time per file added since the last crawl.
        queries_per_day: Athena queries per day.
        query_scan_days: days of the whole fleet's data one query reads (partition pruning).
        query_column_fraction: fraction of the columns a query reads (Parquet is columnar).
        athena_gets_per_file: GET requests Athena makes per data file (footer, then data).
        alarms: CloudWatch alarms of the stack (cloudwatch.tf).
    """

    wells: int
    hz: float
    region: str = "us-east-1"
    record_bytes: int = 400
    aggregate: bool = False
    aggregate_max_bytes: int = p.KINESIS_PUT_PAYLOAD_UNIT_BYTES
    aggregate_max_delay_s: float = 0.2
    aggregate_overhead_bytes: int = 12
    retention_days: int = 365
    stream_retention_hours: float = 24.0
    shards: int | None = None
    shard_utilisation: float = 0.8
    batch_size: int = 100
    batch_window_s: float = 0.0
    lambda_memory_mb: int = 256
    lambda_ms_per_invocation: float = 30.0
    lambda_ms_per_reading: float = 0.02
    lambda_log_bytes_per_invocation: int = 800
    state_bytes_per_well: int = 1156
    state_cold_starts_per_day: float = 24.0
    state_store: StateStoreKind = "auto"
    state_table_max_bytes: int = 8192
    state_noncurrent_days: float = 1.0
    alerts_per_well_day: float = 2.0
    dead_letters_per_well_day: float = 1.0
    email_subscribers: int = 1
    firehose_destination: FirehoseDestination = "iceberg"
    firehose_buffer_seconds: int = 60
    lake_buckets: int = 16
    iceberg_metadata_objects_per_commit: int = 3
    compaction_target_mb: int = 512
    compaction_dpu_hours_per_gb: float = 0.05
    parquet_ratio: float = 0.15
    jq_seconds_per_record: float = 10e-6
    crawler: bool = False
    crawls_per_day: float = 1.0
    crawler_dpus: float = 2.0
    crawler_seconds_per_new_file: float = 0.005
    queries_per_day: float = 20.0
    query_scan_days: float = 1.0
    query_column_fraction: float = 0.3
    athena_gets_per_file: float = 2.0
    alarms: int = 5

    def validate(self) -> None:
        """Raise ConfigError naming the first input that makes no sense."""
        if self.region != p.REGION:
            raise ConfigError(
                f"--region {self.region}: only {p.REGION} prices are known "
                f"(petrostream/deploy/prices.py, as of {p.PRICES_AS_OF}); use --region {p.REGION}"
            )
        checks = {
            "wells": self.wells >= 1,
            "hz": math.isfinite(self.hz) and self.hz > 0,
            "record_bytes": 1 <= self.record_bytes <= 1024 * 1024,
            "retention_days": self.retention_days >= 0,
            "stream_retention_hours": 24 <= self.stream_retention_hours <= 8760,
            "batch_size": 1 <= self.batch_size <= 10_000,
            "batch_window_s": 0 <= self.batch_window_s <= 300,
            "shard_utilisation": 0 < self.shard_utilisation <= 1,
            "firehose_buffer_seconds": 0 <= self.firehose_buffer_seconds <= 900,
            "lake_buckets": self.lake_buckets >= 1,
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
class Load:
    """What the fleet asks of the stack, per second unless said otherwise."""

    readings: float
    shards: int
    readings_per_record: float
    record_bytes: float
    records: float
    invocations: float

    @property
    def readings_per_invocation(self) -> float:
        """Readings one Lambda invocation detects on."""
        return self.readings / self.invocations


@dataclass(frozen=True)
class Estimate:
    """A monthly estimate: per service, the total, the driver, and what to look at."""

    inputs: CostInputs
    load: Load
    services: tuple[ServiceCost, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def shards(self) -> int:
        """Kinesis shards the estimate is for."""
        return self.load.shards

    @property
    def records_per_month(self) -> float:
        """Stream records put in a month (aggregated records count once)."""
        return self.load.records * p.SECONDS_PER_MONTH

    @property
    def readings_per_month(self) -> float:
        """Readings of the whole fleet in a month."""
        return self.load.readings * p.SECONDS_PER_MONTH

    @property
    def total(self) -> float:
        """The monthly total, USD."""
        return sum(s.usd for s in self.services)

    @property
    def per_well_month(self) -> float:
        """The monthly total divided among the wells, USD."""
        return self.total / self.inputs.wells

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
            "readings_per_month": self.readings_per_month,
            "records_per_month": self.records_per_month,
            "readings_per_record": self.load.readings_per_record,
            "services": [asdict(s) for s in self.services],
            "total_usd": round(self.total, 2),
            "per_well_month_usd": round(self.per_well_month, 4),
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


def _readings_per_record(inputs: CostInputs, readings_per_shard: float) -> float:
    """Readings an aggregated record holds: as many as fit, or as arrive within the delay."""
    if not inputs.aggregate:
        return 1.0
    fit = inputs.aggregate_max_bytes // (inputs.record_bytes + inputs.aggregate_overhead_bytes)
    arrive = readings_per_shard * inputs.aggregate_max_delay_s
    return max(1.0, min(float(fit), arrive))


def shards_for(wells: int, hz: float, record_bytes: int, utilisation: float) -> int:
    """Fewest shards whose byte write quota (1 MiB/s each) carries the fleet at ``utilisation``.

    With aggregation the byte quota is the one that binds (an aggregated record
    holds ~60 readings, far under the 1,000 records/s quota); `load` checks the
    record quota too. Terraform's `fleet_wells` sizing (fleet.tf) is this formula.
    """
    by_bytes = wells * hz * record_bytes / (p.KINESIS_SHARD_WRITE_BYTES_PER_S * utilisation)
    return max(1, math.ceil(by_bytes))


def load(inputs: CostInputs) -> Load:
    """Readings, records, shards and invocations per second for ``inputs``."""
    readings = inputs.wells * inputs.hz
    shards = inputs.shards or shards_for(
        inputs.wells, inputs.hz, inputs.record_bytes, inputs.shard_utilisation
    )
    while True:
        per_record = _readings_per_record(inputs, readings / shards)
        records = readings / per_record
        quota = p.KINESIS_SHARD_WRITE_RECORDS_PER_S * inputs.shard_utilisation
        if inputs.shards is not None or records / shards <= quota:
            break
        shards = math.ceil(records / quota)
    record_bytes = per_record * (
        inputs.record_bytes + inputs.aggregate_overhead_bytes * inputs.aggregate
    )
    # The mapping polls each shard about once a second (or once a batching window)
    # and invokes when a batch fills or the window ends.
    per_shard = records / shards
    window = max(1.0, inputs.batch_window_s)
    polls = 1.0 / window if per_shard * window >= 1 else per_shard
    invocations = shards * max(polls, per_shard / inputs.batch_size)
    return Load(readings, shards, per_record, record_bytes, records, invocations)


def estimate(inputs: CostInputs) -> Estimate:
    """The monthly bill of the stack for ``inputs``; raises ConfigError on bad inputs."""
    inputs.validate()
    fleet = load(inputs)
    parquet_bytes_per_day = fleet.readings * 86_400 * inputs.record_bytes * inputs.parquet_ratio
    alerts = inputs.wells * inputs.alerts_per_well_day * _DAYS_PER_MONTH
    notes: list[str] = []

    firehose, objects, files_per_day, active_partitions = _firehose(inputs, fleet, notes)
    state_s3, state_table = _state(inputs, fleet, alerts)
    services = (
        _kinesis(inputs, fleet),
        _lambda(inputs, fleet),
        state_table,
        _service(
            "SNS",
            _line("publishes", alerts, "million publishes", p.SNS_PUBLISHES_PER_MILLION, 1e6),
            _line(
                "e-mail deliveries",
                alerts * inputs.email_subscribers,
                "100k e-mails",
                p.SNS_EMAIL_PER_100K,
                1e5,
            ),
        ),
        _service(
            "SQS",
            _line(
                "dead letters sent",
                inputs.wells * inputs.dead_letters_per_well_day * _DAYS_PER_MONTH,
                "million requests",
                p.SQS_REQUESTS_PER_MILLION,
                1e6,
            ),
        ),
        firehose,
        _with_items(_s3(inputs, parquet_bytes_per_day, objects, files_per_day), state_s3),
        _glue(inputs, parquet_bytes_per_day, objects, active_partitions),
        _athena(inputs, parquet_bytes_per_day),
        _cloudwatch(inputs, fleet),
        _kms(fleet, alerts),
    )
    if not inputs.aggregate and inputs.record_bytes < p.FIREHOSE_RECORD_ROUNDING_BYTES:
        notes.append(
            f"every {inputs.record_bytes}-byte reading is its own stream record: "
            "`replay --aggregate` packs ~60 into one PUT unit: fewer PUT units and shards"
        )
    return Estimate(inputs, fleet, services, tuple(notes))


def _kinesis(inputs: CostInputs, fleet: Load) -> ServiceCost:
    units_per_record = math.ceil(fleet.record_bytes / p.KINESIS_PUT_PAYLOAD_UNIT_BYTES)
    items = [
        _line("shard-hours", fleet.shards * p.HOURS_PER_MONTH, "shard-hour", p.KINESIS_SHARD_HOUR),
        _line(
            "PUT payload units",
            fleet.records * p.SECONDS_PER_MONTH * units_per_record,
            "million units",
            p.KINESIS_PUT_PAYLOAD_UNITS_PER_MILLION,
            1e6,
        ),
    ]
    if inputs.stream_retention_hours > 24:
        items.append(
            _line(
                "extended retention",
                fleet.shards * p.HOURS_PER_MONTH,
                "shard-hour",
                p.KINESIS_EXTENDED_RETENTION_SHARD_HOUR,
            )
        )
    return _service("Kinesis", *items)


def _lambda(inputs: CostInputs, fleet: Load) -> ServiceCost:
    invocations = fleet.invocations * p.SECONDS_PER_MONTH
    ms = inputs.lambda_ms_per_invocation + inputs.lambda_ms_per_reading * (
        fleet.readings_per_invocation
    )
    gb_seconds = invocations * ms / 1000.0 * inputs.lambda_memory_mb / 1024.0
    return _service(
        "Lambda",
        _line("requests", invocations, "million requests", p.LAMBDA_REQUESTS_PER_MILLION, 1e6),
        _line("compute", gb_seconds, "GB-second", p.LAMBDA_GB_SECOND),
    )


def state_store_for(inputs: CostInputs, shards: int) -> Literal["dynamodb", "s3"]:
    """Where the state objects live: as asked, or the table while an object is small.

    Terraform's fleet.tf makes the same choice (``local.state_store``).
    """
    if inputs.state_store != "auto":
        return inputs.state_store
    per_shard = inputs.wells / shards * inputs.state_bytes_per_well
    return "dynamodb" if per_shard <= inputs.state_table_max_bytes else "s3"


def _state(
    inputs: CostInputs, fleet: Load, alerts: float
) -> tuple[tuple[LineItem, ...], ServiceCost]:
    """The detector's state: one object per shard, written once per invocation.

    Returns the S3 items (none when the objects live in the table) and the
    DynamoDB service (notified markers: per alert a read before notifying and a
    write after; and the objects themselves when they live there). A per-well
    store wrote each well once per invocation it appeared in: 2 write units of a
    1 KB state per well, 5.3 G a month at 1,000 wells.
    """
    invocations = fleet.invocations * p.SECONDS_PER_MONTH
    object_bytes = inputs.wells / fleet.shards * inputs.state_bytes_per_well
    cold_reads = fleet.shards * inputs.state_cold_starts_per_day * _DAYS_PER_MONTH
    markers = [
        _line("notified markers written", alerts, "million WRU",
              p.DYNAMODB_WRITE_REQUEST_UNITS_PER_MILLION, 1e6),
        _line("notified markers read", alerts, "million RRU",
              p.DYNAMODB_READ_REQUEST_UNITS_PER_MILLION, 1e6),
    ]  # fmt: skip
    if state_store_for(inputs, fleet.shards) == "dynamodb":
        write_units = math.ceil(object_bytes / 1024)
        read_units = math.ceil(object_bytes / 4096)  # strongly consistent
        table = [
            _line("state writes (one item per shard and batch)", invocations * write_units,
                  "million WRU", p.DYNAMODB_WRITE_REQUEST_UNITS_PER_MILLION, 1e6),
            _line("state reads (cold starts)", cold_reads * read_units, "million RRU",
                  p.DYNAMODB_READ_REQUEST_UNITS_PER_MILLION, 1e6),
        ]  # fmt: skip
        return (), _service("DynamoDB", *table, *markers)
    object_gb = object_bytes / _GB
    kept_days = inputs.state_noncurrent_days + 1.0  # S3 expires versions up to a day late
    versions_gb = fleet.invocations * 86_400 * kept_days * object_gb
    s3 = (
        _line("state PUTs (one per shard and batch)", invocations, "1000 requests",
              p.S3_PUT_PER_1000, 1000),
        _line("state GETs (cold starts)", cold_reads, "1000 requests", p.S3_GET_PER_1000, 1000),
        _line("state versions kept", versions_gb + fleet.shards * object_gb, "GB-month",
              p.S3_STANDARD_GB_MONTH),
    )  # fmt: skip
    return s3, _service("DynamoDB", *markers)


def _with_items(service: ServiceCost, items: tuple[LineItem, ...]) -> ServiceCost:
    return _service(service.service, *service.items, *items)


def _firehose(
    inputs: CostInputs, fleet: Load, notes: list[str]
) -> tuple[ServiceCost, float, float, float]:
    """Firehose's bill, the objects it PUTs a month, data files a day, active partitions."""
    month = p.SECONDS_PER_MONTH
    json_gb = fleet.readings * month * inputs.record_bytes / _GB
    flushes = month / max(1, inputs.firehose_buffer_seconds)
    if inputs.firehose_destination == "iceberg":
        partitions = float(min(inputs.lake_buckets, inputs.wells))
        files = (
            flushes
            * partitions
            * min(1.0, fleet.readings / partitions * inputs.firehose_buffer_seconds)
        )
        objects = files + flushes * inputs.iceberg_metadata_objects_per_commit
        service = _service(
            "Firehose",
            _line("ingestion (Iceberg, per GB)", json_gb, "GB", p.FIREHOSE_ICEBERG_PER_GB),
        )
        return service, objects, files / _DAYS_PER_MONTH, partitions
    # s3-parquet: each stream record is billed rounded up to 5 KB; one object per
    # active partition (one well on one day) and buffer interval.
    rounded = math.ceil(fleet.record_bytes / p.FIREHOSE_RECORD_ROUNDING_BYTES)
    billed_gb = fleet.records * month * rounded * p.FIREHOSE_RECORD_ROUNDING_BYTES / _GB
    partitions = float(inputs.wells)
    objects = flushes * partitions * min(1.0, inputs.hz * inputs.firehose_buffer_seconds)
    service = _service(
        "Firehose",
        _line("ingestion (5 KB rounding)", billed_gb, "GB", p.FIREHOSE_INGEST_PER_GB),
        _line("format conversion", billed_gb, "GB", p.FIREHOSE_FORMAT_CONVERSION_PER_GB),
        _line("dynamic partitioning", json_gb, "GB", p.FIREHOSE_DYNAMIC_PARTITIONING_PER_GB),
        _line(
            "objects delivered",
            objects,
            "1000 objects",
            p.FIREHOSE_DYNAMIC_PARTITIONING_PER_1000_OBJECTS,
            1000,
        ),
        _line(
            "JQ processing",
            fleet.readings * month * inputs.jq_seconds_per_record / 3600,
            "hour",
            p.FIREHOSE_JQ_PROCESSING_HOUR,
        ),
    )
    if inputs.wells > p.FIREHOSE_ACTIVE_PARTITIONS_QUOTA:
        notes.append(
            f"{inputs.wells} wells exceed Firehose's default quota of "
            f"{p.FIREHOSE_ACTIVE_PARTITIONS_QUOTA} active partitions (one per well and day): "
            "request a quota increase before deploying."
        )
    return service, objects, objects / _DAYS_PER_MONTH, partitions


def _compacted_files_per_day(inputs: CostInputs, parquet_bytes_per_day: float) -> float:
    buckets = min(inputs.lake_buckets, inputs.wells)
    per_bucket = parquet_bytes_per_day / buckets
    return buckets * max(1, math.ceil(per_bucket / (inputs.compaction_target_mb * 1024**2)))


def _s3(
    inputs: CostInputs, parquet_bytes_per_day: float, objects: float, files_per_day: float
) -> ServiceCost:
    days_kept = inputs.retention_days or 365
    stored_gb = parquet_bytes_per_day * days_kept / _GB
    items = [
        _line("storage (Parquet)", stored_gb, "GB-month", p.S3_STANDARD_GB_MONTH),
        _line("PUT requests (Firehose)", objects, "1000 requests", p.S3_PUT_PER_1000, 1000),
    ]
    queries = inputs.queries_per_day * _DAYS_PER_MONTH * inputs.query_scan_days
    if inputs.firehose_destination == "iceberg":
        compacted = _compacted_files_per_day(inputs, parquet_bytes_per_day)
        # the optimizer reads each day's small files once and writes the compacted ones;
        # queries read compacted files
        items += [
            _line(
                "compaction GETs (small files read)",
                files_per_day * _DAYS_PER_MONTH,
                "1000 requests",
                p.S3_GET_PER_1000,
                1000,
            ),
            _line(
                "compaction PUTs",
                compacted * _DAYS_PER_MONTH,
                "1000 requests",
                p.S3_PUT_PER_1000,
                1000,
            ),
        ]
        scanned_files = compacted
    else:
        scanned_files = files_per_day
    items.append(
        _line(
            "GET requests (Athena)",
            queries * scanned_files * inputs.athena_gets_per_file,
            "1000 requests",
            p.S3_GET_PER_1000,
            1000,
        )
    )
    return _service("S3", *items)


def _glue(
    inputs: CostInputs, parquet_bytes_per_day: float, objects: float, active_partitions: float
) -> ServiceCost:
    days_kept = inputs.retention_days or 365
    items = []
    if inputs.crawler:
        crawl_hours = max(
            p.GLUE_CRAWLER_MINIMUM_HOURS,
            objects
            / _DAYS_PER_MONTH
            / inputs.crawls_per_day
            * inputs.crawler_seconds_per_new_file
            / 3600,
        )
        items.append(
            _line(
                "crawler",
                inputs.crawls_per_day * _DAYS_PER_MONTH * crawl_hours * inputs.crawler_dpus,
                "DPU-hour",
                p.GLUE_CRAWLER_DPU_HOUR,
            )
        )
    if inputs.firehose_destination == "iceberg":
        items.append(
            _line(
                "compaction (table optimizer)",
                parquet_bytes_per_day / _GB * _DAYS_PER_MONTH * inputs.compaction_dpu_hours_per_gb,
                "DPU-hour",
                p.GLUE_OPTIMIZER_DPU_HOUR,
            )
        )
        catalog_objects = 3.0  # Iceberg keeps partitions in its metadata, not in Glue
    else:
        catalog_objects = active_partitions * days_kept
    items.append(
        _line(
            "catalog objects above 1M",
            max(0.0, catalog_objects - p.GLUE_CATALOG_FREE_OBJECTS),
            "100k objects",
            p.GLUE_CATALOG_OBJECTS_PER_100K_MONTH,
            1e5,
        )
    )
    return _service("Glue", *items)


def _athena(inputs: CostInputs, parquet_bytes_per_day: float) -> ServiceCost:
    scanned = max(
        float(p.ATHENA_MINIMUM_BYTES_PER_QUERY),
        parquet_bytes_per_day * inputs.query_scan_days * inputs.query_column_fraction,
    )
    return _service(
        "Athena",
        _line(
            "data scanned",
            inputs.queries_per_day * _DAYS_PER_MONTH * scanned / _TB,
            "TB",
            p.ATHENA_PER_TB_SCANNED,
        ),
    )


def _cloudwatch(inputs: CostInputs, fleet: Load) -> ServiceCost:
    days_kept = inputs.retention_days or 365
    log_gb = fleet.invocations * p.SECONDS_PER_MONTH * inputs.lambda_log_bytes_per_invocation / _GB
    return _service(
        "CloudWatch",
        _line("alarms", inputs.alarms, "alarm-month", p.CLOUDWATCH_ALARM_MONTH),
        _line("log ingestion", log_gb, "GB", p.CLOUDWATCH_LOGS_INGEST_PER_GB),
        _line(
            "log storage",
            log_gb * min(12.0, days_kept / _DAYS_PER_MONTH),
            "GB-month",
            p.CLOUDWATCH_LOGS_STORAGE_GB_MONTH,
        ),
    )


def _kms(fleet: Load, alerts: float) -> ServiceCost:
    # One key; Kinesis asks for a data key about every 5 minutes per shard and reader
    # or writer (producer, Lambda, Firehose); S3 bucket keys make S3's share negligible.
    requests = fleet.shards * 3 * 12 * p.HOURS_PER_MONTH + alerts
    return _service(
        "KMS",
        _line("customer-managed key", 1, "key-month", p.KMS_KEY_MONTH),
        _line("requests", requests, "10k requests", p.KMS_REQUESTS_PER_10K, 1e4),
    )


def scaling(inputs: CostInputs, wells: tuple[int, ...] = SCALE_WELLS) -> list[Estimate]:
    """The same stack settings for other fleet sizes (shards recomputed for each)."""
    return [estimate(replace(inputs, wells=n, shards=None)) for n in wells]


DRIVER_HINTS: dict[str, str] = {
    "Kinesis": "shard-hours are a floor: a provisioned shard bills 24x7 whatever the load",
    "DynamoDB": (
        "the detector writes its shard's state once per invocation: a batching window "
        "(batch_window_s) merges invocations, at the cost of alert delay"
    ),
    "Firehose": (
        "Firehose bills the bytes it ingests: smaller records (fewer columns, shorter "
        "names) or a lower sampling rate"
    ),
    "S3": (
        "storage follows retention (a shorter --retention-days, or a colder storage class); "
        "the detector's state is one PUT per shard and invocation: a batching window "
        "merges invocations"
    ),
    "Glue": "the table optimizer rewrites each day once; a crawler bills 10 minutes a crawl",
    "Athena": "queries that filter on ts and well_id (partition pruning) and read fewer columns",
    "Lambda": "one invocation per shard and second: a batching window merges them",
    "CloudWatch": "log volume follows invocations; lower PETROSTREAM_LOG_LEVEL",
    "KMS": "the key's monthly fee dominates small stacks",
    "SNS": "e-mail deliveries cost more than publishes",
    "SQS": "dead letters are rare: fix the producer that sends them",
}


def render_table(est: Estimate, scale: list[Estimate] | None = None) -> str:
    """Human-readable estimate: per service, the total, the driver, and how it scales."""
    inputs = est.inputs
    fleet = est.load
    lines = [
        f"PetroStream on AWS ({inputs.region}): {inputs.wells} well(s) x {inputs.hz:g} Hz x "
        f"{inputs.record_bytes} B = {est.readings_per_month / 1e6:,.1f} M readings/month "
        f"in {est.records_per_month / 1e6:,.1f} M stream records "
        f"({fleet.readings_per_record:,.1f} per record), {est.shards} shard(s)",
        f"unit prices as of {p.PRICES_AS_OF} (petrostream/deploy/prices.py, each with its "
        "source); free tiers ignored",
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
        f"{'total':<12}{est.total:>12,.2f}  (${est.per_well_month:,.2f} per well-month)",
        "",
        f"biggest cost driver: {driver.service} ({share:.0f}% of the total), "
        f"mostly {top.item}: {top.quantity:,.1f} {top.unit} x ${top.unit_price:g}",
        f"how to lower it: {DRIVER_HINTS[driver.service]}",
    ]
    lines += [f"note: {n}" for n in est.notes]
    if scale:
        lines += ["", "how it scales (same settings, shards recomputed):"]
        lines.append(f"{'wells':>8}{'shards':>8}{'USD/month':>12}{'per well':>10}  driver")
        for row in scale:
            lines.append(
                f"{row.inputs.wells:>8,}{row.shards:>8}{row.total:>12,.2f}"
                f"{row.per_well_month:>10,.2f}  {row.driver.service}"
            )
    return "\n".join(lines)
