"""`petrostream aws cost`: the model, its prices' sources, and its parity with infra/terraform."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from petrostream.cli import main
from petrostream.deploy import prices as p
from petrostream.deploy.cost import (
    BILLED_RESOURCES,
    FREE_RESOURCES,
    SCALE_WELLS,
    CostInputs,
    estimate,
    scaling,
    state_store_for,
)

TERRAFORM = Path(__file__).resolve().parents[2] / "infra" / "terraform"
SERVICES = {
    "Kinesis", "Lambda", "DynamoDB", "SNS", "SQS", "Firehose", "S3", "Glue", "Athena",
    "CloudWatch", "KMS",
}  # fmt: skip


def _terraform_text() -> str:
    return "\n".join(f.read_text() for f in sorted(TERRAFORM.glob("*.tf")))


def _resources() -> Counter[str]:
    return Counter(re.findall(r'^resource\s+"(\w+)"\s+"\w+"', _terraform_text(), re.M))


def _variable_default(name: str) -> str:
    block = re.search(rf'variable\s+"{name}"\s*\{{(.*?)\n\}}', _terraform_text(), re.S)
    assert block, f"variables.tf has no variable {name}"
    default = re.search(r"^\s*default\s*=\s*([^\s#]+)", block.group(1), re.M)
    assert default, f"variable {name} has no default"
    return default.group(1)


# -- the model against what Terraform builds ----------------------------------------


def test_every_resource_terraform_builds_is_priced_or_known_free() -> None:
    unknown = set(_resources()) - set(BILLED_RESOURCES) - set(FREE_RESOURCES)
    assert not unknown, f"resources the cost model neither prices nor calls free: {unknown}"


def test_every_priced_service_has_a_resource_in_terraform() -> None:
    built = {BILLED_RESOURCES[r] for r in _resources() if r in BILLED_RESOURCES}
    est = estimate(CostInputs(wells=1000, hz=1))
    priced = {s.service for s in est.services if s.usd > 0}
    assert priced <= built, f"the model bills services Terraform does not build: {priced - built}"
    assert built <= {s.service for s in est.services}, "Terraform builds a service the model lacks"


def test_model_defaults_are_terraforms_defaults() -> None:
    inputs = CostInputs(wells=1, hz=1)
    text = _terraform_text()
    assert inputs.batch_size == int(_variable_default("batch_size"))
    assert inputs.batch_window_s == float(_variable_default("batch_window_seconds"))
    assert inputs.lambda_memory_mb == int(_variable_default("lambda_memory_mb"))
    assert inputs.stream_retention_hours == float(_variable_default("stream_retention_hours"))
    assert inputs.firehose_buffer_seconds == int(
        _variable_default("firehose_buffer_interval_seconds")
    )
    assert inputs.alarms == _resources()["aws_cloudwatch_metric_alarm"]
    assert inputs.state_store == _variable_default("state_store").strip('"')
    assert inputs.state_bytes_per_well == int(_variable_default("state_bytes_per_well"))
    assert inputs.state_table_max_bytes == int(_variable_default("state_table_max_bytes"))
    assert inputs.state_noncurrent_days == float(_variable_default("state_noncurrent_days"))
    assert inputs.crawler == ("aws_glue_crawler" in _resources())
    iceberg = "iceberg_configuration" in text
    assert inputs.firehose_destination == ("iceberg" if iceberg else "s3-parquet")


def test_every_price_and_quota_names_its_source_and_date() -> None:
    constants = {
        name
        for name, value in vars(p).items()
        if name.isupper() and isinstance(value, int | float) and not isinstance(value, bool)
    }
    missing = constants - set(p.PROVENANCE)
    assert not missing, f"constants without a source in prices.PROVENANCE: {missing}"
    for name, where in p.PROVENANCE.items():
        assert name in constants, f"PROVENANCE names {name}, which prices.py does not define"
        assert where.source.startswith("https://"), (name, where.source)
        assert where.as_of.year >= 2024


# -- the model itself ----------------------------------------------------------------


def test_one_well_at_1hz_costs_one_shard_and_kinesis_drives_the_bill() -> None:
    est = estimate(CostInputs(wells=1, hz=1))

    by_name = {s.service: s for s in est.services}
    assert set(by_name) == SERVICES
    assert est.shards == 1
    assert est.readings_per_month == pytest.approx(3600 * 730)
    shard_hours = next(i for i in by_name["Kinesis"].items if i.item == "shard-hours")
    assert shard_hours.usd == pytest.approx(730 * p.KINESIS_SHARD_HOUR)
    assert est.driver.service == "Kinesis"
    assert 10 < est.total < 30
    assert est.per_well_month == pytest.approx(est.total)


def _item(est: Any, service: str, name: str) -> Any:
    return next(i for s in est.services if s.service == service for i in s.items
                if i.item.startswith(name))  # fmt: skip


def test_a_small_shards_state_is_a_table_item_billed_per_kilobyte() -> None:
    # one shard's state object of one 1 KB well is one write unit a batch, of 2.3 KB three
    small = estimate(CostInputs(wells=1, hz=1, state_bytes_per_well=1000))
    big = estimate(CostInputs(wells=1, hz=1, state_bytes_per_well=2300))
    assert state_store_for(small.inputs, small.shards) == "dynamodb"
    writes = {e.inputs.state_bytes_per_well: _item(e, "DynamoDB", "state writes").quantity
              for e in (small, big)}  # fmt: skip
    assert writes[2300] == pytest.approx(3 * writes[1000], rel=0.01)
    assert writes[1000] == pytest.approx(small.load.invocations * p.SECONDS_PER_MONTH / 1e6)


def test_a_big_shards_state_is_one_s3_put_per_batch_whatever_its_wells() -> None:
    # 1,000 wells: one object per shard and invocation, not a write per well and invocation
    est = estimate(CostInputs(wells=1000, hz=1, aggregate=True))
    assert state_store_for(est.inputs, est.shards) == "s3"
    puts = _item(est, "S3", "state PUTs")
    assert puts.quantity * 1000 == pytest.approx(est.load.invocations * p.SECONDS_PER_MONTH)
    per_well = estimate(CostInputs(wells=1000, hz=1, aggregate=True, state_store="dynamodb"))
    state_usd = puts.usd + _item(est, "S3", "state versions").usd
    assert state_usd < _item(per_well, "DynamoDB", "state writes").usd / 50
    assert {s.service: s.usd for s in est.services}["DynamoDB"] < 1  # markers only


def test_a_one_well_stack_costs_no_more_than_with_per_well_state() -> None:
    # the seed's per-well DynamoDB state: 2 write units per invocation for one well
    est = estimate(CostInputs(wells=1, hz=1))
    per_well_state = est.load.invocations * p.SECONDS_PER_MONTH * 2 / 1e6
    assert _item(est, "DynamoDB", "state writes").quantity <= per_well_state


def test_aggregation_packs_readings_and_cuts_shards_and_put_units() -> None:
    single = estimate(CostInputs(wells=1000, hz=1))
    packed = estimate(CostInputs(wells=1000, hz=1, aggregate=True))

    assert single.load.readings_per_record == 1
    assert packed.load.readings_per_record == pytest.approx(25 * 1024 // 412)
    assert packed.readings_per_month == single.readings_per_month
    assert packed.shards < single.shards
    kinesis = {e.inputs.aggregate: {s.service: s.usd for s in e.services}["Kinesis"]
               for e in (single, packed)}  # fmt: skip
    assert kinesis[True] < kinesis[False] / 3
    # one well cannot be packed: it is not dearer either
    assert estimate(CostInputs(wells=1, hz=1, aggregate=True)).total == pytest.approx(
        estimate(CostInputs(wells=1, hz=1)).total
    )


def test_iceberg_destination_bills_bytes_not_5kb_records_and_no_partition_quota() -> None:
    parquet = estimate(CostInputs(wells=1000, hz=1, firehose_destination="s3-parquet"))
    iceberg = estimate(CostInputs(wells=1000, hz=1, firehose_destination="iceberg"))
    fh = {e.inputs.firehose_destination: {s.service: s for s in e.services}["Firehose"]
          for e in (parquet, iceberg)}  # fmt: skip
    gb = 1000 * 3600 * 730 * 400 / 1024**3
    assert fh["iceberg"].usd == pytest.approx(gb * p.FIREHOSE_ICEBERG_PER_GB)
    assert fh["iceberg"].usd < fh["s3-parquet"].usd / 5
    assert any("500 active partitions" in n for n in parquet.notes)
    assert not any("active partitions" in n for n in iceberg.notes)


def test_scaling_recomputes_shards_and_keeps_the_settings() -> None:
    rows = scaling(CostInputs(wells=7, hz=1, batch_window_s=5))
    assert [r.inputs.wells for r in rows] == list(SCALE_WELLS)
    assert all(r.inputs.batch_window_s == 5 for r in rows)
    assert [r.shards for r in rows] == sorted(r.shards for r in rows)
    assert rows[-1].shards > rows[0].shards


def test_longer_stream_retention_adds_the_extended_retention_charge() -> None:
    base = estimate(CostInputs(wells=1, hz=1))
    week = estimate(CostInputs(wells=1, hz=1, stream_retention_hours=168))
    kinesis = {s.service: s.usd for s in week.services}["Kinesis"]
    base_kinesis = {s.service: s.usd for s in base.services}["Kinesis"]
    assert kinesis - base_kinesis == pytest.approx(730 * p.KINESIS_EXTENDED_RETENTION_SHARD_HOUR)


# -- the verb --------------------------------------------------------------------------


def test_cost_cli_prints_every_service_the_driver_and_how_it_scales() -> None:
    result = CliRunner().invoke(main, ["aws", "cost", "--wells", "1000", "--hz", "1"])

    assert result.exit_code == 0, result.output
    for service in SERVICES:
        assert f"\n{service} " in result.output
    assert "per well-month" in result.output
    assert "biggest cost driver:" in result.output
    assert "how to lower it:" in result.output
    assert str(p.PRICES_AS_OF) in result.output
    assert "how it scales" in result.output
    for wells in ("1", "100", "1,000", "10,000"):
        assert re.search(rf"^\s+{wells}\s+\d+\s+[\d,.]+\s+[\d,.]+\s+\w+$", result.output, re.M)


def test_cost_cli_json_adds_up() -> None:
    args = ["aws", "cost", "--wells", "1", "--hz", "1", "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["total_usd"] == pytest.approx(sum(s["usd"] for s in doc["services"]), abs=0.01)
    assert doc["driver"] == max(doc["services"], key=lambda s: s["usd"])["service"]
    assert doc["prices_as_of"] == p.PRICES_AS_OF.isoformat()
    assert [row["wells"] for row in doc["scaling"]] == list(SCALE_WELLS)


def test_unknown_region_is_one_clear_line() -> None:
    result = CliRunner().invoke(
        main, ["aws", "cost", "--wells", "1", "--hz", "1", "--region", "eu-west-1"]
    )
    assert result.exit_code == 2
    assert "only us-east-1 prices are known" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("aggregate", [False, True], ids=["one-per-record", "aggregated"])
def test_terraform_sizes_the_stream_as_the_model_does(
    tf_console: Callable[..., str], aggregate: bool
) -> None:
    for wells in SCALE_WELLS:
        est = estimate(CostInputs(wells=wells, hz=1, aggregate=aggregate))
        shards = tf_console(
            "local.stream_shards",
            fleet_wells=wells,
            readings_per_record=est.load.readings_per_record,
            lambda_zip_path=os.devnull,
        )
        assert int(shards) == est.shards, f"{wells} wells"


@pytest.mark.parametrize("aggregate", [False, True], ids=["one-per-record", "aggregated"])
def test_terraform_puts_the_state_where_the_model_does(
    tf_console: Callable[..., str], aggregate: bool
) -> None:
    for wells in (1, 7, 8, 100, 1_000):
        est = estimate(CostInputs(wells=wells, hz=1, aggregate=aggregate))
        store = tf_console(
            "local.state_store",
            fleet_wells=wells,
            readings_per_record=est.load.readings_per_record,
            lambda_zip_path=os.devnull,
        )
        assert store.strip().strip('"') == state_store_for(est.inputs, est.shards), wells


def test_terraform_lists_the_quotas_a_big_fleet_must_request(
    tf_console: Callable[..., str],
) -> None:
    small = tf_console("local.quota_requests", fleet_wells=1, lambda_zip_path=os.devnull)
    big = tf_console("local.quota_requests", fleet_wells=10000, lambda_zip_path=os.devnull)
    assert "[]" in small
    assert "Lambda: concurrent executions" in big
