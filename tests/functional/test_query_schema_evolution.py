"""Schema evolution: 3W 1.x readings, then 2.x readings with new sensor columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from click.testing import CliRunner

from petrostream.cli import main
from petrostream.schema import V1_TAGS, V2_TAGS, to_column
from petrostream.testing.lakefiles import read_3w_csv, sensor_rows, write_by_partition

NEW_IN_2X = [to_column(t) for t in V2_TAGS if t not in V1_TAGS]


def test_new_columns_reach_catalog_and_queries_with_nulls_for_old_rows(bundled_3w_files, tmp_path):
    home = tmp_path / "home"
    lake = home / "lake"
    runner = CliRunner()
    end = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    # given a lake of 1.x readings, crawled
    well_id, v1 = read_3w_csv(bundled_3w_files[0], end=end)
    write_by_partition(lake, well_id, v1)
    first = runner.invoke(main, ["--home", str(home), "crawl"])
    assert first.exit_code == 0, first.output

    # when 2.x readings (more sensors, a state) land and the lake is crawled again
    v2 = sensor_rows(
        50,
        start=end + timedelta(days=1),
        columns=tuple(to_column(t) for t in V2_TAGS),
        instance_id="WELL-00042_20240502",
    )
    v2 = v2.set_column(v2.schema.get_field_index("state"), "state", pa.array([1] * 50, pa.int32()))
    write_by_partition(lake, "WELL-00042", v2)
    second = runner.invoke(main, ["--home", str(home), "crawl"])

    # then the crawl reports the new columns and a second schema version
    assert second.exit_code == 0, second.output
    for column in NEW_IN_2X:
        assert f"new column sensors.{column} double" in second.output
    assert "schema v2" in second.output
    catalog = json.loads((home / "catalog.json").read_text())
    versions = catalog["tables"]["sensors"]["schema_versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert sorted(versions[1]["added"]) == sorted(NEW_IN_2X)

    # and queries see the new columns, NULL for the 1.x rows
    out = runner.invoke(
        main,
        ["--home", str(home), "query", "--format", "json",
         "SELECT well_id, count(*) AS n, count(p_anular) AS p_anular, count(state) AS state, "
         "count(p_pdg) AS p_pdg FROM petrostream_db.sensors GROUP BY well_id ORDER BY well_id"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == [
        {"well_id": well_id, "n": v1.num_rows, "p_anular": 0, "state": 0,
         "p_pdg": v1["p_pdg"].null_count * -1 + v1.num_rows},
        {"well_id": "WELL-00042", "n": 50, "p_anular": 50, "state": 50, "p_pdg": 50},
    ]  # fmt: skip
    old = runner.invoke(
        main,
        ["--home", str(home), "query", "--format", "json", "--limit", "1",
         f"SELECT p_anular, aber_ckgl FROM sensors WHERE well_id = '{well_id}'"],
    )  # fmt: skip
    assert json.loads(old.stdout) == [{"p_anular": None, "aber_ckgl": None}]
