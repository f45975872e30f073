"""The Glue `sensors` table's columns in Terraform are generated from petrostream.schema."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from petrostream.cli import main
from petrostream.deploy.glue import glue_columns, render_columns_tf_json
from petrostream.schema import PARTITION_COLUMNS, RECORD_COLUMNS, SENSOR_COLUMNS

COMMITTED = Path(__file__).resolve().parents[2] / "infra" / "terraform" / "sensors_columns.tf.json"


def test_committed_columns_match_the_schema() -> None:
    # the committed file is exactly what the generator writes now; if this fails run
    #   petrostream aws glue-columns --out infra/terraform/sensors_columns.tf.json
    assert COMMITTED.read_text(encoding="utf-8") == render_columns_tf_json()


def test_columns_are_the_record_columns_without_partition_keys() -> None:
    columns = glue_columns()
    names = [c["name"] for c in columns]
    assert names == [c for c in RECORD_COLUMNS if c not in PARTITION_COLUMNS]
    assert "well_id" not in names and "dt" not in names
    types = {c["name"]: c["type"] for c in columns}
    assert types["ts"] == types["source_ts"] == "timestamp"
    assert all(types[c] == "double" for c in SENSOR_COLUMNS)
    assert types["event_class"] == "int"


def test_cli_prints_the_same_document() -> None:
    result = CliRunner().invoke(main, ["aws", "glue-columns"])
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc["locals"]["sensors_columns"] == glue_columns()
