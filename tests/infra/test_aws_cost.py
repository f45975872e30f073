"""`petrostream aws cost`: per-service monthly figures for the seed's fleet and for 1,000 wells."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from petrostream.cli import main
from petrostream.deploy import prices as p
from petrostream.deploy.cost import CostInputs, estimate

SERVICES = {
    "Kinesis", "Lambda", "DynamoDB", "SNS", "Firehose", "S3", "Glue", "Athena", "CloudWatch", "KMS",
}  # fmt: skip


def test_one_well_at_1hz_costs_one_shard_and_kinesis_drives_the_bill() -> None:
    # given the seed's setup: one well at 1 Hz, 400-byte records
    est = estimate(CostInputs(wells=1, hz=1))

    # then one shard, every service priced, Kinesis shard-hours are the floor and the driver
    by_name = {s.service: s for s in est.services}
    assert set(by_name) == SERVICES
    assert est.shards == 1
    assert est.records_per_month == pytest.approx(3600 * 730)
    shard_hours = next(i for i in by_name["Kinesis"].items if i.item == "shard-hours")
    assert shard_hours.usd == pytest.approx(730 * p.KINESIS_SHARD_HOUR)
    assert est.driver.service == "Kinesis"
    assert 10 < est.total < 50
    # a 400-byte record is billed by Firehose as 5 KB: 2.628 M records x 5 KiB
    ingestion = next(i for i in by_name["Firehose"].items if i.item.startswith("ingestion"))
    assert ingestion.quantity == pytest.approx(3600 * 730 * 5 * 1024 / 1024**3)


def test_a_thousand_wells_need_more_shards_and_scale_the_per_record_services() -> None:
    # given 1,000 wells at 1 Hz (1,000 records/s: the write quota of one shard)
    small = estimate(CostInputs(wells=1, hz=1))
    big = estimate(CostInputs(wells=1000, hz=1))

    # then headroom asks for 2 shards, per-record services grow ~1000x, the driver changes
    assert big.shards == 2
    by_small = {s.service: s.usd for s in small.services}
    by_big = {s.service: s.usd for s in big.services}
    assert by_big["Firehose"] == pytest.approx(1000 * by_small["Firehose"], rel=0.05)
    assert by_big["Kinesis"] < 10 * by_small["Kinesis"]  # shard-hours do not scale with wells
    assert big.driver.service != "Kinesis"
    assert big.total > 50 * small.total
    assert any("500 active partitions" in n for n in big.notes)


def test_cost_cli_prints_every_service_and_names_the_driver() -> None:
    # when the user asks for 1,000 wells at 1 Hz
    result = CliRunner().invoke(main, ["aws", "cost", "--wells", "1000", "--hz", "1"])

    # then a table with a line per service, a total and the driver
    assert result.exit_code == 0, result.output
    for service in SERVICES:
        assert f"\n{service} " in result.output
    assert "total" in result.output
    assert "biggest cost driver:" in result.output
    assert str(p.PRICES_AS_OF) in result.output


def test_cost_cli_json_adds_up() -> None:
    args = ["aws", "cost", "--wells", "1", "--hz", "1", "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["total_usd"] == pytest.approx(sum(s["usd"] for s in doc["services"]), abs=0.01)
    assert doc["driver"] == max(doc["services"], key=lambda s: s["usd"])["service"]
    assert doc["prices_as_of"] == p.PRICES_AS_OF.isoformat()


def test_unknown_region_is_one_clear_line() -> None:
    result = CliRunner().invoke(
        main, ["aws", "cost", "--wells", "1", "--hz", "1", "--region", "eu-west-1"]
    )
    assert result.exit_code == 2
    assert "only us-east-1 prices are known" in result.output
    assert "Traceback" not in result.output


def test_longer_stream_retention_adds_the_extended_retention_charge() -> None:
    base = estimate(CostInputs(wells=1, hz=1))
    week = estimate(CostInputs(wells=1, hz=1, stream_retention_hours=168))
    kinesis = {s.service: s.usd for s in week.services}["Kinesis"]
    base_kinesis = {s.service: s.usd for s in base.services}["Kinesis"]
    assert kinesis - base_kinesis == pytest.approx(730 * p.KINESIS_EXTENDED_RETENTION_SHARD_HOUR)
