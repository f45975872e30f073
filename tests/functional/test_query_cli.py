"""`petrostream crawl` and `petrostream query` as a user runs them; an S3 lake on moto."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from petrostream.cli import main
from petrostream.testing.lakefiles import sensor_rows, write_lake_file

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for well in ("WELL-00001", "WELL-00002"):
        write_lake_file(
            home / "lake",
            "sensors",
            {"dt": "2024-05-01", "well_id": well},
            sensor_rows(30, start=T0, event_class=0 if well.endswith("1") else 105),
        )
    return home


def run(home: Path, *args: str):
    return CliRunner().invoke(main, ["--home", str(home), *args])


def test_query_before_crawl_says_run_crawl_first(home):
    result = run(home, "query", "SELECT 1")
    assert result.exit_code == 2
    assert "run `petrostream crawl` first" in result.output
    assert "Traceback" not in result.output


def test_crawl_prints_changes_then_nothing_new(home):
    first = run(home, "crawl")
    second = run(home, "crawl")
    assert first.exit_code == 0
    assert "new table sensors" in first.stdout
    assert "new partition sensors/dt=2024-05-01/well_id=WELL-00002" in first.stdout
    assert "petrostream_db.sensors: " in first.stdout and "2 partitions, 2 files" in first.stdout
    assert "no changes" in second.stdout
    assert "0 new or changed file(s) read, 2 unchanged" in second.stdout


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DROP TABLE sensors", "refused: DROP statements are not allowed"),
        ("COPY sensors TO '/tmp/x.csv'", "refused: COPY statements are not allowed"),
        ("SELECT * FROM read_parquet('/etc/*')", "refused: function read_parquet()"),
        ("SET TimeZone = 'Asia/Tokyo'", "refused: SET statements are not allowed"),
        ("SELECT p_pgd FROM sensors", 'Referenced column "p_pgd" not found'),
        ("SELECT FROM WHERE", "SQL syntax error"),
    ],
)
def test_bad_sql_exits_2_with_one_clear_message(home, sql, message):
    assert run(home, "crawl").exit_code == 0
    result = run(home, "query", sql)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_formats_and_limit(home):
    assert run(home, "crawl").exit_code == 0
    sql = "SELECT well_id, event_type, count(*) AS n FROM sensors GROUP BY 1, 2 ORDER BY 1"

    table = run(home, "query", sql)
    csv_out = run(home, "query", "--format", "csv", sql)
    json_out = run(home, "query", "--format", "json", "--limit", "1", sql)

    assert table.stdout.splitlines()[0].split() == ["well_id", "event_type", "n"]
    assert csv_out.stdout.splitlines() == [  # quoted as in Athena's result files
        '"well_id","event_type","n"',
        '"WELL-00001","NORMAL","30"',
        '"WELL-00002","RAPID_PRODUCTIVITY_LOSS","30"',
    ]
    assert json.loads(json_out.stdout) == [
        {"well_id": "WELL-00001", "event_type": "NORMAL", "n": 30}
    ]
    assert "first 1 rows" in json_out.stderr


def test_list_shows_each_named_query_with_its_description(home):
    result = run(home, "query", "--list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 6
    assert any(
        ln.startswith("avg_pressure_last_hour") and "Average pressure per event type" in ln
        for ln in lines
    )
    assert any("well_id=<required>" in ln for ln in lines)


@pytest.mark.aws
def test_s3_lake_crawls_publishes_to_glue_and_answers(aws_env, tmp_path, monkeypatch):
    # given a lake in an S3 bucket (moto), written in the lake layout
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    fs = pafs.S3FileSystem(endpoint_override=aws_env, region="us-east-1")
    for well in ("WELL-00001", "WELL-00002"):
        path = f"{bucket}/lake/sensors/dt=2024-05-01/well_id={well}/part-1.parquet"
        with fs.open_output_stream(path) as out:
            pq.write_table(sensor_rows(10, start=T0), out)
    fs.open_output_stream(f"{bucket}/lake/_petrostream/log/0001.json").close()
    monkeypatch.setenv("PETROSTREAM_LAKE_ROOT", f"s3://{bucket}/lake")
    database = f"petrostream_db_{uuid.uuid4().hex[:8]}"  # the moto server is shared
    monkeypatch.setenv("PETROSTREAM_ATHENA_DATABASE", database)
    home = tmp_path / "home"

    # when crawling into Glue and querying locally
    crawled = run(home, "crawl", "--catalog", "glue")
    answer = run(
        home,
        "query",
        "--format",
        "json",
        "SELECT well_id, count(*) AS n FROM sensors WHERE well_id = 'WELL-00002' GROUP BY 1",
    )

    # then both the local catalog and Glue know the partitions, and the query answers
    assert crawled.exit_code == 0, crawled.output
    assert "glue: created database, 1 table(s) created" in crawled.stdout
    glue = boto3.client("glue")
    parts = glue.get_partitions(DatabaseName=database, TableName="sensors")["Partitions"]
    assert sorted(p["Values"][1] for p in parts) == ["WELL-00001", "WELL-00002"]
    assert parts[0]["StorageDescriptor"]["Location"].startswith(f"s3://{bucket}/lake/sensors/")
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout) == [{"well_id": "WELL-00002", "n": 10}]
