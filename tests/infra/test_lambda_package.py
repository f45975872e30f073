"""`petrostream aws package`: the Lambda zip is lean, reproducible, runs as the runtime would."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from petrostream.cli import main
from petrostream.deploy.lambda_sim import invoke_zip
from petrostream.deploy.package import build_lambda_zip, import_closure
from petrostream.errors import ConfigError
from petrostream.handlers.shard_state import decode_shard

EVENTS = Path(__file__).resolve().parents[1] / "events"
HEAVY = ("duckdb", "pyarrow", "numpy", "pandas", "pydantic", "pydantic_settings", "orjson")


def test_zip_holds_only_pure_petrostream_modules_and_the_rules(lambda_zip: Path) -> None:
    names = zipfile.ZipFile(lambda_zip).namelist()
    assert names == sorted(names)
    assert all(n.startswith("petrostream/") for n in names)
    assert "petrostream/handlers/process_stream.py" in names
    assert "petrostream/detect/rules.toml" in names
    assert not [n for n in names if any(f"/{h}" in n or n.startswith(h) for h in HEAVY)]
    # nothing of the local runtime, the lake, the catalog, the CLI or the settings
    for absent in ("lake/", "catalog/", "query/", "cli/", "dashboard/", "settings.py", "data/3w"):
        assert not [n for n in names if absent in n], absent
    for info in zipfile.ZipFile(lambda_zip).infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644


def test_two_builds_are_byte_identical(lambda_zip: Path, tmp_path: Path) -> None:
    again = build_lambda_zip(tmp_path / "again.zip")
    assert again.path.read_bytes() == lambda_zip.read_bytes()


def test_cli_writes_the_zip_and_prints_its_hash(tmp_path: Path, lambda_zip: Path) -> None:
    out = tmp_path / "dist" / "lambda.zip"
    result = CliRunner().invoke(main, ["aws", "package", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == lambda_zip.read_bytes()
    assert "sha256" in result.output


def test_a_handler_that_needs_pydantic_is_refused_with_the_reason() -> None:
    # petrostream.settings imports pydantic-settings, which the Lambda runtime lacks
    with pytest.raises(ConfigError, match="pydantic"):
        import_closure("petrostream.settings.Settings")


@pytest.mark.aws
def test_packaged_handler_runs_from_the_zip_against_aws_services(
    lambda_zip: Path, aws_env: str, tmp_path: Path
) -> None:
    # given the services the Terraform stack gives the function, in moto
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName="pkg-state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="pkg-state")
    topic = boto3.client("sns").create_topic(Name="pkg-alerts")["TopicArn"]
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="pkg-rejects")["QueueUrl"]
    env = {
        "PETROSTREAM_STATE_TABLE": "pkg-state",
        "PETROSTREAM_STATE_BUCKET": "pkg-state",
        "PETROSTREAM_ALERT_TOPIC_ARN": topic,
        "PETROSTREAM_DLQ_URL": dlq,
        "AWS_LAMBDA_FUNCTION_NAME": "pkg-test",
        "AWS_ENDPOINT_URL": aws_env,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "HOME": str(tmp_path),
    }
    good = json.loads((EVENTS / "kinesis_batch.json").read_text())
    bad = json.loads((EVENTS / "kinesis_bad_record.json").read_text())

    # when the zip's handler runs like the Lambda runtime (isolated, stdlib + boto3 only)
    result = invoke_zip(lambda_zip, [good, bad], env)

    # then it came from the zip, loaded nothing heavy, processed both batches
    assert "/lambda-task-" in result["petrostream_from"]
    assert not set(result["loaded"]) & set(HEAVY)
    assert result["responses"] == [{"batchItemFailures": []}, {"batchItemFailures": []}]
    got = s3.get_object(Bucket="pkg-state", Key="detector-state/shardId-000000000000.state")
    assert decode_shard(got["Body"].read())["WELL-00011"].version >= 1
    # and the two undecodable records (bad JSON, no well_id) went to the dead-letter queue
    got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    reasons = sorted(json.loads(m["Body"])["reason"] for m in got)
    assert reasons == ["bad_json", "missing_field"]
