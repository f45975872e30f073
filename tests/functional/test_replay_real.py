"""Replaying the real 3W files: one record per data row, values equal to the file's."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers_3w import bundled_3w_table

from petrostream import schema
from petrostream.dataset import discover
from petrostream.producer import replay
from petrostream.record import decode, parse_ts
from petrostream.stream.base import IteratorType
from petrostream.stream.local import LocalStream
from petrostream.testing.clock import FakeClock


def read_back(stream: LocalStream) -> list[dict]:
    records = []
    for shard in stream.list_shards():
        iterator: str | None = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        while iterator:
            page = stream.get_records(iterator, limit=1000)
            records.extend(decode(r.data) for r in page.records)
            if not page.records:
                break
            iterator = page.next_iterator
    return records


def expected_rows(path: Path) -> list[dict]:
    """The file parsed independently of the product: the csv module and float()."""
    rows = []
    with path.open(newline="") as handle:
        for line in csv.DictReader(handle):
            row: dict = {
                "source_ts": datetime.strptime(line["timestamp"], "%Y-%m-%d %H:%M:%S.%f")
                .replace(tzinfo=UTC)
                .strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            }
            for tag, text in line.items():
                if tag in ("timestamp", "class") or text == "":
                    continue
                row[schema.to_column(tag)] = float(text)
            if line["class"] != "":
                row["event_class"] = int(float(line["class"]))
            rows.append(row)
    return rows


@pytest.fixture(params=["bundled", "shared"])
def real_files(request: pytest.FixtureRequest) -> list[Path]:
    """The bundled sample, or named files of the developers' set with other quirks (CRLF)."""
    name = "bundled_3w_files" if request.param == "bundled" else "shared_3w_picks"
    return list(request.getfixturevalue(name))


@pytest.mark.parametrize(("speed", "pipeline"), [(0, True), (0, False), (1, False)])
def test_every_row_of_the_real_files_arrives_once_with_its_values(
    tmp_path: Path, real_files: list[Path], speed: float, pipeline: bool
):
    # given real 3W files and a fresh local stream that refuses some puts
    instances = discover(real_files)
    stream = LocalStream(tmp_path / "stream.db", shard_count=2, fault_rate=0.05, seed=11)
    clock = FakeClock(datetime(2025, 6, 1, tzinfo=UTC))

    # when they are replayed (speed 1 on a fake clock: real spacing, no waiting)
    summary = replay(
        instances, stream, speed=speed, clock=clock, rejects_path=tmp_path / "r.jsonl",
        pipeline=pipeline,
    )  # fmt: skip
    records = read_back(stream)
    stream.close()

    # then there are no rejects and exactly one record per data row
    assert summary.rejects == {}
    expected = {f.stem: expected_rows(f) for f in real_files}
    assert sum(len(rows) for rows in expected.values()) == len(records) == summary.records_put

    # and each instance's records, in stream order, equal the file's rows value for value
    for instance in instances:
        mine = [r for r in records if r["instance_id"] == instance.instance_id]
        rows = expected[instance.instance_id]
        assert len(mine) == len(rows)
        for record, row in zip(mine, rows, strict=True):
            assert record["well_id"] == instance.well_id
            got = {k: v for k, v in record.items() if k not in ("well_id", "instance_id", "ts")}
            want = dict(row)
            if "event_class" in want:
                want["event_type"] = schema.event_type(want["event_class"])
            assert got == want, f"{instance.instance_id} at {row['source_ts']}"
            # unlabelled rows carry no label at all
            if "event_class" not in row:
                assert "event_class" not in record and "event_type" not in record

    # and the injected time keeps each file's spacing at speed 1
    if speed == 1:
        for instance in instances:
            mine = [r for r in records if r["instance_id"] == instance.instance_id]
            first_ts, first_src = parse_ts(mine[0]["ts"]), parse_ts(mine[0]["source_ts"])
            for r in mine:
                assert parse_ts(r["ts"]) - first_ts == parse_ts(r["source_ts"]) - first_src


def test_the_bundled_files_hold_what_their_readme_lists(bundled_3w_files: list[Path]):
    counts = {f.stem: len(expected_rows(f)) for f in bundled_3w_files}
    assert counts == bundled_3w_table()
    assert len(counts) >= 2


def test_the_real_files_hold_unlabelled_rows_and_transients(bundled_3w_files: list[Path]):
    # guard: the comparison above covers the quirks the README lists
    rows = [r for f in bundled_3w_files for r in expected_rows(f)]
    assert any("event_class" not in r for r in rows)
    assert any(r.get("event_class", 0) > 100 for r in rows)
