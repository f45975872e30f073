"""infra/terraform is `terraform fmt` and `terraform validate` clean (offline provider mirror)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra
TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "infra" / "terraform"


def test_terraform_files_are_formatted(tf: Callable[..., str]) -> None:
    # fmt needs no provider: it runs on the committed files themselves
    out = tf(TERRAFORM_DIR, "fmt", "-check", "-recursive", "-list=true")
    assert out.strip() == ""


def test_terraform_configuration_is_valid(tf: Callable[..., str], tf_workdir: Path) -> None:
    out = tf(tf_workdir, "validate", "-no-color")
    assert "The configuration is valid" in out


def test_every_service_has_its_own_file() -> None:
    names = {p.name for p in TERRAFORM_DIR.glob("*.tf")}
    for service in (
        "s3", "kinesis", "lambda", "sns", "firehose", "glue", "athena", "cloudwatch", "iam",
        "dynamodb", "sqs", "kms", "variables", "outputs", "providers", "versions",
    ):  # fmt: skip
        assert f"{service}.tf" in names


def test_firehose_alarms_watch_the_iceberg_destination() -> None:
    # Firehose writes `sensors` through its Iceberg destination, whose delivery
    # metrics are DeliveryToIceberg.*; DeliveryToS3.* would only see the backup.
    firehose = (TERRAFORM_DIR / "firehose.tf").read_text(encoding="utf-8")
    assert 'destination = "iceberg"' in firehose
    alarms = (TERRAFORM_DIR / "cloudwatch.tf").read_text(encoding="utf-8")
    watched = re.findall(r'metric_name\s*=\s*"(Delivery[^"]+)"', alarms)
    assert set(watched) == {"DeliveryToIceberg.FailedRowCount", "DeliveryToIceberg.DataFreshness"}
