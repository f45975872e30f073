"""The real test of the AWS runtime: terraform apply -> replay -> alert -> lake -> crawl -> destroy.

Against a moto server (its own process, on loopback): Kinesis, S3, SNS -> SQS,
Glue's catalog, DynamoDB, IAM, KMS, CloudWatch are real there. What moto
cannot do is stood in for, each with the code that does it elsewhere:
- Lambda needs Docker to run code, so the test reads the stream with boto3,
  builds the exact event the event source mapping would send (batches of the
  mapping's BatchSize), and invokes the packaged zip the way the Lambda
  runtime does (`petrostream.deploy.lambda_sim`: isolated interpreter, stdlib
  + boto3 only) with the function's own environment variables;
- moto's Firehose writes raw bytes, not Iceberg, so the lake writer (the local
  runtime's Firehose) commits the same stream to the same Glue Iceberg tables;
- moto's Glue makes no Iceberg metadata, so `petrostream lake init` (pyiceberg's
  Glue catalog, as on AWS after apply) makes the Iceberg tables in Glue, and a
  plain pyiceberg reads them back from Glue.
Skipped, with the reason, only when terraform or the provider mirror is absent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from moto_routes import require_routes

from petrostream.aggregate import deaggregate, is_aggregated
from petrostream.dataset import discover
from petrostream.deploy.lambda_sim import invoke_zip
from petrostream.handlers.s3_state import S3BlobStore
from petrostream.handlers.shard_state import decode_shard
from petrostream.producer import replay
from petrostream.stream.kinesis import KinesisStream
from petrostream.testing.clock import FakeClock

pytestmark = [pytest.mark.infra, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
NAMED_QUERIES = REPO / "src" / "petrostream" / "query" / "named"
PREFIX = "pstest"
REGION = "us-east-1"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def moto_endpoint(tmp_path: Path) -> Iterator[str]:
    """A moto server in its own process on a free loopback port (terraform talks to it)."""
    port = _free_port()
    log = (tmp_path / "moto.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"moto_server did not start: {(tmp_path / 'moto.log').read_text()}")
                time.sleep(0.2)
        require_routes(url, "athena", "firehose", "glue", "kinesis", "s3")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """AWS variables for moto, set in this process and returned for subprocesses."""
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


def _cli(home: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "petrostream"), "--home", str(home), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"petrostream {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _read_stream(stream_name: str) -> list[tuple[str, dict[str, Any]]]:
    """Every record of the stream, per shard in order: (shard id, boto3 record)."""
    kinesis = boto3.client("kinesis")
    out: list[tuple[str, dict[str, Any]]] = []
    for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while it:
            page = kinesis.get_records(ShardIterator=it, Limit=1000)
            out += [(shard["ShardId"], r) for r in page["Records"]]
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            it = page.get("NextShardIterator")
    return out


def _kinesis_events(
    records: list[tuple[str, dict[str, Any]]], stream_arn: str, role_arn: str, batch_size: int
) -> list[dict[str, Any]]:
    """The events the event source mapping sends: per shard, batches of ``batch_size``.

    Shape: https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html (sample event).
    """
    events: list[dict[str, Any]] = []
    by_shard: dict[str, list[dict[str, Any]]] = {}
    for shard_id, rec in records:
        by_shard.setdefault(shard_id, []).append(rec)
    for shard_id, recs in by_shard.items():
        for start in range(0, len(recs), batch_size):
            batch = recs[start : start + batch_size]
            events.append(
                {
                    "Records": [
                        {
                            "kinesis": {
                                "kinesisSchemaVersion": "1.0",
                                "partitionKey": r["PartitionKey"],
                                "sequenceNumber": r["SequenceNumber"],
                                "data": base64.b64encode(r["Data"]).decode(),
                                "approximateArrivalTimestamp": r[
                                    "ApproximateArrivalTimestamp"
                                ].timestamp(),
                            },
                            "eventSource": "aws:kinesis",
                            "eventVersion": "1.0",
                            "eventID": f"{shard_id}:{r['SequenceNumber']}",
                            "eventName": "aws:kinesis:record",
                            "invokeIdentityArn": role_arn,
                            "awsRegion": REGION,
                            "eventSourceARN": stream_arn,
                        }
                        for r in batch
                    ]
                }
            )
    return events


def _receive_all(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    got: list[dict[str, Any]] = []
    for _ in range(10):
        page = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not page and got:
            break
        got += page
    return got


def _two_event_files(files: list[Path]) -> tuple[Path, Path]:
    """Two real event instances of different wells; the spurious DHSV closure (class 2) second.

    (Its pressures and temperatures move within minutes: the detector alerts on it.)
    """
    events = sorted((f for f in files if f.parent.name != "0"), key=lambda f: f.parent.name == "2")
    paced = events[-1]
    fast = next(f for f in events if f.name.split("_")[0] != paced.name.split("_")[0])
    return fast, paced


def _readings_of(data: bytes) -> list[bytes]:
    """The readings a stream record carries: one, or those a KPL aggregate packs."""
    return deaggregate(data) if is_aggregated(data) else [data]


def _rows(path: Path) -> int:
    with path.open() as f:
        return sum(1 for _ in f) - 1


def test_apply_replay_alert_crawl_destroy(
    tf: Callable[..., str],
    tf_workdir: Path,
    lambda_zip: Path,
    aws: dict[str, str],
    bundled_3w_files: list[Path],
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    tf_vars = [
        f"-var=aws_endpoint_url={aws['AWS_ENDPOINT_URL']}",
        f"-var=lambda_zip_path={lambda_zip}",
        f"-var=name_prefix={PREFIX}",
        f"-var=named_queries_dir={NAMED_QUERIES}",  # the copy in tmp has no ../../src
        "-var=force_destroy=true",
        "-var=alert_queue_enabled=true",
        # the fleet the cost model is checked at: 1,000 wells at 1 Hz, KPL-aggregated
        "-var=fleet_wells=1000",
        "-var=fleet_hz=1",
        "-var=readings_per_record=60",
    ]
    try:
        # --- given the stack applied against moto --------------------------------------
        tf(tf_workdir, "apply", "-auto-approve", "-input=false", "-no-color", *tf_vars, timeout=600)
        out = {k: v["value"] for k, v in json.loads(tf(tf_workdir, "output", "-json")).items()}
        _check_configuration(out, lambda_zip)

        # --- when real 3W files are replayed into the Kinesis stream ---------------------
        # the CLI, as fast as it can (history: real spacing, ending when the replay starts) ...
        fast, paced = _two_event_files(bundled_3w_files)
        _cli(
            home, aws, "replay", str(fast), "--speed", "0", "--target", "kinesis",
            "--stream-name", out["stream_name"], "--aggregate", "--quiet",
        )  # fmt: skip
        # ... and the same producer at real spacing on a virtual clock (half an hour in a
        # second), so the detector sees the event unfold over time as it would live
        summary = replay(
            discover([paced]),
            KinesisStream(out["stream_name"]),
            speed=1.0,
            clock=FakeClock(datetime.now(UTC)),
        )
        assert summary.records_put > 1000 and not summary.undelivered
        records = _read_stream(out["stream_name"])
        # the CLI's replay put KPL aggregates, the paced one single-reading records
        assert any(is_aggregated(r["Data"]) for _, r in records)
        assert not all(is_aggregated(r["Data"]) for _, r in records)
        readings = [json.loads(d) for _, r in records for d in _readings_of(r["Data"])]
        assert {r["instance_id"] for r in readings} == {fast.stem, paced.stem}
        assert len(readings) == _rows(fast) + summary.records_put

        # --- the bucket refuses plain HTTP (TLS-only policy); moto speaks plain HTTP ----
        s3 = boto3.client("s3")
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            s3.put_object(Bucket=out["lake_bucket"], Key="sensors/probe", Body=b"")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        # so the test lifts it for the handler's state and the lake (TLS on AWS)
        s3.delete_bucket_policy(Bucket=out["lake_bucket"])

        # --- and the packaged handler gets the events the mapping would send ---------------
        fn = boto3.client("lambda").get_function_configuration(FunctionName=out["function_name"])
        esm = _mapping_of(fn["FunctionArn"])
        events = _kinesis_events(records, out["stream_arn"], fn["Role"], esm["BatchSize"])
        env = {
            **fn["Environment"]["Variables"],
            **aws,
            "AWS_LAMBDA_FUNCTION_NAME": fn["FunctionName"],
        }
        env["HOME"] = str(tmp_path)
        result = invoke_zip(lambda_zip, events, env)

        # --- then every record was processed (no partial-batch failure) -------------------
        assert result["responses"] == [{"batchItemFailures": []}] * len(events)
        assert "/lambda-task-" in result["petrostream_from"]
        # one state object per shard (on S3 at 1,000 wells: past what an item holds),
        # holding every well
        assert out["state_store"] == "s3"
        bucket, _, prefix = out["state_uri"].removeprefix("s3://").partition("/")
        blobs = S3BlobStore(bucket, prefix)
        objects = [blobs.get(key) for key in blobs.list_keys()]
        stored = {w for got in objects if got for w in decode_shard(got[0])}
        assert stored == {r["well_id"] for r in readings}

        # --- and the alert arrived through SNS on the SQS subscription --------------------
        messages = [json.loads(m["Body"]) for m in _receive_all(out["alert_queue_url"])]
        alerts = [m["alert"] for m in messages]
        assert alerts, "no alert reached the alert queue"
        # both replays keep event time, so the detector sees both events unfold
        assert {a["instance_id"] for a in alerts} == {fast.stem, paced.stem}
        assert {"open", "closed"} <= {a["status"] for a in alerts}

        # --- when the Iceberg tables are made in Glue (`petrostream lake init`) ...-------
        glue_env = {
            **aws, "PETROSTREAM_LAKE_ROOT": out["lake_uri"], "PETROSTREAM_LAKE_CATALOG": "glue",
        }  # fmt: skip
        _cli(home, glue_env, "lake", "init")
        glue = boto3.client("glue")
        table = glue.get_table(DatabaseName=out["glue_database"], Name="sensors")["Table"]
        assert table["Parameters"]["table_type"].upper() == "ICEBERG"
        # --- ... and the lake lands (the lake writer stands in for moto's Firehose,
        # committing to the same Glue tables through pyiceberg's Glue catalog) ----------
        landed = _land_lake(home, out["stream_name"], out["lake_uri"])
        expected = {(r["ts"][:10], r["well_id"]) for r in readings}
        assert landed == expected
        keys = [
            o["Key"]
            for o in boto3.client("s3").list_objects_v2(
                Bucket=out["lake_bucket"], Prefix="petrostream_db/sensors/data/"
            )["Contents"]
        ]
        for dt, _ in expected:
            prefix = f"petrostream_db/sensors/data/ts_day={dt}/"
            assert any(k.startswith(prefix) and k.endswith(".parquet") for k in keys), keys

        # --- then a plain pyiceberg on the Glue catalog reads every reading once, and
        # `crawl` reports the same rows ----------------------------------------------------
        from pyiceberg.catalog.glue import GlueCatalog

        from petrostream.lake.tables import s3_properties

        glue_catalog = GlueCatalog("glue", **s3_properties())
        rows = glue_catalog.load_table(f"{out['glue_database']}.sensors").scan().to_arrow()
        assert rows.num_rows == len(readings)
        days = [t.date().isoformat() for t in rows.column("ts").to_pylist()]
        assert set(zip(days, rows.column("well_id").to_pylist(), strict=True)) == expected
        crawled = _cli(home, glue_env, "crawl", "--catalog", "glue")
        assert f"{len(readings):,} rows" in crawled
    finally:
        # --- then destroy leaves nothing behind --------------------------------------------
        # moto's DeleteObjects fails on delete markers (which force_destroy sends for a
        # versioned bucket): empty the bucket one version at a time first.
        _empty_versioned_buckets()
        # moto lacks DeleteNamedQuery (terraform would retry it for minutes); on AWS the
        # workgroup's force_destroy deletes its saved queries with it.
        tf(tf_workdir, "state", "rm", "-no-color", "aws_athena_named_query.named")
        tf(
            tf_workdir,
            "destroy",
            "-auto-approve",
            "-input=false",
            "-no-color",
            *tf_vars,
            timeout=600,
        )
    _check_nothing_left()


def _mapping_of(function_arn: str) -> dict[str, Any]:
    # (moto ignores the FunctionName filter of ListEventSourceMappings: filter here)
    mappings = boto3.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    mine = [m for m in mappings if m["FunctionArn"] == function_arn]
    assert len(mine) == 1, mappings
    return mine[0]


def _check_configuration(out: dict[str, Any], lambda_zip: Path) -> None:
    """What apply built is what the issue asks for (read back through the AWS APIs)."""
    lam = boto3.client("lambda")
    fn = lam.get_function_configuration(FunctionName=out["function_name"])
    assert fn["Handler"] == "petrostream.handlers.process_stream.lambda_handler"
    assert (
        fn["CodeSha256"]
        == base64.b64encode(hashlib.sha256(lambda_zip.read_bytes()).digest()).decode()
    )
    assert set(fn["Environment"]["Variables"]) >= {
        "PETROSTREAM_STATE_TABLE", "PETROSTREAM_ALERT_TOPIC_ARN", "PETROSTREAM_DLQ_URL",
    }  # fmt: skip
    mapping = _mapping_of(fn["FunctionArn"])
    assert mapping["EventSourceArn"] == out["stream_arn"]
    assert mapping["BatchSize"] == 100
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 <= mapping["MaximumRetryAttempts"] <= 10
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] <= 604800
    failures_arn = boto3.client("sqs").get_queue_attributes(
        QueueUrl=out["stream_failures_queue_url"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == failures_arn
    assert out["stream_failures_queue_url"] != out["rejects_queue_url"]

    stream = boto3.client("kinesis").describe_stream_summary(StreamName=out["stream_name"])
    summary = stream["StreamDescriptionSummary"]
    assert (summary["OpenShardCount"], summary["RetentionPeriodHours"]) == (1, 24)
    assert summary["EncryptionType"] == "KMS"

    s3 = boto3.client("s3")
    bucket = out["lake_bucket"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    sse = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert sse["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    expiring = {r["Filter"]["Prefix"]: r["Expiration"]["Days"] for r in rules if "Expiration" in r}
    assert expiring == {"raw/": 30, "errors/": 30, "athena-results/": 30}

    topic = boto3.client("sns").get_topic_attributes(TopicArn=out["alert_topic_arn"])
    assert topic["Attributes"].get("KmsMasterKeyId")

    hose = boto3.client("firehose").describe_delivery_stream(
        DeliveryStreamName=out["firehose_name"]
    )
    # (moto echoes the create request, S3Configuration renamed as AWS describes it)
    dest = hose["DeliveryStreamDescription"]["Destinations"][0]["IcebergDestinationDescription"]
    assert dest["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 60}
    assert dest["CatalogConfiguration"]["CatalogARN"].endswith(":catalog")
    (table_conf,) = dest["DestinationTableConfigurationList"]
    assert (table_conf["DestinationDatabaseName"], table_conf["DestinationTableName"]) == (
        out["glue_database"],
        "sensors",
    )
    assert dest["S3DestinationDescription"]["ErrorOutputPrefix"].startswith("errors/")

    # the Iceberg tables are `petrostream lake init`'s, not Terraform's; no crawler
    glue = boto3.client("glue")
    assert glue.get_tables(DatabaseName=out["glue_database"])["TableList"] == []
    assert glue.get_crawlers()["Crawlers"] == []

    athena = boto3.client("athena")
    wg = athena.get_work_group(WorkGroup=out["athena_workgroup"])["WorkGroup"]["Configuration"]
    assert wg["EnforceWorkGroupConfiguration"] is True
    assert wg["ResultConfiguration"]["OutputLocation"].endswith("/athena-results/")
    assert wg["BytesScannedCutoffPerQuery"] > 0
    ids = athena.list_named_queries(WorkGroup=out["athena_workgroup"]).get("NamedQueryIds", [])
    names = {athena.get_named_query(NamedQueryId=i)["NamedQuery"]["Name"] for i in ids}
    assert names == {p.stem for p in NAMED_QUERIES.glob("*.sql")}

    alarms = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]
    metrics = {a["MetricName"] for a in alarms}
    assert {"IteratorAge", "Errors", "DeliveryToIceberg.FailedRowCount"} <= metrics
    assert "DeliveryToIceberg.DataFreshness" in metrics
    # an Iceberg destination's DeliveryToS3.* metrics cover only the failed-record backup
    assert not any(m.startswith("DeliveryToS3.") for m in metrics)
    assert all(a["AlarmActions"] == [out["alert_topic_arn"]] for a in alarms)

    for role in ("detector", "firehose", "optimizer"):
        iam = boto3.client("iam")
        for policy_name in iam.list_role_policies(RoleName=f"{PREFIX}-{role}")["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=f"{PREFIX}-{role}", PolicyName=policy_name)
            for statement in doc["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                assert not [a for a in actions if "*" in a], (role, actions)
                resources = statement["Resource"]
                resources = [resources] if isinstance(resources, str) else resources
                assert "*" not in resources, (role, statement)


def _land_lake(home: Path, stream_name: str, lake_uri: str) -> set[tuple[str, str]]:
    """Drain the stream into the Iceberg tables on S3; the (day, well) pairs read back."""
    from petrostream.lake.tables import open_catalog
    from petrostream.lake.writer import LakeWriter
    from petrostream.stream.kinesis import KinesisStream

    catalog = open_catalog(home, lake_uri, "glue")
    writer = LakeWriter(KinesisStream(stream_name), catalog, buffer_seconds=3600)
    stats = writer.run(drain=True)
    assert stats.records > 0
    rows = catalog.load_table("petrostream_db.sensors").scan().to_arrow()
    days = [t.date().isoformat() for t in rows.column("ts").to_pylist()]
    return set(zip(days, rows.column("well_id").to_pylist(), strict=True))


def _empty_versioned_buckets() -> None:
    s3 = boto3.client("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        if not bucket["Name"].startswith(PREFIX):
            continue
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket["Name"]):
            for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(
                    Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"]
                )


def _check_nothing_left() -> None:
    """After destroy: no resource of the stack in any service (KMS keys: pending deletion)."""
    assert boto3.client("kinesis").list_streams()["StreamNames"] == []
    assert not [
        b["Name"]
        for b in boto3.client("s3").list_buckets()["Buckets"]
        if b["Name"].startswith(PREFIX)
    ]
    lam = boto3.client("lambda")
    assert lam.list_functions()["Functions"] == []
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []
    assert boto3.client("sns").list_topics()["Topics"] == []
    assert boto3.client("sqs").list_queues().get("QueueUrls", []) == []
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []
    assert boto3.client("firehose").list_delivery_streams()["DeliveryStreamNames"] == []
    glue = boto3.client("glue")
    assert "petrostream_db" not in [d["Name"] for d in glue.get_databases()["DatabaseList"]]
    assert glue.get_crawlers()["Crawlers"] == []
    groups = boto3.client("athena").list_work_groups()["WorkGroups"]
    assert [g["Name"] for g in groups] == ["primary"]
    assert boto3.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    roles = boto3.client("iam").list_roles()["Roles"]
    assert not [r["RoleName"] for r in roles if r["RoleName"].startswith(PREFIX)]
    groups_left = boto3.client("logs").describe_log_groups()["logGroups"]
    assert not [g["logGroupName"] for g in groups_left if PREFIX in g["logGroupName"]]
    kms = boto3.client("kms")
    keys = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in kms.list_keys()["Keys"]]
    ours = [k for k in keys if k.get("Description", "").startswith(f"{PREFIX}:")]
    assert ours and {k["KeyState"] for k in ours} == {"PendingDeletion"}  # AWS waits >= 7 days
    aliases = [a["AliasName"] for a in kms.list_aliases().get("Aliases", [])]
    assert f"alias/{PREFIX}" not in aliases
