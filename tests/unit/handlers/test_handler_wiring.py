"""lambda_handler's backends come from the environment: AWS services on moto, else SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from petrostream.errors import ConfigError
from petrostream.handlers.config import HandlerConfig
from petrostream.handlers.process_stream import build_backends, build_state_store, handle_event

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_aws_backends_from_environment(aws_env: str) -> None:
    # given a state bucket and table, a dead-letter queue and a topic, named by PETROSTREAM_*
    suffix = uuid.uuid4().hex[:8]
    ddb, sqs, sns = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("sns")
    s3 = boto3.client("s3")
    bucket = f"state-{suffix}"
    s3.create_bucket(Bucket=bucket)
    table = f"state-{suffix}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dlq = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    topic = sns.create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    config = HandlerConfig.from_environ(
        {
            "PETROSTREAM_STATE_TABLE": table,
            "PETROSTREAM_STATE_BUCKET": bucket,
            "PETROSTREAM_DLQ_URL": dlq,
            "PETROSTREAM_ALERT_TOPIC_ARN": topic,
            "AWS_LAMBDA_FUNCTION_NAME": "petrostream-detector",
        }
    )
    assert config.metrics == "emf"
    # when the handler processes the canned event with two bad records
    event = json.loads((EVENTS / "kinesis_bad_record.json").read_text())
    report = handle_event(event, build_backends(config))
    # then the bad records are in the queue with their reasons and the state is one S3
    # object for the shard
    assert report.failures == []
    got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["reason"] for m in got) == ["bad_json", "missing_field"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["detector-state/shardId-000000000000.state"]
    assert build_state_store(config).load("WELL-00011").version == 1


def test_a_state_bucket_needs_the_table_of_markers() -> None:
    config = HandlerConfig.from_environ({"PETROSTREAM_STATE_BUCKET": "state"})
    with pytest.raises(ConfigError, match="PETROSTREAM_STATE_TABLE is not"):
        build_state_store(config)


def test_lambda_handler_defaults_to_local_backends(tmp_path: Path) -> None:
    # given only PETROSTREAM_HOME, in a fresh interpreter (config is read at import)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETROSTREAM_")}
    env["PETROSTREAM_HOME"] = str(tmp_path)
    code = (
        "import json, sys; from petrostream.handlers.process_stream import lambda_handler; "
        f"e = json.load(open({str(EVENTS / 'kinesis_batch.json')!r})); "
        "print(json.dumps(lambda_handler(e, None)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    # then it answers with no failures and keeps its state and metrics under the home
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"batchItemFailures": []}
    assert (tmp_path / "realtime.db").exists()
    assert (tmp_path / "metrics.db").exists()
